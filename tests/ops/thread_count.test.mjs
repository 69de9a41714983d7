// The CPU kernels' outputs do not depend on how many threads the pool has: the same bits with 1, 2, 5 and 40
// threads (more threads than this machine's cores is fine: only the partition changes). Kernels partition their
// work by the thread count, and on many cores they take other paths: Winograd conv2d splits a map with too few
// tile blocks over channels (three regions, conv2d_winograd.cpp's convWinogradSplit; SOTR_CONV_WINOGRAD_SPLIT=always
// forces it at 2 threads), dynamicConvMasks splits its 16 row bands' candidates into groups when the threads
// outnumber the bands. Each count runs in a child process (the pool's size is per process), hashing every output.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'index.js');

const CHILD = `
  const { Tensor, conv2d, dynamicConvMasks } = require(${JSON.stringify(entry)});
  const { createHash } = require('node:crypto');
  const hash = (...arrays) => {
    const h = createHash('sha1');
    for (const a of arrays) h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    return h.digest('hex').slice(0, 16);
  };
  // Deterministic values in [-1, 1) (a small LCG), so every process builds the same inputs.
  const fill = (n, seed, scale = 1) => {
    const a = new Float32Array(n);
    let s = seed >>> 0;
    for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; a[i] = ((s >>> 8) / 8388608 - 1) * scale; }
    return a;
  };
  (async () => {
    const out = {};
    // conv2d 3x3 through both Winograd tiles: the transformer's smallest grids (a few tile blocks: split on many
    // threads), channels not multiples of 16, a residual, an activation, two images (never split).
    const convs = [[1, 256, 12, 24, 256], [1, 256, 16, 32, 256], [1, 130, 25, 68, 96], [1, 64, 9, 13, 40], [2, 48, 20, 30, 33], [1, 256, 40, 80, 256]];
    for (const [N, C, H, W, O] of convs) {
      const x = Tensor.from(fill(N * C * H * W, 1 + C), [N, C, H, W]);
      const w = Tensor.from(fill(O * C * 9, 2 + O, 0.05), [O, C, 3, 3]);
      const bias = Tensor.from(fill(O, 3), [O]);
      const residual = Tensor.from(fill(N * O * H * W, 4), [N, O, H, W]);
      for (const algorithm of ['winograd4', 'winograd2']) {
        const y = await conv2d(x, w, { bias, residual, padding: 1, algorithm, activation: 'leakyRelu' });
        out['conv ' + [N, C, H, W, O, algorithm].join('x')] = hash(await y.data());
        y.dispose();
      }
    }
    // In bf16 too (bfloat16 products where the CPU has AVX512-BF16, float32 elsewhere: either way per thread count).
    {
      const [N, C, H, W, O] = [1, 96, 16, 32, 80];
      const x = Tensor.from(fill(N * C * H * W, 7), [N, C, H, W]);
      const w = Tensor.from(fill(O * C * 9, 8, 0.05), [O, C, 3, 3]);
      for (const algorithm of ['winograd4', 'winograd2']) {
        const y = await conv2d(x, w, { padding: 1, algorithm, precision: 'bf16' });
        out['conv bf16 ' + algorithm] = hash(await y.data());
        y.dispose();
      }
    }
    // dynamicConvMasks, 1x1 kernels: enough candidates for groups of them, an odd width; and in bf16.
    for (const [n, C, H, W, precision] of [[1000, 64, 60, 97], [300, 32, 33, 50], [40, 16, 20, 20], [600, 64, 30, 41, 'bf16']]) {
      const features = Tensor.from(fill(C * H * W, 5 + n), [C, H, W]);
      const kernels = Tensor.from(fill(n * C, 6 + n, 0.3), [n, C, 1, 1]);
      const m = await dynamicConvMasks(features, kernels, { threshold: 0.5, ...(precision ? { precision } : {}) });
      out['dcm ' + [n, C, H, W, precision ?? 'fp32'].join('x')] = hash(m.data, m.areas, m.boxes, m.softSums);
    }
    console.log(JSON.stringify(out));
  })().catch((e) => { console.error(e); process.exit(1); });
`;

function run(env) {
  const r = spawnSync(process.execPath, ['-e', CHILD], {
    encoding: 'utf8',
    env: { ...process.env, SOTR_CONV_WINOGRAD_SPLIT: '', ...env },
    timeout: 120_000,
  });
  assert.is(r.status, 0, `child with ${JSON.stringify(env)} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('conv2d (Winograd) and dynamicConvMasks give the same bits with 1, 2, 5 and 40 threads', () => {
  const one = run({ SOTR_NUM_THREADS: '1' });
  assert.ok(Object.keys(one).length >= 18);
  for (const threads of ['2', '5', '40']) {
    const other = run({ SOTR_NUM_THREADS: threads });
    for (const k of Object.keys(one)) assert.is(other[k], one[k], `${k} with ${threads} threads`);
  }
});

test("Winograd's split path (forced at 2 threads) gives the one-region path's bits", () => {
  const one = run({ SOTR_NUM_THREADS: '1' });
  const split = run({ SOTR_NUM_THREADS: '2', SOTR_CONV_WINOGRAD_SPLIT: 'always' });
  for (const k of Object.keys(one)) assert.is(split[k], one[k], k);
});

test.run();
