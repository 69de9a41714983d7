#!/usr/bin/env node
// The whole model end to end on a device against the CPU: a calibrated random SOTR checkpoint at full size (R50 by
// default) written to a temporary folder, Sotr.load + predict on one synthetic 1333x800 image on the reference
// device (the CPU) and on the device under test, per precision:
//   - agreement: post-processing counts, per-stage NMSE of the intermediates (FPN, transformer, heads, mask
//     feature), instances matched by label and mask IoU (>= 0.5), IoU and score differences;
//   - speed: cold first predict, a per-stage profile, an op profile (`opProfile`: top ops, the device's busy time and
//     its idle time between ops), warm batch 1 (median of the memory loop), an array of
//     --batch images in one predict() call (images/s);
//   - memory: the device allocator's live/cached/peak bytes and the process RSS after each of --mem-reps warm
//     predictions (flat: live bytes return to the same value and the reserved bytes stop growing).
// The checkpoint and the image (raw BGR bytes, image-1333x800.bgr) stay in --dir (JSON: checkpoint.file, image.file)
// with each instance list ([label, score, mask area] sorted by score: reference.instanceList, runs[].instanceList),
// for the PyTorch reference forward on the same inputs (scripts/gpu-torch-ref.py, stage 4b of gpu-check.sh).
// Prints progress on stderr and ONE JSON line on stdout (also --json FILE). Not part of npm test.
//   node scripts/gpu-e2e.mjs [--device cuda] [--ref-device cpu] [--preset r50] [--precisions fp32,bf16]
//        [--mem-reps 50] [--batch 8] [--budget 200] [--seed 1] [--json FILE] [--dir DIR]
// Exit codes: 0 ran (or skipped: no such device, JSON says why), 1 error, 2 ran but the fp32 result disagrees.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { syntheticImage } from '../benchmarks/synthetic_image.mjs';
import { compareInstances, quant } from '../benchmarks/instance_compare.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (k, d) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const device = opt('--device', 'cuda');
const refDevice = opt('--ref-device', 'cpu');
const preset = opt('--preset', 'r50');
const precisions = opt('--precisions', 'fp32,bf16').split(',').filter(Boolean);
const memReps = Number(opt('--mem-reps', '50'));
const batch = Number(opt('--batch', '8'));
const budgetS = Number(opt('--budget', '200'));
const seed = Number(opt('--seed', '1'));
const jsonFile = opt('--json', null);
const dir = opt('--dir', path.join(os.tmpdir(), 'sotr-gpu-e2e'));
const t00 = performance.now();
const deadline = Date.now() + budgetS * 1000;
const log = (...a) => console.error(`[e2e ${((performance.now() - t00) / 1000).toFixed(1)}s]`, ...a);
const MiB = (b) => +(b / 2 ** 20).toFixed(1);
const r3 = (v) => (v === undefined || v === null || !Number.isFinite(v) ? v : +v.toPrecision(3));

const lib = await import(pathToFileURL(path.join(root, 'dist', 'index.js')).href);
const { Sotr, writeRandomSotrCheckpoint, backendInfo, memoryInfo } = lib;
const info = backendInfo();
const out = {
  e2e: 'scripts/gpu-e2e.mjs',
  date: new Date().toISOString(),
  build: { commit: info.build.commit, version: info.build.version, archs: info.cuda.archs, native: process.env.SOTR_NATIVE_PATH ?? null },
  node: process.version,
  device,
  refDevice,
  gpu: info.cuda.devices[0] ? { name: info.cuda.devices[0].name, cc: info.cuda.devices[0].computeCapability, driver: info.cuda.driverVersion, runtime: info.cuda.runtimeVersion } : null,
  cpu: { threads: info.cpu.threads, simd: info.cpu.simd, cores: os.cpus().length },
  preset,
  seed,
  image: { width: 1333, height: 800, synthetic: true },
};
function finish(code) {
  out.wallS = +((performance.now() - t00) / 1000).toFixed(1);
  const line = JSON.stringify(out);
  if (jsonFile) writeFileSync(jsonFile, line + '\n');
  console.log(line);
  process.exit(code);
}
if (device !== 'cpu' && !info.cuda.available) {
  out.skipped = `device ${device} unavailable: ${info.cuda.reason ?? 'CUDA not available'}`;
  finish(0);
}

function nmse(a, b) {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  return den ? num / den : num;
}
/** Worst NMSE per stage of the intermediates, device against reference. */
function stageNmse(dev, ref) {
  const worst = (xs, ys) => Math.max(...xs.map((x, i) => nmse(x.data, ys[i].data)));
  return {
    fpn: r3(worst(dev.fpn, ref.fpn)),
    transformer: r3(worst(dev.transformer, ref.transformer)),
    transformerP5: r3(nmse(dev.transformerP5.data, ref.transformerP5.data)),
    cateLogits: r3(worst(dev.cateLogits, ref.cateLogits)),
    kernels: r3(worst(dev.kernels, ref.kernels)),
    maskFeature: r3(nmse(dev.maskFeature.data, ref.maskFeature.data)),
  };
}
const traceOf = (t) => ({ candidates: t.candidates, afterAreaFilter: t.afterAreaFilter, beforeNms: t.beforeNms, afterNms: t.afterNms });
/** [label, score, mask area] per instance, in the model's order (by score): compared with PyTorch's by gpu-torch-ref.py. */
const instanceList = (xs) => xs.map((i) => [i.label, +i.score.toPrecision(7), i.mask.area]);

/** This process's GPU memory as the driver sees it (context included), MiB; null where nvidia-smi cannot say. */
function smiMiB() {
  try {
    const s = execFileSync('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 5000 });
    const row = s.split('\n').map((l) => l.split(',').map((x) => x.trim())).find((r) => Number(r[0]) === process.pid);
    return row ? Number(row[1]) : null;
  } catch {
    return null;
  }
}

try {
  // ---- checkpoint and image ----
  mkdirSync(dir, { recursive: true });
  const ck = path.join(dir, `${preset}-seed${seed}.safetensors`);
  let t0 = performance.now();
  let written = null;
  if (!existsSync(ck)) written = await writeRandomSotrCheckpoint(ck, { preset, seed });
  out.checkpoint = { file: ck, bytes: statSync(ck).size, writeMs: written ? Math.round(performance.now() - t0) : 'cached', parameters: written?.parameters };
  log(`checkpoint ${ck} (${MiB(out.checkpoint.bytes)} MiB) ${written ? `written in ${out.checkpoint.writeMs} ms` : 'cached'}`);
  const W = 1333, H = 800;
  const raw = { data: syntheticImage(W, H), width: W, height: H, channels: 3, format: 'bgr' };
  out.image.file = path.join(dir, `image-${W}x${H}.bgr`);
  writeFileSync(out.image.file, raw.data);

  // ---- reference ----
  t0 = performance.now();
  const refModel = await Sotr.load(ck, { device: refDevice, minSize: H, onWarning: (w) => log('warning:', w) });
  const refLoadMs = performance.now() - t0;
  t0 = performance.now();
  const ref = await refModel.predict(raw, { intermediates: true });
  out.reference = { device: refModel.device, loadMs: Math.round(refLoadMs), predictMs: Math.round(performance.now() - t0), instances: ref.instances.length, trace: traceOf(ref.intermediates.trace), input: ref.intermediates.input.shape, instanceList: instanceList(ref.instances) };
  await refModel.dispose();
  log(`reference on ${refDevice}: ${out.reference.instances} instances, predict ${out.reference.predictMs} ms`, JSON.stringify(out.reference.trace));

  // ---- device, per precision ----
  out.runs = [];
  for (let pi = 0; pi < precisions.length; pi++) {
    const precision = precisions[pi];
    const run = { precision };
    out.runs.push(run);
    if (Date.now() > deadline - 5000) {
      run.skipped = 'budget';
      continue;
    }
    const share = (deadline - Date.now()) / (precisions.length - pi);
    let model = null;
    try {
      const pStart = Date.now();
      const mem0 = memoryInfo(device);
      t0 = performance.now();
      model = await Sotr.load(ck, { device, precision, minSize: H, onWarning: (w) => log('warning:', w) });
      run.loadMs = Math.round(performance.now() - t0);
      const memLoaded = memoryInfo(model.device);
      run.weightsMiB = MiB(memLoaded.liveBytes - mem0.liveBytes);
      t0 = performance.now();
      const first = await model.predict(raw, { intermediates: true });
      run.firstMs = Math.round(performance.now() - t0);
      run.trace = traceOf(first.intermediates.trace);
      run.traceAgrees = JSON.stringify(run.trace) === JSON.stringify(out.reference.trace);
      run.stageNmse = stageNmse(first.intermediates, ref.intermediates);
      const { pairs: _pairs, ...compare } = compareInstances(ref.instances, first.instances);
      run.compare = compare;
      run.instanceList = instanceList(first.instances);
      log(`${precision}: load ${run.loadMs} ms, first ${run.firstMs} ms, trace ${run.traceAgrees ? 'agrees' : 'DIFFERS ' + JSON.stringify(run.trace)}`);
      log(`${precision}: stage NMSE ${JSON.stringify(run.stageNmse)}`);
      log(`${precision}: instances ${JSON.stringify(run.compare)}`);
      // Stage by stage, with the allocator's peak after each (reset first): where a prediction's peak is reached
      // (bf16's warm peak was 1279 MiB against fp32's 761, unexplained).
      if (lib.resetPeakMemory) lib.resetPeakMemory(model.device);
      const prof = await model.predict(raw, { profile: true });
      run.profileMs = Object.fromEntries(Object.entries(prof.profile).map(([k, v]) => [k, +v.toFixed(1)]));
      log(`${precision}: profile ${JSON.stringify(run.profileMs)}`);
      if (prof.profilePeakBytes) {
        run.profilePeakMiB = Object.fromEntries(Object.entries(prof.profilePeakBytes).map(([k, v]) => [k, +(v / 2 ** 20).toFixed(1)]));
        log(`${precision}: peak MiB after each stage (profiled, synchronised) ${JSON.stringify(run.profilePeakMiB)}`);
      }
      // The op profile of one warm predict (no syncs between stages): top ops by device time, and the device's
      // busy and idle time between consecutive ops (on CUDA from event timestamps: does the GPU wait for JS?).
      t0 = performance.now();
      const opRun = await model.predict(raw, { profile: 'ops' });
      const opMs = performance.now() - t0;
      const op = opRun.opProfile;
      const dev = op.devices.find((d) => d.device === model.device) ?? { busyMs: 0, idleMs: 0, calls: 0, deviceTimed: false };
      run.opProfile = {
        predictMs: r3(opMs),
        device: model.device,
        deviceTimed: dev.deviceTimed,
        deviceBusyMs: r3(dev.busyMs),
        deviceIdleMs: r3(dev.idleMs),
        deviceIdleShare: r3(dev.idleMs / (dev.busyMs + dev.idleMs || 1)),
        deviceCalls: dev.calls,
        ...lib.summarizeOpProfile(op, 15),
        topIdleBefore: [...op.ops]
          .sort((a, b) => b.idleBeforeMs - a.idleBeforeMs)
          .slice(0, 8)
          .map((o) => ({ op: o.op, device: o.device, calls: o.calls, idleBeforeMs: r3(o.idleBeforeMs), meanMs: r3(o.meanMs) })),
      };
      // Where the device time of the model's ops goes by input shapes (one more warm predict): the shapes that a
      // kernel change should target first.
      lib.startOpProfile({ device: model.device, byShape: true });
      try {
        await model.predict(raw);
      } finally {
        const byShape = lib.stopOpProfile();
        run.opProfile.topByShape = [...byShape.ops]
          .sort((a, b) => b.totalMs - a.totalMs)
          .slice(0, 12)
          .map((o) => ({ op: o.op, shape: o.shape, calls: o.calls, totalMs: r3(o.totalMs), meanMs: r3(o.meanMs) }));
      }
      log(`${precision}: op profile: ${model.device} busy ${run.opProfile.deviceBusyMs} ms, idle between ops ${run.opProfile.deviceIdleMs} ms (${dev.calls} ops)`);
      log(`${precision}: op profile:\n${lib.formatOpProfile(op, { top: 12 })}`);

      // A/B: the same weights with deferred ops (queued without a completion each, no JS round trip per op) and
      // awaited ops; the model above has the default (deferred on a GPU), the second one the other mode. Instances
      // must be equal; timings interleaved, 8 pairs at most.
      run.deferredDefault = model.deferredOps;
      if (Date.now() < pStart + share * 0.4) {
        const om = await Sotr.load(ck, { device, precision, minSize: H, deferredOps: !model.deferredOps, onWarning: () => {} });
        const [am, dm] = model.deferredOps ? [om, model] : [model, om];
        try {
          const d0 = await om.predict(raw);
          await model.predict(raw);
          const same = JSON.stringify(d0.instances.map((i) => [i.label, i.score, i.box])) === JSON.stringify(first.instances.map((i) => [i.label, i.score, i.box]));
          const tA = [], tD = [];
          for (let k = 0; k < 8 && Date.now() < pStart + share * 0.5; k++) {
            let s0 = performance.now();
            await am.predict(raw);
            tA.push(performance.now() - s0);
            s0 = performance.now();
            await dm.predict(raw);
            tD.push(performance.now() - s0);
          }
          // Each mode's peak alone (reset before one warm predict; both models' weights are live, so compare the
          // two): does the deferred queue hold disposed tensors past their last use (bf16's unexplained peak)?
          const peakOf = async (m) => {
            if (!lib.resetPeakMemory) return null;
            lib.resetPeakMemory(model.device);
            await m.predict(raw);
            return MiB(memoryInfo(model.device).peakBytes);
          };
          const peakAwaitedMiB = await peakOf(am);
          const peakDeferredMiB = await peakOf(dm);
          const dOp = (await dm.predict(raw, { profile: 'ops' })).opProfile;
          const dd = dOp.devices.find((d) => d.device === model.device) ?? { busyMs: 0, idleMs: 0 };
          run.deferred = {
            sameInstances: same,
            pairs: tA.length,
            awaitedMedianMs: r3(quant(tA, 0.5)),
            deferredMedianMs: r3(quant(tD, 0.5)),
            deviceBusyMs: r3(dd.busyMs),
            deviceIdleMs: r3(dd.idleMs),
            deviceIdleShare: r3(dd.idleMs / (dd.busyMs + dd.idleMs || 1)),
            peakAwaitedMiB,
            peakDeferredMiB,
          };
          log(`${precision}: deferred ops A/B ${JSON.stringify(run.deferred)}`);
        } finally {
          await om.dispose().catch(() => {});
        }
      } else run.deferred = { skipped: 'budget' };

      // Warm batch 1, timed, with the allocator read after each predict.
      const times = [], live = [], reserved = [], rss = [], calls = [];
      const loopEnd = pStart + share * (batch > 1 ? 0.75 : 0.95);
      // The peak of these warm batch-1 predictions alone (the process-wide peak also holds the first predict's
      // intermediates and the A/B's second model).
      const peakBefore = memoryInfo(model.device).peakBytes;
      if (lib.resetPeakMemory) lib.resetPeakMemory(model.device);
      for (let k = 0; k < memReps; k++) {
        t0 = performance.now();
        await model.predict(raw);
        times.push(performance.now() - t0);
        const m = memoryInfo(model.device);
        live.push(m.liveBytes);
        reserved.push(m.liveBytes + m.cachedBytes);
        calls.push(m.allocCalls);
        rss.push(process.memoryUsage().rss);
        if (k >= 2 && Date.now() > loopEnd) break;
      }
      const n = times.length, mid = n >> 1;
      run.batch1 = {
        reps: n,
        medianMs: r3(quant(times, 0.5)),
        p10Ms: r3(quant(times, 0.1)),
        p90Ms: r3(quant(times, 0.9)),
        minMs: r3(Math.min(...times)),
        imagesPerS: r3(1000 / quant(times, 0.5)),
      };
      const m1 = memoryInfo(model.device);
      run.memory = {
        device: model.device,
        reps: n,
        liveFirstMiB: MiB(live[0]),
        liveLastMiB: MiB(live[n - 1]),
        liveSpreadMiB: MiB(Math.max(...live) - Math.min(...live)),
        reservedFirstMiB: MiB(reserved[0]),
        reservedMidMiB: MiB(reserved[mid]),
        reservedLastMiB: MiB(reserved[n - 1]),
        peakSoFarMiB: MiB(Math.max(peakBefore, m1.peakBytes)),
        peakBatch1MiB: lib.resetPeakMemory ? MiB(m1.peakBytes) : null,
        allocCallsSecondHalf: calls[n - 1] - calls[mid],
        rssFirstMiB: MiB(rss[0]),
        rssMidMiB: MiB(rss[mid]),
        rssLastMiB: MiB(rss[n - 1]),
        driverViewMiB: device === 'cpu' ? null : smiMiB(),
      };
      run.memory.flat = run.memory.liveSpreadMiB <= 1 && reserved[n - 1] - reserved[mid] <= 2 ** 20;
      log(`${precision}: batch 1 ${JSON.stringify(run.batch1)}`);
      log(`${precision}: memory ${JSON.stringify(run.memory)}`);

      // An array of images in one predict() call (the model runs them one after another, decoding ahead).
      if (batch > 1) {
        if (Date.now() + (batch + 1) * quant(times, 0.5) < pStart + share) {
          const imgs = Array.from({ length: batch }, () => raw);
          t0 = performance.now();
          const rs = await model.predict(imgs);
          const ms = performance.now() - t0;
          run.batchN = { images: batch, ms: Math.round(ms), imagesPerS: r3((1000 * batch) / ms), sameAsBatch1: rs.every((r) => r.instances.length === first.instances.length) };
          log(`${precision}: batch ${batch} ${JSON.stringify(run.batchN)}`);
        } else run.batchN = { skipped: 'budget' };
      }
      run.fallbackOps = model.fallbackOps;
    } catch (e) {
      // One precision failing (a kernel error, device out of memory) still leaves the others' results.
      run.error = e?.stack ?? String(e);
      log(`${precision}: error:`, run.error);
    } finally {
      await model?.dispose().catch(() => {});
    }
  }
  const fp32 = out.runs.find((r) => r.precision === 'fp32' && !r.skipped);
  out.ok = fp32 ? !fp32.error && fp32.traceAgrees && fp32.compare.matchedShare >= 0.95 && fp32.compare.matchedOtherLabel === 0 : null;
  finish(out.runs.some((r) => r.error) ? 1 : out.ok === false ? 2 : 0);
} catch (e) {
  out.error = e?.stack ?? String(e);
  log('error:', out.error);
  finish(1);
}
