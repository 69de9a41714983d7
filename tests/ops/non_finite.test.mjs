// NaN propagates through the ops as through PyTorch's: ReLU (standalone and fused into matmul, linear, conv2d's
// direct and Winograd epilogues, groupNorm) is "v < 0 ? 0 : v" (torch.relu: NaN stays NaN, -0 stays -0; it used to
// be "v > 0 ? v : 0", NaN to 0), twin attention's softmax and dynamicConv's sigmoid let a NaN logit through (their
// vector exp clamped it to a finite value). A NaN weight from a damaged checkpoint then gives no instances, as the
// official code does, rather than plausible ones. At every SIMD level the build has (scalar, AVX2, AVX-512), and on
// CUDA where there is a GPU (the same rules in the GEMM core's epilogue, elementwise and groupNorm kernels).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, relu, matmul, linear, conv2d, groupNorm, twinAttention, dynamicConv, backendInfo } from '../../dist/index.js';
import { atSimdLevel, cpuSimdLevels } from '../helpers/simd_levels.mjs';

const isNegZero = (v) => v === 0 && 1 / v < 0;

async function values(t) {
  const d = await t.data();
  t.dispose();
  return d;
}

// Deterministic small values in [-1, 1).
function filled(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

// The device the cases' tensors are made on.
let device = 'cpu';
const T = (data, shape) => Tensor.from(data, shape, { device });

// ReLU, standalone and fused into matmul, linear, conv2d (each of `algorithms`) and groupNorm.
async function reluCases(algorithms) {
  // Standalone, over more than one vector with a tail.
  const xs = filled(37, 1);
  xs[3] = NaN;
  xs[20] = -0;
  xs[33] = -5;
  const y = await values(await relu(T(xs, [37])));
  assert.ok(Number.isNaN(y[3]), `relu(NaN) = ${y[3]}`);
  assert.ok(isNegZero(y[20]), 'relu(-0) = -0');
  assert.is(y[33], 0);
  for (let i = 0; i < 37; i++) if (i !== 3 && i !== 20) assert.is(y[i], xs[i] < 0 ? 0 : xs[i]);
  // matmul: a NaN in A's row 2 makes C's row 2 NaN (all of it), ReLU or not; the other rows are finite.
  const [M, K, N] = [19, 23, 37];
  const a = filled(M * K, 2);
  a[2 * K + 5] = NaN;
  const c = await values(await matmul(T(a, [M, K]), T(filled(K * N, 3), [K, N]), { activation: 'relu' }));
  for (let j = 0; j < N; j++) assert.ok(Number.isNaN(c[2 * N + j]), `C[2, ${j}] = ${c[2 * N + j]}`);
  for (let i = 0; i < M * N; i++) if (Math.floor(i / N) !== 2) assert.ok(c[i] >= 0, `C flat ${i} = ${c[i]}`);
  // linear: a NaN bias entry gives that output column NaN after ReLU.
  const bias = filled(N, 4);
  bias[7] = NaN;
  const l = await values(await linear(T(filled(5 * K, 5), [5, K]), T(filled(N * K, 6), [N, K]), { bias: T(bias, [N]), activation: 'relu' }));
  for (let r = 0; r < 5; r++) for (let j = 0; j < N; j++) assert.is(Number.isNaN(l[r * N + j]), j === 7, `linear [${r}, ${j}] = ${l[r * N + j]}`);
  // conv2d 3×3, padding 1, ReLU: a NaN bias gives its output channel NaN everywhere, the others none, in every
  // algorithm (direct, Winograd F(2×2) and F(4×4)).
  const [Ci, Co, H, W] = [16, 16, 12, 13];
  const cb = filled(Co, 7);
  cb[9] = NaN;
  for (const algorithm of algorithms) {
    const o = await values(
      await conv2d(T(filled(Ci * H * W, 8), [1, Ci, H, W]), T(filled(Co * Ci * 9, 9), [Co, Ci, 3, 3]), {
        bias: T(cb, [Co]),
        padding: 1,
        activation: 'relu',
        algorithm,
      }),
    );
    for (let ch = 0; ch < Co; ch++) {
      let nan = 0;
      for (let p = 0; p < H * W; p++) if (Number.isNaN(o[ch * H * W + p])) nan++;
      assert.is(nan, ch === 9 ? H * W : 0, `${algorithm}: channel ${ch} has ${nan} NaN`);
    }
  }
  // groupNorm + ReLU: a NaN in group 1 makes that group NaN (its statistics), the others not.
  const g = filled(4 * 6 * 7, 10);
  g[1 * 2 * 42 + 11] = NaN; // channel 2 of [4 channels, 6×7], groups of 2 channels
  const gn = await values(await groupNorm(T(g, [1, 4, 6, 7]), 2, { activation: 'relu' }));
  for (let i = 0; i < gn.length; i++) assert.is(Number.isNaN(gn[i]), i >= 84, `groupNorm flat ${i} = ${gn[i]}`);
}

// A NaN logit in twin attention's softmax and dynamicConv's sigmoid.
async function nanLogitCases() {
  const [B, C, H, W] = [1, 16, 5, 4];
  const w = (seed) => ({
    q: T(filled(C * C, seed), [C, C]),
    kv: T(filled(2 * C * C, seed + 1), [2 * C, C]),
    out: T(filled(C * C, seed + 2), [C, C]),
    outBias: T(filled(C, seed + 3), [C]),
  });
  const x = T(filled(B * C * H * W, 20), [B, C, H, W]);
  const clean = { col: w(30), row: w(40), gCol: 0.5, gRow: 0.25 };
  const y = await values(await twinAttention(x, clean, { heads: 2 }));
  assert.ok(y.every(Number.isFinite));
  // A NaN in to_q (every logit of its head's rows): torch's softmax gives NaN in every output.
  const q = filled(C * C, 50);
  q[3] = NaN;
  const poisoned = { ...clean, col: { ...clean.col, q: T(q, [C, C]) } };
  const yn = await values(await twinAttention(x, poisoned, { heads: 2 }));
  assert.ok(yn.every(Number.isNaN), `${yn.filter(Number.isNaN).length} of ${yn.length} NaN`);
  // dynamicConv: one kernel with a NaN gives its mask NaN everywhere; the others finite, in (0, 1).
  const [Cf, Hf, Wf, Nk] = [8, 9, 21, 5];
  const k = filled(Nk * Cf, 60);
  k[2 * Cf + 1] = NaN;
  const m = await values(await dynamicConv(T(filled(Cf * Hf * Wf, 61), [Cf, Hf, Wf]), T(k, [Nk, Cf])));
  for (let n = 0; n < Nk; n++) {
    const part = m.subarray(n * Hf * Wf, (n + 1) * Hf * Wf);
    if (n === 2) assert.ok(part.every(Number.isNaN), `mask 2: ${part.filter(Number.isNaN).length} NaN`);
    else assert.ok(part.every((v) => v > 0 && v < 1), `mask ${n}`);
  }
  for (const d of ['col', 'row']) for (const t of Object.values(clean[d])) t.dispose();
  poisoned.col.q.dispose();
  x.dispose();
}

for (const level of cpuSimdLevels()) {
  test(`[${level}] ReLU, standalone and fused (matmul, linear, conv2d direct and Winograd, groupNorm): NaN and -0 pass, negatives become 0`, async () => {
    device = 'cpu';
    await atSimdLevel(level, () => reluCases(['direct', 'winograd2', 'winograd4']));
  });

  test(`[${level}] a NaN logit: twinAttention's softmax and dynamicConv's sigmoid give NaN, as torch does`, async () => {
    device = 'cpu';
    await atSimdLevel(level, () => nanLogitCases());
  });
}

if (backendInfo().cuda.available) {
  test('[cuda] ReLU, standalone and fused (matmul, linear, conv2d direct and Winograd F(2x2), groupNorm): NaN and -0 pass', async () => {
    device = 'cuda';
    await reluCases(['direct', 'winograd2']);
  });

  test("[cuda] a NaN logit: twinAttention's softmax and dynamicConv's sigmoid give NaN, as torch does", async () => {
    device = 'cuda';
    await nanLogitCases();
  });
}

test.run();
