// The TypeScript post-processing that the native ops selectCandidates, gatherKernels and rankCandidates replaced
// (ts/model/postprocess.ts steps 1-11 before they moved off the JavaScript thread), kept as the reference their
// tests compare with bit for bit, and the old JavaScript BGR conversion (ts/model/preprocess.ts's toBgr) that
// pillowResize's `toBgr` replaced. Plain JavaScript, the same arithmetic in the same order.
import { BitMasks, Tensor, dynamicConv, dynamicConvMasks, matrixNms, resizeMasksToList } from '../../dist/index.js';

const f32 = Math.fround;

/** PyTorch's float32 sigmoid: 1 / (1 + exp(-x)) rounded to float32 at each step. */
export function sigmoid32(x) {
  return f32(1 / f32(1 + f32(Math.exp(-x))));
}

/** levels: [{ cate: Float32Array [C, N, N], n }]. */
export function selectCandidates(levels, numClasses, instanceStrides, scoreThreshold) {
  const cells = [];
  const labels = [];
  const scores = [];
  const strides = [];
  let offset = 0;
  for (let l = 0; l < levels.length; l++) {
    const { cate, n } = levels[l];
    const nn = n * n;
    const p = new Float32Array(cate.length);
    const bound = scoreThreshold <= 0 ? -Infinity : scoreThreshold >= 1 ? Infinity : Math.log(scoreThreshold / (1 - scoreThreshold)) - 1e-3;
    for (let i = 0; i < cate.length; i++) if (cate[i] > bound) p[i] = sigmoid32(cate[i]);
    const kept = new Float32Array(cate.length);
    for (let c = 0; c < numClasses; c++) {
      const base = c * nn;
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++) {
          const v = p[base + y * n + x];
          let m = v;
          if (y > 0) {
            const t = p[base + (y - 1) * n + x];
            if (t > m) m = t;
            if (x > 0) {
              const tl = p[base + (y - 1) * n + x - 1];
              if (tl > m) m = tl;
            }
          }
          if (x > 0) {
            const lf = p[base + y * n + x - 1];
            if (lf > m) m = lf;
          }
          kept[base + y * n + x] = m === v ? v : 0;
        }
      }
    }
    for (let cell = 0; cell < nn; cell++) {
      for (let c = 0; c < numClasses; c++) {
        const v = kept[c * nn + cell];
        if (v > scoreThreshold) {
          cells.push(offset + cell);
          labels.push(c);
          scores.push(v);
          strides.push(instanceStrides[l]);
        }
      }
    }
    offset += nn;
  }
  return {
    count: cells.length,
    cells: Int32Array.from(cells),
    labels: Int32Array.from(labels),
    scores: Float32Array.from(scores),
    strides: Float32Array.from(strides),
  };
}

/** levels: [{ kernel: Float32Array [D, N, N], n }]. */
export function gatherKernels(levels, cells, D) {
  const out = new Float32Array(cells.length * D);
  const starts = [];
  let off = 0;
  for (const l of levels) {
    starts.push(off);
    off += l.n * l.n;
  }
  for (let i = 0; i < cells.length; i++) {
    let l = levels.length - 1;
    while (starts[l] > cells[i]) l--;
    const { kernel, n } = levels[l];
    const cell = cells[i] - starts[l];
    const nn = n * n;
    for (let d = 0; d < D; d++) out[i * D + d] = kernel[d * nn + cell];
  }
  return out;
}

export function byScoreThenIndex(scores, index) {
  return (a, b) => {
    const sa = scores[a];
    const sb = scores[b];
    if (sa !== sb) return sb > sa || Number.isNaN(sa) ? 1 : -1;
    return index[a] - index[b];
  };
}

/** Steps 7-9: { afterAreaFilter, pre (candidate indices), score1 } from host arrays. */
export function rankCandidates(cand, areas, softSums, nmsPre) {
  const keep = [];
  for (let i = 0; i < cand.count; i++) if (f32(areas[i]) > cand.strides[i]) keep.push(i);
  const score1 = new Float32Array(cand.count);
  for (const i of keep) {
    const area = f32(areas[i]);
    score1[i] = f32(cand.scores[i] * f32(softSums[i] / area));
  }
  const candIndex = Int32Array.from({ length: cand.count }, (_, i) => i);
  keep.sort(byScoreThenIndex(score1, candIndex));
  return { afterAreaFilter: keep.length, pre: keep.slice(0, nmsPre), score1 };
}

/** Subset of host masks { count, height, width, words, data, areas, softSums, boxes } in the given order. */
export function selectMasks(m, order) {
  const per = m.height * m.words;
  const data = new Uint32Array(order.length * per);
  const areas = new Int32Array(order.length);
  const softSums = new Float32Array(order.length);
  const boxes = new Int32Array(4 * order.length);
  for (let i = 0; i < order.length; i++) {
    const j = order[i];
    data.set(m.data.subarray(j * per, (j + 1) * per), i * per);
    areas[i] = m.areas[j];
    softSums[i] = m.softSums[j];
    boxes.set(m.boxes.subarray(4 * j, 4 * j + 4), 4 * i);
  }
  return { count: order.length, height: m.height, width: m.width, words: m.words, data, areas, softSums, boxes };
}

/**
 * The whole old post-processing on a prediction's intermediates (CPU): cateLogits, kernels and maskFeature host
 * tensors, the model's config and options, and the sizes. Returns { trace, instances: [{ label, score, mask }] }.
 */
export async function referencePostprocess(inter, cfg, o, sizes) {
  const levels = inter.cateLogits.map((c, i) => ({ cate: c.data, kernel: inter.kernels[i].data, n: c.shape[2] }));
  const [, D, fh, fw] = inter.maskFeature.shape;
  const trace = { candidates: 0, distinctCells: 0, afterAreaFilter: 0, beforeNms: 0, afterNms: 0, ratio: Math.ceil(sizes.height / fh) };
  const cand = selectCandidates(levels, cfg.numClasses, cfg.instanceStrides, o.scoreThreshold);
  trace.candidates = cand.count;
  trace.distinctCells = new Set(Array.from(cand.cells).slice(0, cand.count)).size;
  if (cand.count === 0) return { trace, instances: [] };
  const kernels = gatherKernels(levels, cand.cells, D);
  const F = Tensor.from(inter.maskFeature.data, [D, fh, fw]);
  try {
    const k = Tensor.from(kernels, [cand.count, D]);
    const bm = await dynamicConvMasks(F, k, { threshold: o.maskThreshold });
    k.dispose();
    const masks = { count: bm.count, height: bm.height, width: bm.width, words: 2 * bm.wordsPerRow, data: bm.words, areas: bm.areas, softSums: bm.softSums, boxes: bm.boxes };
    const r = rankCandidates(cand, masks.areas, masks.softSums, o.nmsPre);
    trace.afterAreaFilter = r.afterAreaFilter;
    if (r.afterAreaFilter === 0) return { trace, instances: [] };
    const pre = r.pre;
    trace.beforeNms = pre.length;
    const sel = selectMasks(masks, pre);
    const labels = Int32Array.from(pre, (i) => cand.labels[i]);
    const sortedScores = Float32Array.from(pre, (i) => r.score1[i]);
    const nms = new BitMasks({ count: sel.count, height: sel.height, width: sel.width, data: sel.data, areas: sel.areas, boxes: sel.boxes, softSums: sel.softSums });
    const decayed = Float32Array.from(await matrixNms(nms, labels, sortedScores, { kernel: o.nmsKernel, sigma: o.nmsSigma }));
    const survivors = [];
    for (let j = 0; j < pre.length; j++) if (decayed[j] >= o.updateThreshold) survivors.push(j);
    trace.afterNms = survivors.length;
    if (survivors.length === 0) return { trace, instances: [] };
    survivors.sort(byScoreThenIndex(decayed, Int32Array.from(pre)));
    const final = survivors.slice(0, o.maxPerImage).filter((j) => decayed[j] >= o.minScore);
    if (final.length === 0) return { trace, instances: [] };
    const fk = new Float32Array(final.length * D);
    for (let q = 0; q < final.length; q++) {
      const ci = pre[final[q]];
      fk.set(kernels.subarray(ci * D, (ci + 1) * D), q * D);
    }
    const kt = Tensor.from(fk, [final.length, D]);
    const soft = await dynamicConv(F, kt, { sigmoid: true });
    kt.dispose();
    const list = await resizeMasksToList(soft, { ratio: trace.ratio, crop: [sizes.height, sizes.width], size: [sizes.originalHeight, sizes.originalWidth], threshold: o.maskThreshold });
    soft.dispose();
    return { trace, instances: final.map((j, q) => ({ label: labels[j], score: decayed[j], mask: list[q] })) };
  } finally {
    F.dispose();
  }
}

/** Interleaved 1/2/3/4-channel 8-bit pixels -> interleaved BGR (alpha dropped, grey replicated). */
export function toBgr(src, pixels, channels, srcIsBgr) {
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    if (channels <= 2) {
      out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = src[i * channels];
    } else {
      out[3 * i] = srcIsBgr ? src[i * channels] : src[i * channels + 2];
      out[3 * i + 1] = src[i * channels + 1];
      out[3 * i + 2] = srcIsBgr ? src[i * channels + 2] : src[i * channels];
    }
  }
  return out;
}
