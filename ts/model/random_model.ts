/**
 * A calibrated random-weight SOTR checkpoint with the official key names, generated in TypeScript (users have no
 * Python): for quickstarts, demos and tests. The weights mean nothing (the masks are arbitrary); they are drawn so
 * that the network behaves like a trained one where it matters: activations O(1) through the ResNet (He-scaled
 * convs, sane FrozenBN statistics, small residual-branch gains, the stem scaled for 0..255 inputs), ReZero gates
 * around 0.1, class logits whose bias lets a small share of grid cells pass the 0.1 threshold, and large kernel
 * weights so that mask logits sit away from 0. Same distributions as tests/reference/sotr_random.py (the values
 * differ: each side has its own seeded generator).
 *
 *   await writeRandomSotrCheckpoint('tiny.safetensors', { preset: 'tiny', seed: 1 });
 *   const model = await Sotr.load('tiny.safetensors');
 */
import { SotrRangeError } from '../errors';
import { checkOptions, keysOf } from '../options';
import { expectedSotrKeys } from '../checkpoint/config';
import { writeSafetensors } from '../checkpoint/safetensors';
import type { CheckpointEntry } from '../checkpoint/types';
import { turnTaker } from '../event_loop';

/**
 * Widths and depths of a random model: 'tiny' (1 block a stage, widths 8..48, 2 transformer layers), 'r50-tiny'
 * (R50's depth at the tiny widths), or the released models' structures 'r50', 'r101', 'r101-dcn'.
 */
export type RandomModelPreset = 'tiny' | 'r50-tiny' | 'r50' | 'r101' | 'r101-dcn';

/** The structure of a random model (a preset with the caller's overrides): blocks, widths, depths and classes. */
export interface RandomModelStructure {
  blocksPerStage: number[];
  stemChannels: number;
  bottleneckChannels: number[];
  stageOutChannels: number[];
  /** Stages (res2..res5) whose blocks are all DCNv2. */
  dcnStages: boolean[];
  fpnChannels: number;
  transformerDepth: number;
  numClasses: number;
  maskChannels: number;
  numMasks: number;
}

/** Options of the random-model writers: a preset, a seed, and any structure field to override. */
export interface RandomModelOptions extends Partial<RandomModelStructure> {
  /** Widths and depths (default 'tiny': default constants, widths 8..48, FPN 16, 2 transformer layers). */
  preset?: RandomModelPreset | undefined;
  /** Seed of the generator (default 1, as the CLI's `--model tiny` and the benchmarks: its tiny model finds instances on the example images, where some seeds find few). */
  seed?: number | undefined;
}

const RANDOM_MODEL_OPTION_KEYS = keysOf<RandomModelOptions>()(
  'preset',
  'seed',
  'blocksPerStage',
  'stemChannels',
  'bottleneckChannels',
  'stageOutChannels',
  'dcnStages',
  'fpnChannels',
  'transformerDepth',
  'numClasses',
  'maskChannels',
  'numMasks',
);

// Widths (tiny: 8..48 channels; full: the released models') and depths, combined into the presets.
const TINY_WIDTHS = {
  stemChannels: 8,
  bottleneckChannels: [4, 8, 8, 16],
  stageOutChannels: [16, 24, 32, 48],
  fpnChannels: 16,
  maskChannels: 32,
  numMasks: 32,
};
const FULL_WIDTHS = {
  stemChannels: 64,
  bottleneckChannels: [64, 128, 256, 512],
  stageOutChannels: [256, 512, 1024, 2048],
  fpnChannels: 256,
  maskChannels: 128,
  numMasks: 256,
};
const COMMON = { dcnStages: [false, false, false, false], transformerDepth: 12, numClasses: 80 };
const R50_BLOCKS = [3, 4, 6, 3];
const R101_BLOCKS = [3, 4, 23, 3];

const PRESETS: Record<RandomModelPreset, RandomModelStructure> = {
  tiny: { ...COMMON, ...TINY_WIDTHS, blocksPerStage: [1, 1, 1, 1], transformerDepth: 2 },
  'r50-tiny': { ...COMMON, ...TINY_WIDTHS, blocksPerStage: R50_BLOCKS },
  r50: { ...COMMON, ...FULL_WIDTHS, blocksPerStage: R50_BLOCKS },
  r101: { ...COMMON, ...FULL_WIDTHS, blocksPerStage: R101_BLOCKS },
  'r101-dcn': { ...COMMON, ...FULL_WIDTHS, blocksPerStage: R101_BLOCKS, dcnStages: [false, true, true, true] },
};

/** Calibration constants (kept equal to tests/reference/sotr_random.py). */
export const RANDOM_MODEL_CALIBRATION = Object.freeze({
  stemGain: 1 / 60,
  residualBn: [0.1, 0.3] as const,
  bnWeight: [0.5, 1.0] as const,
  bnBiasStd: 0.1,
  bnMeanStd: 0.1,
  bnVar: [0.5, 1.5] as const,
  gate: [0.05, 0.15] as const,
  cateWeight: 1.0,
  cateBias: -5.0,
  cateBiasStd: 0.4,
  kernelWeight: 4.0,
  kernelBias: -0.6,
  kernelBiasStd: 0.1,
  offsetBiasStd: 0.5,
});

/** xoshiro128** seeded by splitmix32; uniform [0, 1) and Box–Muller normals. */
class Rng {
  private s = new Uint32Array(4);
  private spare: number | null = null;
  constructor(seed: number) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }
  next(): number {
    const s = this.s;
    const r = Math.imul(((Math.imul(s[1]!, 5) << 7) | (Math.imul(s[1]!, 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = ((s[3]! << 11) | (s[3]! >>> 21)) >>> 0;
    return r / 4294967296;
  }
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

function fill(name: string, shape: number[], rng: Rng): Float32Array {
  const C = RANDOM_MODEL_CALIBRATION;
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  const normal = (std: number, mean = 0) => {
    for (let i = 0; i < n; i++) out[i] = mean + std * rng.normal();
    return out;
  };
  const uniform = (a: number, b: number) => {
    for (let i = 0; i < n; i++) out[i] = a + (b - a) * rng.next();
    return out;
  };
  if (name.endsWith('.g')) return uniform(...C.gate);
  if (name.includes('.norm.')) {
    if (name.endsWith('.norm.weight')) return name.includes('.conv3.') ? uniform(...C.residualBn) : uniform(...C.bnWeight);
    if (name.endsWith('.norm.bias')) return normal(C.bnBiasStd);
    if (name.endsWith('running_mean')) return normal(C.bnMeanStd);
    return uniform(...C.bnVar);
  }
  if (name.includes('conv2_offset')) {
    if (name.endsWith('.weight')) return normal(0.01 / Math.sqrt(fanIn));
    normal(C.offsetBiasStd);
    out.fill(0, (2 * shape[0]!) / 3); // modulation logits 0 → sigmoid 0.5
    return out;
  }
  if (name === 'backbone.bottom_up.stem.conv1.weight') return normal(Math.sqrt(2 / fanIn) * C.stemGain);
  if (name.startsWith('backbone.bottom_up.')) return normal(Math.sqrt(2 / fanIn));
  if (name.startsWith('backbone.fpn_')) return name.endsWith('.weight') ? normal(Math.sqrt(1 / fanIn)) : normal(0.05);
  if (name.startsWith('cate_head.transformer.')) {
    if (name.endsWith('.fn.0.weight')) return normal(Math.sqrt(2 / fanIn));
    if (name.endsWith('.weight')) return normal(Math.sqrt(1 / fanIn));
    return normal(0.02);
  }
  if (name === 'cate_head.cate_pred.weight') return normal(C.cateWeight / Math.sqrt(fanIn));
  if (name === 'cate_head.cate_pred.bias') return normal(C.cateBiasStd, C.cateBias);
  if (name === 'cate_head.kernel_pred.weight') return normal(C.kernelWeight / Math.sqrt(fanIn));
  if (name === 'cate_head.kernel_pred.bias') return normal(C.kernelBiasStd, C.kernelBias);
  if (name.startsWith('mask_head.')) {
    if (shape.length === 4) return normal(Math.sqrt(2 / fanIn));
    if (name.endsWith('.weight')) return uniform(0.5, 1.5);
    return normal(0.2);
  }
  throw new SotrRangeError(`randomSotrCheckpoint: no calibration for key '${name}'`);
}

/** The structure of a preset with the caller's overrides. */
export function randomModelStructure(options: RandomModelOptions = {}): RandomModelStructure {
  return structureFor(options, 'randomModelStructure');
}

/** randomModelStructure, its errors naming the function the caller called (`where`). */
function structureFor(options: RandomModelOptions, where: string): RandomModelStructure {
  checkOptions(where, options, RANDOM_MODEL_OPTION_KEYS);
  const preset = options.preset ?? 'tiny';
  const base = PRESETS[preset];
  if (!base) throw new SotrRangeError(`${where}: unknown preset '${String(preset)}' (tiny, r50-tiny, r50, r101, r101-dcn)`);
  const s: RandomModelStructure = structuredClone(base); // presets share arrays; the caller may change its copy
  for (const k of Object.keys(base) as Array<keyof RandomModelStructure>) {
    const v = options[k];
    if (v !== undefined) (s as unknown as Record<string, unknown>)[k] = Array.isArray(v) ? [...v] : v;
  }
  for (let i = 1; i < 4; i++) {
    if (s.stageOutChannels[i] === s.stageOutChannels[i - 1]) {
      throw new SotrRangeError(`${where}: consecutive stages need different output widths (the stride-2 first block has a projection shortcut only then)`);
    }
  }
  return s;
}

/** The state dict (official key names, float32) of a calibrated random model. */
export function randomSotrCheckpoint(options: RandomModelOptions = {}): Map<string, CheckpointEntry> {
  return randomCheckpointFor(options, 'randomSotrCheckpoint');
}

/** randomSotrCheckpoint, its errors naming the function the caller called (`where`). */
function randomCheckpointFor(options: RandomModelOptions, where: string): Map<string, CheckpointEntry> {
  return new Map(randomEntries(options, where));
}

/** randomCheckpointFor, handing the event loop a turn between tensors (an R50's 63 M values take seconds). */
async function randomCheckpointForAsync(options: RandomModelOptions, where: string): Promise<Map<string, CheckpointEntry>> {
  const take = turnTaker(8);
  const out = new Map<string, CheckpointEntry>();
  for (const [name, e] of randomEntries(options, where)) {
    out.set(name, e);
    await take();
  }
  return out;
}

/** The random model's tensors one at a time (its options checked at the first step), in key order. */
function* randomEntries(options: RandomModelOptions, where: string): Generator<[string, CheckpointEntry]> {
  const s = structureFor(options, where);
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new SotrRangeError(`${where}: seed must be an integer`);
  const shapes = expectedSotrKeys({
    blocksPerStage: s.blocksPerStage,
    stemChannels: s.stemChannels,
    bottleneckChannels: s.bottleneckChannels,
    stageOutChannels: s.stageOutChannels,
    dcnBlocks: s.blocksPerStage.map((n, i) => Array.from({ length: n }, () => s.dcnStages[i] === true)),
    fpnChannels: s.fpnChannels,
    transformerDepth: s.transformerDepth,
    numClasses: s.numClasses,
    numKernels: s.numMasks,
    maskChannels: s.maskChannels,
    numMasks: s.numMasks,
  });
  const rng = new Rng(seed);
  for (const [name, shape] of shapes) yield [name, { shape: [...shape], dtype: 'float32', data: fill(name, shape, rng) }];
}

/** Writes a calibrated random model as safetensors; returns its tensor and value counts. */
export async function writeRandomSotrCheckpoint(path: string, options: RandomModelOptions = {}): Promise<{ tensors: number; parameters: number }> {
  const sd = await randomCheckpointForAsync(options, 'writeRandomSotrCheckpoint');
  let parameters = 0;
  for (const e of sd.values()) parameters += e.data.length;
  await writeSafetensors(path, sd, {
    generator: 'sotr-node randomSotrCheckpoint',
    preset: options.preset ?? 'tiny',
    seed: String(options.seed ?? 1),
    note: 'random weights: the masks mean nothing',
  });
  return { tensors: sd.size, parameters };
}
