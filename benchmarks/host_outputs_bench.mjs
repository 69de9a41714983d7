// What a prediction's outputs cost on the host, and whether they hold the JavaScript thread: the masks' COCO RLE
// (predict's native `rle` against Mask.toRLE in JavaScript), the overlay (renderPrediction), resizeMasks on
// object-like masks, and COCO evaluation (evaluateCoco) at a chosen scale. The tiny random model at two image sizes
// (its masks are noise-like: a worst case for RLE; object masks have about two runs a column). No PyTorch side:
// pycocotools' speed is not measured here.
// Reports; never fails.
//   node benchmarks/host_outputs_bench.mjs [--sizes 640x480,4000x3000] [--eval-images 1000] [--threads 2] [--json FILE]
//        [--no-opencv]   (the contour rows run OpenCV's findContours on the same masks, benchmarks/opencv/, when
//                         /usr/bin/python3 has cv2: Debian's python3-opencv)
//   SOTR_PYCOCOTOOLS=<folder holding a built pycocotools/> also times pycocotools' COCOeval on the evaluation set
//   (benchmarks/pycocotools/coco_eval_bench.py) and compares its 12 numbers with ours.
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { machine, median, pinThreads, root, writeResults } from './harness.mjs';
import { syntheticCocoSet } from './synthetic_coco.mjs';

const argv = process.argv.slice(2);
const opt = (k, d) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const sizes = opt('--sizes', '640x480,4000x3000')
  .split(',')
  .map((s) => s.split('x').map(Number));
const evalImages = Number(opt('--eval-images', '1000'));
pinThreads(Number(opt('--threads', '2')));
const json = opt('--json', null);
const { Sotr, masksToRLE, masksToContours, renderPrediction, evaluateCoco, encodeRleCounts } = await import('../dist/index.js');
const { rleFromPolygon, rleArea, rleToBox } = await import('../dist/masks/coco_mask.js');

// The worst event-loop stall while fn runs (a 2 ms timer).
async function stall(fn) {
  let last = performance.now();
  let worst = 0;
  const iv = setInterval(() => {
    const t = performance.now();
    worst = Math.max(worst, t - last);
    last = t;
  }, 2);
  const t0 = performance.now();
  const out = await fn();
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(iv);
  return { out, ms, stallMs: worst };
}

const model = await Sotr.load(path.join(root, 'tests', 'fixtures', 'model', 'tiny_sotr.pth'), { onWarning: () => {}, minSize: 800, maxSize: 1333, device: 'cpu' });
const rows = [];
for (const [W, H] of sizes) {
  const data = new Uint8Array(W * H * 3);
  for (let i = 0; i < data.length; i++) data[i] = (((i / 3 / W) | 0) % 256) ^ ((i * 7) & 0x3f);
  const img = { data, width: W, height: H, channels: 3, format: 'bgr' };
  await model.predict(img);
  const row = { image: `${W}x${H}`, reps: 3, predictMs: {}, stallMs: {}, toRleMs: {} };
  for (const rle of [false, true]) {
    const ms = [];
    const st = [];
    const enc = [];
    for (let r = 0; r < 3; r++) {
      // predict, then every instance's COCO RLE, as a caller writing results would.
      const s = await stall(async () => {
        const p = await model.predict(img, { rle });
        const t = performance.now();
        p.instances.forEach((i) => i.mask.toCocoRLE());
        enc.push(performance.now() - t);
        return p;
      });
      ms.push(s.ms);
      st.push(s.stallMs);
      row.instances = s.out.instances.length;
      row.meanRleChars = Math.round(s.out.instances.reduce((a, i) => a + i.mask.toRLE().length, 0) / Math.max(1, s.out.instances.length));
    }
    const k = rle ? 'native' : 'javascript';
    row.predictMs[k] = median(ms);
    row.stallMs[k] = median(st);
    row.toRleMs[k] = median(enc);
  }
  const p = await model.predict(img, { rle: false });
  const masks = p.instances.map((i) => i.mask);
  const t = performance.now();
  await masksToRLE(masks);
  row.masksToRleMs = performance.now() - t;
  {
    const s = await stall(() => masksToContours(masks));
    row.masksToContours = { ms: s.ms, stallMs: s.stallMs, contours: s.out.reduce((a, l) => a + l.length, 0) };
  }
  for (const format of ['png', 'jpeg']) {
    const s = await stall(() => renderPrediction(img, p, { format }));
    row[`render_${format}`] = { ms: s.ms, stallMs: s.stallMs, bytes: s.out.length };
  }
  console.log(
    `${row.image}: ${row.instances} instances (mean RLE ${row.meanRleChars} chars); predict + toCocoRLE x${row.instances}: ` +
      `JavaScript RLE ${row.predictMs.javascript.toFixed(0)} ms (stall ${row.stallMs.javascript.toFixed(0)} ms), native ${row.predictMs.native.toFixed(0)} ms ` +
      `(stall ${row.stallMs.native.toFixed(0)} ms); masksToRLE ${row.masksToRleMs.toFixed(1)} ms; masksToContours ` +
      `${row.masksToContours.ms.toFixed(0)} ms (${row.masksToContours.contours} contours, stall ${row.masksToContours.stallMs.toFixed(0)} ms); render png ${row.render_png.ms.toFixed(0)} ms ` +
      `(stall ${row.render_png.stallMs.toFixed(0)}), jpeg ${row.render_jpeg.ms.toFixed(0)} ms`,
  );
  rows.push(row);
}
await model.dispose();

// resizeMasks on object-like masks (sigmoid-edged discs, the shape a trained model's masks have), 200x268 to each
// size: the op skips the blocks of outputs that lie on one side of the threshold.
const { Tensor, resizeMasks, resizeMasksToList } = await import('../dist/index.js');
const resizeRows = [];
{
  const n = 100;
  const fh = 200;
  const fw = 268;
  const soft = new Float32Array(n * fh * fw);
  let s = 5;
  const r01 = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let m = 0; m < n; m++) {
    const cx = r01() * fw;
    const cy = r01() * fh;
    const r = (0.05 + r01() * 0.3) * fw;
    for (let y = 0; y < fh; y++) for (let x = 0; x < fw; x++) soft[(m * fh + y) * fw + x] = 1 / (1 + Math.exp(12 * (Math.hypot(x - cx, y - cy) / r - 1)));
  }
  const t = Tensor.from(soft, [n, fh, fw]);
  for (const [W, H] of sizes) {
    const ms = [];
    for (let k = 0; k < 5; k++) {
      const t0 = performance.now();
      const b = await resizeMasks(t, { ratio: 4, crop: [800, 1067], size: [H, W] });
      ms.push(performance.now() - t0);
      b.dispose();
    }
    // Their contours (OpenCV's findContours, external + simple, and ccomp + every pixel).
    const lt = [];
    let objMasks;
    for (let k = 0; k < 5; k++) {
      objMasks = undefined;
      const t0 = performance.now();
      objMasks = await resizeMasksToList(t, { ratio: 4, crop: [800, 1067], size: [H, W] });
      lt.push(performance.now() - t0);
    }
    // What the masks keep: their windows (the whole image's bits would be H x words32PerRow(W) x 4 bytes each).
    const keptBytes = objMasks.reduce((a, m) => a + m.window.data.byteLength, 0);
    const wholeBytes = n * H * 2 * Math.ceil(W / 64) * 4;
    const contours = {};
    for (const [mode, approx] of [['external', 'simple'], ['ccomp', 'none']]) {
      const cm = [];
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        await masksToContours(objMasks, { mode, approx });
        cm.push(performance.now() - t0);
      }
      contours[`${mode}_${approx}`] = median(cm);
    }
    // OpenCV on the same masks (one thread: findContours has no threads), beside ours (2 threads, including the copy of
    // the masks' bits into a tensor).
    let opencv = null;
    if (!argv.includes('--no-opencv')) {
      const bits = await resizeMasks(t, { ratio: 4, crop: [800, 1067], size: [H, W] });
      const file = path.join(os.tmpdir(), `sotr-contour-masks-${process.pid}.bin`);
      const d = await bits.data();
      fs.writeFileSync(file, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      bits.dispose();
      const r = spawnSync('/usr/bin/python3', [path.join(root, 'benchmarks', 'opencv', 'contours_bench.py'), file, String(n), String(H), String(W), '3'], { encoding: 'utf8' });
      fs.rmSync(file, { force: true });
      if (r.status === 0) opencv = JSON.parse(r.stdout.trim().split('\n').pop());
      else console.log(`(OpenCV side skipped: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`);
    }
    resizeRows.push({
      image: `${W}x${H}`,
      masks: n,
      ms: median(ms),
      resizeMasksToListMs: median(lt),
      keptBytes,
      wholeBytes,
      masksToContoursMs: contours,
      opencvFindContoursMs: opencv,
    });
    console.log(
      `resizeMasks, ${n} object-like masks 200x268 -> ${W}x${H}: ${median(ms).toFixed(1)} ms (median of 5); as Masks ` +
        `${median(lt).toFixed(1)} ms, keeping ${(keptBytes / 2 ** 20).toFixed(1)} MB of ${(wholeBytes / 2 ** 20).toFixed(1)} MB; their contours: ` +
        `external/simple ${contours.external_simple.toFixed(1)} ms, ccomp/none ${contours.ccomp_none.toFixed(1)} ms (medians of 3)` +
        (opencv ? `; OpenCV ${opencv.opencv} (1 thread): ${opencv.external_simple.toFixed(1)} / ${opencv.ccomp_none.toFixed(1)} ms` : ''),
    );
  }
  t.dispose();
}

// COCO evaluation on the synthetic val2017-like set (benchmarks/synthetic_coco.mjs, scores untied, no crowds).
const { gt, results } = syntheticCocoSet(evalImages, { rleFromPolygon, rleArea, rleToBox, encodeRleCounts });
const evalRow = { images: evalImages, groundTruths: gt.annotations.length, results: results.length };
const ours = {};
for (const iouType of ['segm', 'bbox']) {
  const s = await stall(() => evaluateCoco(gt, results, iouType));
  ours[iouType] = s.out.stats;
  evalRow[iouType] = { ms: s.ms, stallMs: s.stallMs, ap: s.out.stats[0], rssMiB: +(process.memoryUsage().rss / 2 ** 20).toFixed(0) };
  console.log(`evaluateCoco ${iouType}: ${evalImages} images, ${results.length} results: ${(s.ms / 1000).toFixed(1)} s, worst stall ${s.stallMs.toFixed(0)} ms, AP ${s.out.stats[0].toFixed(3)}, RSS ${evalRow[iouType].rssMiB} MiB`);
}
// pycocotools on the same set, when a built copy is given (SOTR_PYCOCOTOOLS=<folder holding pycocotools/>): its time
// beside ours, and whether its 12 numbers equal ours.
if (evalImages > 0 && process.env.SOTR_PYCOCOTOOLS) {
  const gtFile = path.join(os.tmpdir(), `sotr-eval-gt-${process.pid}.json`);
  const resFile = path.join(os.tmpdir(), `sotr-eval-res-${process.pid}.json`);
  fs.writeFileSync(gtFile, JSON.stringify(gt));
  fs.writeFileSync(resFile, JSON.stringify(results));
  const r = spawnSync('/usr/bin/python3', [path.join(root, 'benchmarks', 'pycocotools', 'coco_eval_bench.py'), gtFile, resFile], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: process.env.SOTR_PYCOCOTOOLS },
    maxBuffer: 1 << 24,
  });
  fs.rmSync(gtFile, { force: true });
  fs.rmSync(resFile, { force: true });
  if (r.status === 0) {
    const py = JSON.parse(r.stdout.trim().split('\n').pop());
    evalRow.pycocotools = py;
    for (const t of ['segm', 'bbox']) {
      const same = py[t].stats.every((v, i) => v === ours[t][i]);
      const maxDiff = Math.max(...py[t].stats.map((v, i) => Math.abs(v - ours[t][i])));
      evalRow.pycocotools[t].maxDiffFromOurs = maxDiff;
      console.log(`pycocotools ${t}: ${py[t].seconds.toFixed(1)} s (ours ${(evalRow[t].ms / 1000).toFixed(1)} s: ${(py[t].seconds / (evalRow[t].ms / 1000)).toFixed(2)}x); the 12 numbers ${same ? 'equal ours' : `differ from ours by up to ${maxDiff.toExponential(2)}`}`);
    }
  } else console.log(`(pycocotools side skipped: ${(r.stderr || '').trim().split('\n').pop()})`);
}
writeResults(json, { bench: 'host_outputs', machine: machine(), rows, resizeMasks: resizeRows, eval: evalRow });
