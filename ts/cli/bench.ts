/**
 * `sotr bench`: how fast this machine runs SOTR with this build, without the repository's benchmark scripts or
 * PyTorch: load time, the first prediction, batch-1 latency (median and spread, per stage) and pipelined throughput
 * (predictEach), and memory (host peak RSS; on a GPU the allocator's live, peak and cached bytes). On a checkpoint
 * and an image of the user's, or on a random-weight model of a released structure (written once to a cache folder;
 * nothing is downloaded) and a synthetic image.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Sotr, syntheticImage, type Prediction } from '../model/sotr';
import type { RandomModelPreset } from '../model/random_model';
import { pipelineDepth } from '../model/admission';
import { backendInfo, memoryInfo, resetPeakMemory, resolveDevice, setNumThreads, synchronize } from '../device';
import { BENCH_USAGE, EXIT, UsageError, count, deviceOption, flag, num, packageVersion, parse, precisionOption, str, threadsOption } from './args';
import { randomCheckpoint } from './model';
import type { CliIO } from './predict';
import type { ImageInput } from '../model/preprocess';

const PRESETS: readonly RandomModelPreset[] = ['tiny', 'r50', 'r101', 'r101-dcn'];
const STAGES = ['decode', 'resize', 'backbone', 'transformer', 'heads', 'maskBranch', 'postprocess'] as const;

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]!;
};
const ms = (v: number): string => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v >= 100 ? 0 : 1)} ms`);
const MiB = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

export interface BenchReport {
  version: string;
  device: string;
  deviceName: string;
  precision: string;
  model: string;
  randomWeights: boolean;
  image: string;
  width: number;
  height: number;
  loadMs: number;
  firstMs: number;
  latency: { runs: number; medianMs: number; p10Ms: number; p90Ms: number; minMs: number; stagesMs: Record<string, number> };
  throughput: { images: number; imagesPerS: number; inFlight: number } | null;
  instances: number;
  hostPeakRssMiB: number;
  deviceMemory: { liveMiB: number; peakMiB: number; cachedMiB: number } | null;
  /** The model's load warnings (unexpected keys, ...), also printed on stderr. */
  warnings: string[];
}

export async function benchCommand(argv: string[], io: CliIO): Promise<number> {
  const p = parse('bench', argv, {
    model: { type: 'string', short: 'm' },
    image: { type: 'string' },
    size: { type: 'string' },
    device: { type: 'string' },
    precision: { type: 'string' },
    threads: { type: 'string' },
    runs: { type: 'string' },
    throughput: { type: 'string' },
    cache: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, false);
  if (flag(p, 'help')) {
    io.stdout.write(BENCH_USAGE + '\n');
    return EXIT.ok;
  }
  const modelArg = str(p, 'model') ?? 'r50';
  const imageArg = str(p, 'image');
  const sizeArg = str(p, 'size');
  if (imageArg && sizeArg) throw new UsageError('--image and --size are alternatives: the size is the image\'s', 'bench');
  let [width, height] = [1333, 800];
  if (sizeArg !== undefined) {
    const m = /^(\d+)x(\d+)$/.exec(sizeArg.trim());
    if (!m || +m[1]! < 1 || +m[2]! < 1 || +m[1]! > 20000 || +m[2]! > 20000) throw new UsageError(`--size must be WIDTHxHEIGHT (e.g. 1333x800), received '${sizeArg}'`, 'bench');
    [width, height] = [+m[1]!, +m[2]!];
  }
  const device = deviceOption(p);
  resolveDevice(device); // a device that is not there fails now, before a random model is written
  const precision = precisionOption(p) ?? 'fp32';
  const threads = threadsOption(p);
  if (threads !== undefined) setNumThreads(threads);
  const runsArg = num(p, 'runs', { min: 1, max: 10000, integer: true });
  const throughputArg = num(p, 'throughput', { min: 0, max: 100000, integer: true });
  const json = flag(p, 'json');
  const log = (m: string): void => {
    if (!json) io.stderr.write(m + '\n');
  };

  // The model: a checkpoint, or a random one of a released structure written once to the cache folder.
  const random = (PRESETS as readonly string[]).includes(modelArg);
  let checkpoint = modelArg;
  if (random) {
    checkpoint = await randomCheckpoint(str(p, 'cache') ?? path.join(os.tmpdir(), 'sotr-node-bench'), modelArg as RandomModelPreset, log);
  } else if (!fs.existsSync(checkpoint)) {
    throw new UsageError(`--model: no such file '${checkpoint}' (or a random model: ${PRESETS.join(', ')})`, 'bench');
  }
  let image: ImageInput;
  if (imageArg) {
    image = fs.readFileSync(imageArg); // decoded at each prediction, as a path would be
  } else {
    image = syntheticImage(width, height);
  }

  let t0 = performance.now();
  // Warnings go to stderr with --json too: the numbers may come from a checkpoint that is not what it seems.
  const warnings: string[] = [];
  const onWarning = (m: string): void => {
    warnings.push(m);
    io.stderr.write(`warning: ${m}\n`);
  };
  const model = await Sotr.load(checkpoint, { device, precision, onWarning });
  const loadMs = performance.now() - t0;
  try {
    const onGpu = model.device !== 'cpu';
    const runs = runsArg ?? (onGpu ? 50 : 5);
    const nThroughput = throughputArg ?? (onGpu ? 100 : 2 * runs);
    const info = backendInfo();
    const dev = info.cuda.devices.find((d) => `cuda:${d.index}` === model.device);
    const deviceName = dev ? dev.name : `CPU, ${info.cpu.threads} threads, ${info.cpu.simd}`;
    log(`sotr-node ${packageVersion()} on ${model.device} (${deviceName}), precision ${model.precision}`);
    log(`model ${random ? `${modelArg} (random weights: more candidates than a trained model, so more post-processing)` : checkpoint}, loaded in ${ms(loadMs)}`);

    t0 = performance.now();
    const first: Prediction = await model.predict(image, { profile: true });
    const firstMs = performance.now() - t0;
    [width, height] = [first.width, first.height];
    log(`image ${imageArg ?? 'synthetic'} ${width}x${height}; first prediction ${ms(firstMs)} (packs the weights${onGpu ? ', loads the kernels' : ''})`);

    if (onGpu) {
      await synchronize(model.device);
      resetPeakMemory(model.device);
    }
    // The latency of plain predictions; the stages from a few profiled ones after them (the profile synchronises
    // the device between stages, which a GPU's latency must not pay).
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      t0 = performance.now();
      await model.predict(image);
      times.push(performance.now() - t0);
    }
    const stages: Record<string, number[]> = {};
    for (let i = 0; i < Math.min(runs, 3); i++) {
      const r = await model.predict(image, { profile: true });
      for (const s of STAGES) (stages[s] ??= []).push(r.profile?.[s] ?? 0);
    }
    const instances = first.instances.length;
    const stagesMs = Object.fromEntries(STAGES.map((s) => [s, quantile(stages[s]!, 0.5)]));
    const latency = { runs, medianMs: quantile(times, 0.5), p10Ms: quantile(times, 0.1), p90Ms: quantile(times, 0.9), minMs: Math.min(...times), stagesMs };
    log(`latency, batch 1, ${count(runs, 'run')}: median ${ms(latency.medianMs)} (p10 ${ms(latency.p10Ms)}, p90 ${ms(latency.p90Ms)})`);
    log(`  stages (median of ${count(Math.min(runs, 3), 'profiled run')}, the device synchronised between them): ${STAGES.map((s) => `${s} ${ms(stagesMs[s]!)}`).join(', ')}`);

    let throughput: BenchReport['throughput'] = null;
    if (nThroughput > 0) {
      // Pipelined as predictEach runs it: the next image decodes while this one runs; on a GPU two run at once.
      function* images(): Generator<ImageInput> {
        for (let i = 0; i < nThroughput; i++) yield image;
      }
      t0 = performance.now();
      for await (const item of model.predictEach(images())) if (item.error) throw item.error;
      const s = (performance.now() - t0) / 1000;
      throughput = { images: nThroughput, imagesPerS: nThroughput / s, inFlight: pipelineDepth(model.device) };
      log(`throughput, predictEach over ${count(nThroughput, 'image')}: ${throughput.imagesPerS.toFixed(throughput.imagesPerS >= 10 ? 1 : 2)} images/s`);
    }

    const hostPeakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
    let deviceMemory: BenchReport['deviceMemory'] = null;
    if (onGpu) {
      const m = memoryInfo(model.device);
      deviceMemory = { liveMiB: Math.round(m.liveBytes / 2 ** 20), peakMiB: Math.round(m.peakBytes / 2 ** 20), cachedMiB: Math.round(m.cachedBytes / 2 ** 20) };
      log(`device memory: live ${MiB(m.liveBytes)} (the weights), peak ${MiB(m.peakBytes)} during the timed runs, cached ${MiB(m.cachedBytes)}`);
    }
    log(`host: peak RSS ${hostPeakRssMiB} MiB`);
    const report: BenchReport = {
      version: packageVersion(),
      device: model.device,
      deviceName,
      precision: model.precision,
      model: random ? modelArg : checkpoint,
      randomWeights: random,
      image: imageArg ?? 'synthetic',
      width,
      height,
      loadMs,
      firstMs,
      latency,
      throughput,
      instances,
      hostPeakRssMiB,
      deviceMemory,
      warnings,
    };
    if (json) io.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return EXIT.ok;
  } finally {
    await model.dispose();
  }
}
