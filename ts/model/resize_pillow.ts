/**
 * Pillow's `Image.resize(size, BILINEAR)` on 8-bit images, bit-exact (Pillow's separable "resample" with a
 * triangle filter whose support grows with the downscale factor, i.e. antialiased; §2.2 of the architecture
 * notes). Written from the algorithm's description: per output index a window of input taps, float weights
 * normalised to sum 1, converted to 22-bit fixed point, accumulated from a rounding bias of 2^21, shifted
 * right by 22 and clipped to 0..255. The horizontal pass runs first (when the width changes), its uint8 result
 * feeds the vertical pass (when the height changes); a pass whose size does not change is skipped.
 */

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

export interface PillowTaps {
  /** First input index per output index. */
  start: Int32Array;
  /** Number of taps per output index. */
  count: Int32Array;
  /** Fixed-point weights, `ksize` slots per output index. */
  weights: Int32Array;
  ksize: number;
}

/** The taps and 22-bit weights Pillow uses to resample an axis of `inSize` to `outSize` (BILINEAR). */
export function pillowBilinearTaps(inSize: number, outSize: number): PillowTaps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1.0 * filterScale; // the bilinear filter's support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1.0 / filterScale;
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      let t = (x + xmin - center + 0.5) * ss;
      if (t < 0) t = -t;
      const v = t < 1 ? 1 - t : 0;
      w[x] = v;
      total += v;
    }
    for (let x = 0; x < xmax; x++) {
      const k = total !== 0 ? w[x]! / total : w[x]!;
      weights[o * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    start[o] = xmin;
    count[o] = xmax;
  }
  return { start, count, weights, ksize };
}

function clip8(acc: number): number {
  const v = Math.floor(acc / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Resizes interleaved 8-bit pixels (`channels` per pixel) from width×height to outW×outH, as Pillow does. */
export function resizePillowBilinear(src: Uint8Array, width: number, height: number, channels: number, outW: number, outH: number): Uint8Array {
  let cur = src;
  let curW = width;
  if (outW !== width) {
    const t = pillowBilinearTaps(width, outW);
    const out = new Uint8Array(outW * height * channels);
    for (let y = 0; y < height; y++) {
      const row = y * width * channels;
      const orow = y * outW * channels;
      for (let o = 0; o < outW; o++) {
        const s = t.start[o]!;
        const n = t.count[o]!;
        const kb = o * t.ksize;
        for (let c = 0; c < channels; c++) {
          let acc = HALF;
          for (let x = 0; x < n; x++) acc += cur[row + (s + x) * channels + c]! * t.weights[kb + x]!;
          out[orow + o * channels + c] = clip8(acc);
        }
      }
    }
    cur = out;
    curW = outW;
  }
  if (outH !== height) {
    const t = pillowBilinearTaps(height, outH);
    const stride = curW * channels;
    const out = new Uint8Array(curW * outH * channels);
    for (let o = 0; o < outH; o++) {
      const s = t.start[o]!;
      const n = t.count[o]!;
      const kb = o * t.ksize;
      const orow = o * stride;
      for (let i = 0; i < stride; i++) {
        let acc = HALF;
        for (let y = 0; y < n; y++) acc += cur[(s + y) * stride + i]! * t.weights[kb + y]!;
        out[orow + i] = clip8(acc);
      }
    }
    cur = out;
  }
  return cur === src ? src.slice() : cur;
}
