/**
 * Host (JavaScript) kernels on plain Float32Arrays, NCHW. They serve two purposes:
 *  - the small host-side steps of post-processing (PyTorch-exact bilinear resize of the final masks), and
 *  - the emulation of device ops that another part of the library does not provide yet (see ops.ts): these
 *    mirror the op contract's semantics so the model runs (slowly) and can be checked end to end meanwhile.
 * Heavy products go through the native GEMM (`matmul`), the rest is plain loops.
 */
import { matmul } from '../ops/matmul';
import { Tensor } from '../tensor';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

export function hostZeros(shape: number[]): HostTensor {
  return { shape, data: new Float32Array(numel(shape)) };
}

const f32 = Math.fround;

/** PyTorch's float32 sigmoid: 1 / (1 + exp(-x)) rounded to float32 at each step (§10 step 1). */
export function sigmoid32(x: number): number {
  return f32(1 / f32(1 + f32(Math.exp(-x))));
}

/** GEMM C[M,N] = A[M,K]·B[K,N] on the native core (fp32), host arrays in and out. */
export async function gemmHost(a: Float32Array, b: Float32Array, M: number, K: number, N: number, signal?: AbortSignal): Promise<Float32Array> {
  if (M === 0 || N === 0) return new Float32Array(M * N);
  if (K === 0) return new Float32Array(M * N);
  const ta = Tensor.from(a, [M, K]);
  const tb = Tensor.from(b, [K, N]);
  try {
    const c = await matmul(ta, tb, signal ? { signal } : {});
    try {
      return (await c.data()) as Float32Array;
    } finally {
      c.dispose();
    }
  } finally {
    ta.dispose();
    tb.dispose();
  }
}

export type HostActivation = 'none' | 'relu' | 'leakyRelu' | 'sigmoid';

export interface HostConvOptions {
  bias?: Float32Array | null;
  stride?: number;
  padding?: number;
  dilation?: number;
  scale?: Float32Array | null;
  shift?: Float32Array | null;
  activation?: HostActivation;
  negativeSlope?: number;
  residual?: Float32Array | null;
}

function epilogue(out: Float32Array, O: number, HW: number, o: HostConvOptions, base = 0): void {
  const slope = o.negativeSlope ?? 0.01;
  const act = o.activation ?? 'none';
  for (let c = 0; c < O; c++) {
    const b = o.bias ? o.bias[c]! : 0;
    const s = o.scale ? o.scale[c]! : 1;
    const t = o.shift ? o.shift[c]! : 0;
    const off = c * HW;
    for (let i = 0; i < HW; i++) {
      let v = out[off + i]!;
      if (o.bias) v = f32(v + b);
      if (o.scale) v = f32(v * s);
      if (o.shift) v = f32(v + t);
      if (o.residual) v = f32(v + o.residual[base + off + i]!);
      if (act === 'relu') v = v > 0 ? v : 0;
      else if (act === 'leakyRelu') v = v >= 0 ? v : f32(v * slope);
      else if (act === 'sigmoid') v = sigmoid32(v);
      out[off + i] = v;
    }
  }
}

/** conv2d, groups = 1; im2col in row chunks + native GEMM; epilogue y = act((conv + bias)·scale + shift + residual). */
export async function conv2dHost(x: HostTensor, w: HostTensor, o: HostConvOptions, signal?: AbortSignal): Promise<HostTensor> {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, Ci, KH, KW] = w.shape as [number, number, number, number];
  if (Ci !== C) throw new Error(`conv2d (emulated): weight expects ${Ci} input channels, input has ${C}`);
  const s = o.stride ?? 1;
  const p = o.padding ?? 0;
  const d = o.dilation ?? 1;
  const Ho = Math.floor((H + 2 * p - d * (KH - 1) - 1) / s) + 1;
  const Wo = Math.floor((W + 2 * p - d * (KW - 1) - 1) / s) + 1;
  const K = C * KH * KW;
  const out = new Float32Array(N * O * Ho * Wo);
  const rowsPerChunk = Math.max(1, Math.floor((1 << 23) / Math.max(1, K * Wo)));
  for (let n = 0; n < N; n++) {
    const xb = x.data.subarray(n * C * H * W, (n + 1) * C * H * W);
    const ob = out.subarray(n * O * Ho * Wo, (n + 1) * O * Ho * Wo);
    for (let r0 = 0; r0 < Ho; r0 += rowsPerChunk) {
      const r1 = Math.min(Ho, r0 + rowsPerChunk);
      const cols = (r1 - r0) * Wo;
      let colsBuf: Float32Array;
      if (KH === 1 && KW === 1 && s === 1 && p === 0 && r0 === 0 && r1 === Ho) {
        colsBuf = xb;
      } else {
        colsBuf = new Float32Array(K * cols);
        let k = 0;
        for (let c = 0; c < C; c++) {
          for (let ky = 0; ky < KH; ky++) {
            for (let kx = 0; kx < KW; kx++, k++) {
              const row = colsBuf.subarray(k * cols, (k + 1) * cols);
              let j = 0;
              for (let oy = r0; oy < r1; oy++) {
                const iy = oy * s - p + ky * d;
                if (iy < 0 || iy >= H) {
                  j += Wo;
                  continue;
                }
                const ibase = c * H * W + iy * W;
                for (let ox = 0; ox < Wo; ox++, j++) {
                  const ix = ox * s - p + kx * d;
                  if (ix >= 0 && ix < W) row[j] = xb[ibase + ix]!;
                }
              }
            }
          }
        }
      }
      const res = await gemmHost(w.data, colsBuf, O, K, cols, signal);
      for (let c = 0; c < O; c++) ob.set(res.subarray(c * cols, (c + 1) * cols), c * Ho * Wo + r0 * Wo);
    }
    epilogue(ob, O, Ho * Wo, o, n * O * Ho * Wo);
  }
  return { shape: [N, O, Ho, Wo], data: out };
}

/**
 * Modulated deformable conv (DCNv2, §3.1): offset [N, 2·G·K², Ho, Wo] with (dy, dx) interleaved per tap,
 * mask [N, G·K², Ho, Wo] already sigmoided; bilinear sampling with zeros outside.
 */
export async function deformConv2dHost(
  x: HostTensor,
  offset: HostTensor,
  mask: HostTensor,
  w: HostTensor,
  o: HostConvOptions & { deformGroups?: number },
  signal?: AbortSignal,
): Promise<HostTensor> {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, , KH, KW] = w.shape as [number, number, number, number];
  const s = o.stride ?? 1;
  const p = o.padding ?? 0;
  const d = o.dilation ?? 1;
  const G = o.deformGroups ?? 1;
  const Ho = Math.floor((H + 2 * p - d * (KH - 1) - 1) / s) + 1;
  const Wo = Math.floor((W + 2 * p - d * (KW - 1) - 1) / s) + 1;
  const KK = KH * KW;
  const K = C * KK;
  const cpg = C / G;
  const out = new Float32Array(N * O * Ho * Wo);
  const rowsPerChunk = Math.max(1, Math.floor((1 << 23) / Math.max(1, K * Wo)));
  for (let n = 0; n < N; n++) {
    const xb = x.data.subarray(n * C * H * W);
    const ofs = offset.data.subarray(n * 2 * G * KK * Ho * Wo);
    const msk = mask.data.subarray(n * G * KK * Ho * Wo);
    const ob = out.subarray(n * O * Ho * Wo, (n + 1) * O * Ho * Wo);
    for (let r0 = 0; r0 < Ho; r0 += rowsPerChunk) {
      const r1 = Math.min(Ho, r0 + rowsPerChunk);
      const cols = (r1 - r0) * Wo;
      const colsBuf = new Float32Array(K * cols);
      for (let c = 0; c < C; c++) {
        const g = Math.floor(c / cpg);
        const plane = c * H * W;
        for (let ky = 0; ky < KH; ky++) {
          for (let kx = 0; kx < KW; kx++) {
            const tap = ky * KW + kx;
            const row = colsBuf.subarray((c * KK + tap) * cols, (c * KK + tap + 1) * cols);
            const dyBase = (g * KK * 2 + 2 * tap) * Ho * Wo;
            const dxBase = (g * KK * 2 + 2 * tap + 1) * Ho * Wo;
            const mBase = (g * KK + tap) * Ho * Wo;
            let j = 0;
            for (let oy = r0; oy < r1; oy++) {
              for (let ox = 0; ox < Wo; ox++, j++) {
                const pix = oy * Wo + ox;
                const hy = oy * s - p + ky * d + ofs[dyBase + pix]!;
                const wx = ox * s - p + kx * d + ofs[dxBase + pix]!;
                let v = 0;
                if (hy > -1 && wx > -1 && hy < H && wx < W) {
                  const y0 = Math.floor(hy);
                  const x0 = Math.floor(wx);
                  const ly = hy - y0;
                  const lx = wx - x0;
                  const hy1 = 1 - ly;
                  const hx1 = 1 - lx;
                  const at = (yy: number, xx: number): number => (yy >= 0 && xx >= 0 && yy < H && xx < W ? xb[plane + yy * W + xx]! : 0);
                  v = hy1 * hx1 * at(y0, x0) + hy1 * lx * at(y0, x0 + 1) + ly * hx1 * at(y0 + 1, x0) + ly * lx * at(y0 + 1, x0 + 1);
                }
                row[j] = v * msk[mBase + pix]!;
              }
            }
          }
        }
      }
      const res = await gemmHost(w.data, colsBuf, O, K, cols, signal);
      for (let c = 0; c < O; c++) ob.set(res.subarray(c * cols, (c + 1) * cols), c * Ho * Wo + r0 * Wo);
    }
    epilogue(ob, O, Ho * Wo, o, n * O * Ho * Wo);
  }
  return { shape: [N, O, Ho, Wo], data: out };
}

/** max_pool2d with implicit −∞ padding. */
export function maxPool2dHost(x: HostTensor, k: number, s: number, p: number): HostTensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const Ho = Math.floor((H + 2 * p - k) / s) + 1;
  const Wo = Math.floor((W + 2 * p - k) / s) + 1;
  const out = new Float32Array(N * C * Ho * Wo);
  let o = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * H * W;
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++, o++) {
        let m = -Infinity;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s - p + ky;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s - p + kx;
            if (ix < 0 || ix >= W) continue;
            const v = x.data[base + iy * W + ix]!;
            if (v > m || Number.isNaN(v)) m = v;
          }
        }
        out[o] = m;
      }
    }
  }
  return { shape: [N, C, Ho, Wo], data: out };
}

/** GroupNorm (biased variance, float64 statistics), then optional ReLU. */
export function groupNormHost(
  x: HostTensor,
  groups: number,
  weight: Float32Array | null,
  bias: Float32Array | null,
  eps: number,
  relu: boolean,
): HostTensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const HW = H * W;
  const cpg = C / groups;
  const out = new Float32Array(x.data.length);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      const start = (n * C + g * cpg) * HW;
      const len = cpg * HW;
      let sum = 0;
      for (let i = 0; i < len; i++) sum += x.data[start + i]!;
      const mean = sum / len;
      let sq = 0;
      for (let i = 0; i < len; i++) {
        const dlt = x.data[start + i]! - mean;
        sq += dlt * dlt;
      }
      const rstd = 1 / Math.sqrt(sq / len + eps);
      for (let cc = 0; cc < cpg; cc++) {
        const c = g * cpg + cc;
        const a = (weight ? weight[c]! : 1) * rstd;
        const b = (bias ? bias[c]! : 0) - mean * a;
        const off = start + cc * HW;
        for (let i = 0; i < HW; i++) {
          let v = f32(x.data[off + i]! * a + b);
          if (relu && v < 0) v = 0;
          out[off + i] = v;
        }
      }
    }
  }
  return { shape: [N, C, H, W], data: out };
}

/** Per-axis source indices and weights of PyTorch's bilinear, align_corners=False, float32 index math. */
export function linearTaps(inSize: number, outSize: number, scaleOverride?: number): { i0: Int32Array; i1: Int32Array; l1: Float32Array } {
  const scale = f32(scaleOverride ?? inSize / outSize);
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const l1 = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    let src = f32(f32(scale * f32(o + 0.5)) - 0.5);
    if (src < 0) src = 0;
    let a = Math.floor(src);
    if (a > inSize - 1) a = inSize - 1;
    let lam = f32(src - a);
    if (lam > 1) lam = 1;
    i0[o] = a;
    i1[o] = a < inSize - 1 ? a + 1 : a;
    l1[o] = lam;
  }
  return { i0, i1, l1 };
}

/** F.interpolate(mode='bilinear', align_corners=False) on [N, C, H, W]. */
export function bilinearHost(x: HostTensor, outH: number, outW: number, scaleH?: number, scaleW?: number): HostTensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const ty = linearTaps(H, outH, scaleH);
  const tx = linearTaps(W, outW, scaleW);
  const out = new Float32Array(N * C * outH * outW);
  let o = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * H * W;
    for (let y = 0; y < outH; y++) {
      const r0 = base + ty.i0[y]! * W;
      const r1 = base + ty.i1[y]! * W;
      const h1 = ty.l1[y]!;
      const h0 = f32(1 - h1);
      for (let xx = 0; xx < outW; xx++, o++) {
        const c0 = tx.i0[xx]!;
        const c1 = tx.i1[xx]!;
        const w1 = tx.l1[xx]!;
        const w0 = f32(1 - w1);
        const top = f32(f32(w0 * x.data[r0 + c0]!) + f32(w1 * x.data[r0 + c1]!));
        const bot = f32(f32(w0 * x.data[r1 + c0]!) + f32(w1 * x.data[r1 + c1]!));
        out[o] = f32(f32(h0 * top) + f32(h1 * bot));
      }
    }
  }
  return { shape: [N, C, outH, outW], data: out };
}

/** Nearest ×s upsampling (out[y, x] = in[⌊y/s⌋, ⌊x/s⌋]). */
export function nearestHost(x: HostTensor, outH: number, outW: number): HostTensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const out = new Float32Array(N * C * outH * outW);
  const sy = f32(H / outH);
  const sx = f32(W / outW);
  let o = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * H * W;
    for (let y = 0; y < outH; y++) {
      const iy = Math.min(Math.floor(f32(y * sy)), H - 1);
      for (let xx = 0; xx < outW; xx++, o++) out[o] = x.data[base + iy * W + Math.min(Math.floor(f32(xx * sx)), W - 1)]!;
    }
  }
  return { shape: [N, C, outH, outW], data: out };
}

export function addHost(a: HostTensor, b: HostTensor, relu = false): HostTensor {
  const out = new Float32Array(a.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = f32(a.data[i]! + b.data[i]!);
    out[i] = relu && v < 0 ? 0 : v;
  }
  return { shape: [...a.shape], data: out };
}

/** cat((x, x), -1): [N, C, H, W] → [N, C, H, 2W]. */
export function duplicateWidthHost(x: HostTensor): HostTensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const out = new Float32Array(N * C * H * 2 * W);
  for (let r = 0; r < N * C * H; r++) {
    const row = x.data.subarray(r * W, (r + 1) * W);
    out.set(row, r * 2 * W);
    out.set(row, r * 2 * W + W);
  }
  return { shape: [N, C, H, 2 * W], data: out };
}

/** stack(x.chunk(2, -1)).mean(0): [N, C, H, 2W] → [N, C, H, W]. */
export function meanWidthHalvesHost(x: HostTensor): HostTensor {
  const [N, C, H, W2] = x.shape as [number, number, number, number];
  const W = W2 / 2;
  const out = new Float32Array(N * C * H * W);
  for (let r = 0; r < N * C * H; r++) {
    for (let i = 0; i < W; i++) out[r * W + i] = f32(f32(x.data[r * W2 + i]! + x.data[r * W2 + W + i]!) / 2);
  }
  return { shape: [N, C, H, W], data: out };
}

export interface HostAttentionWeights {
  q: Float32Array;
  kv: Float32Array;
  out: Float32Array;
  outBias: Float32Array;
}

function transposeTo(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c]!;
  return out;
}

/**
 * gate · MHA over sequences. `tokens` is [S·L, C] (S sequences of L tokens, channels last); returns [S·L, C].
 * Projections on the native GEMM; scores, softmax and A·V in JS (sequences are short).
 */
async function mhaHost(tokens: Float32Array, S: number, L: number, C: number, heads: number, w: HostAttentionWeights, gate: number, signal?: AbortSignal): Promise<Float32Array> {
  const T = S * L;
  const wqT = transposeTo(w.q, C, C);
  const wkvT = transposeTo(w.kv, 2 * C, C);
  const woT = transposeTo(w.out, C, C);
  const q = await gemmHost(tokens, wqT, T, C, C, signal);
  const kv = await gemmHost(tokens, wkvT, T, C, 2 * C, signal);
  const e = C / heads;
  const scale = e ** -0.5;
  const att = new Float32Array(T * C);
  const scores = new Float64Array(L);
  for (let sq = 0; sq < S; sq++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < L; i++) {
        const qi = (sq * L + i) * C + h * e;
        let mx = -Infinity;
        for (let j = 0; j < L; j++) {
          const kj = (sq * L + j) * 2 * C + h * e;
          let dot = 0;
          for (let t = 0; t < e; t++) dot += q[qi + t]! * kv[kj + t]!;
          const sc = dot * scale;
          scores[j] = sc;
          if (sc > mx) mx = sc;
        }
        let den = 0;
        for (let j = 0; j < L; j++) {
          const v = Math.exp(scores[j]! - mx);
          scores[j] = v;
          den += v;
        }
        const oi = (sq * L + i) * C + h * e;
        for (let j = 0; j < L; j++) {
          const a = scores[j]! / den;
          const vj = (sq * L + j) * 2 * C + C + h * e;
          for (let t = 0; t < e; t++) att[oi + t] += a * kv[vj + t]!;
        }
      }
    }
  }
  const out = await gemmHost(att, woT, T, C, C, signal);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < C; c++) out[t * C + c] = f32(f32(out[t * C + c]! + w.outBias[c]!) * gate);
  }
  return out;
}

/** One twin-attention sub-layer (§6.1, op contract of the twin attention op): parallel or sequential. */
export async function twinAttentionHost(
  x: HostTensor,
  col: HostAttentionWeights,
  row: HostAttentionWeights,
  gCol: number,
  gRow: number,
  heads: number,
  mode: 'parallel' | 'sequential',
  signal?: AbortSignal,
): Promise<HostTensor> {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const colAttn = async (src: Float32Array): Promise<Float32Array> => {
    // sequences: (n, w), tokens along h
    const tok = new Float32Array(N * W * H * C);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) tok[((n * W + w) * H + h) * C + c] = src[((n * C + c) * H + h) * W + w]!;
    const r = await mhaHost(tok, N * W, H, C, heads, col, gCol, signal);
    const back = new Float32Array(src.length);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) back[((n * C + c) * H + h) * W + w] = r[((n * W + w) * H + h) * C + c]!;
    return back;
  };
  const rowAttn = async (src: Float32Array): Promise<Float32Array> => {
    const tok = new Float32Array(N * H * W * C);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) tok[((n * H + h) * W + w) * C + c] = src[((n * C + c) * H + h) * W + w]!;
    const r = await mhaHost(tok, N * H, W, C, heads, row, gRow, signal);
    const back = new Float32Array(src.length);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) back[((n * C + c) * H + h) * W + w] = r[((n * H + h) * W + w) * C + c]!;
    return back;
  };
  const a = await colAttn(x.data);
  if (mode === 'parallel') {
    const b = await rowAttn(x.data);
    const out = new Float32Array(x.data.length);
    for (let i = 0; i < out.length; i++) out[i] = f32(f32(x.data[i]! + a[i]!) + b[i]!);
    return { shape: [...x.shape], data: out };
  }
  const t = new Float32Array(x.data.length);
  for (let i = 0; i < t.length; i++) t[i] = f32(x.data[i]! + a[i]!);
  const b = await rowAttn(t);
  for (let i = 0; i < t.length; i++) t[i] = f32(t[i]! + b[i]!);
  return { shape: [...x.shape], data: t };
}
