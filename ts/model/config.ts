/**
 * The SOTR model configuration: the official constants (docs: ../shared/docs/sotr-architecture.md §2–§10) plus
 * what the checkpoint's tensors say (ResNet depth, DCN blocks, widths, transformer depth, classes, mask channels).
 * Every constant can be overridden by a Sotr.load option of the same name, so tiny test models and other variants
 * run.
 */
import { SotrRangeError, SotrTypeError } from '../errors';
import { checkOptions, keysOf, nearestKey, shownValue } from '../options';
import type { SotrCheckpointConfig } from '../checkpoint/config';
import type { Precision } from '../device';
import { COCO_CATEGORY_IDS, COCO_CLASS_NAMES } from './coco';

/** The released model a checkpoint's block structure matches ('custom' for any other). */
export type SotrVariant = 'R50' | 'R101' | 'R101-DCN' | 'custom';
/** Matrix NMS decay kernel of the post-processing (`nmsKernel`). */
export type NmsKernel = 'gaussian' | 'linear';

/**
 * Post-processing options (§10). Each maps to the CLI flag of the same name (`scoreThreshold` → `--score-threshold`).
 */
export interface PostprocessOptions {
  /** Class-probability threshold, strict `>` (SCORE_THR, 0.1). */
  scoreThreshold?: number | undefined;
  /** Mask binarisation threshold, strict `>` (MASK_THR, 0.5). */
  maskThreshold?: number | undefined;
  /** Candidates kept before Matrix NMS (NMS_PRE, 500). */
  nmsPre?: number | undefined;
  /** Matrix NMS decay kernel (NMS_KERNEL, 'gaussian'). */
  nmsKernel?: NmsKernel | undefined;
  /** Gaussian sigma (NMS_SIGMA, 2). */
  nmsSigma?: number | undefined;
  /** Keep decayed scores `>=` this (UPDATE_THR, 0.05). */
  updateThreshold?: number | undefined;
  /** Final top-k (MAX_PER_IMG, 100). */
  maxPerImage?: number | undefined;
  /** Output filter applied after everything else: drop instances with score < minScore (0: none). */
  minScore?: number | undefined;
  /**
   * Only these classes: labels (`instance.label`, 0-based) or names (`instance.category`, e.g. `['person', 'car']`).
   * The model then runs as if it had no other class: their candidates are dropped when candidates are selected,
   * before `nmsPre`, Matrix NMS and `maxPerImage`. Matrix NMS decays a mask only by masks of its own class, so each
   * class kept gets the instances the official code gives it, and up to `maxPerImage` of them now. Fewer candidates
   * also means less post-processing. An empty list gives no instances; `null` (the default) keeps every class.
   * Resolved to sorted labels in `model.config.classes`.
   */
  classes?: readonly (number | string)[] | null | undefined;
}

/** The constants of the official code; each is a Sotr.load option of the same name. */
export interface SotrConstants extends Required<PostprocessOptions> {
  /** Attention heads of the twin transformer (8). */
  heads: number;
  /** GroupNorm groups of the mask branch (32). */
  groupNormGroups: number;
  /** GroupNorm epsilon (1e-5). */
  groupNormEps: number;
  /** FrozenBatchNorm epsilon (1e-5). */
  frozenBnEps: number;
  /** Grid sizes N of the five instance levels ([40, 36, 24, 16, 12]). */
  numGrids: number[];
  /** Per-level minimum mask area in mask-feature pixels (FPN_INSTANCE_STRIDES, [8, 8, 16, 32, 32]). */
  instanceStrides: number[];
  /** ResNet puts the stride-2 of res3..res5 in the 1×1 conv1 (true, detectron2 STRIDE_IN_1X1). */
  strideInOneByOne: boolean;
  /** Slope of the transformer's LeakyReLU (0.01, nn.LeakyReLU default). */
  leakyReluSlope: number;
  /** Twin attention order: 'parallel' (the released code) or 'sequential' (the paper's text). */
  attentionMode: 'parallel' | 'sequential';
  /** Test-time short side (R50 and R101-DCN: 1000; R101 and others: 800). */
  minSize: number;
  /** Test-time long side cap (1333). */
  maxSize: number;
  /** Padding multiple (32; a multiple of 32, the backbone's stride). */
  sizeDivisibility: number;
  /** The channel order the network is fed (INPUT.FORMAT: 'BGR', as the released models; 'RGB' for a model trained so). */
  inputFormat: 'BGR' | 'RGB';
  /** Mean subtracted after the resize, in inputFormat's channel order ([103.530, 116.280, 123.675], B G R). */
  pixelMean: [number, number, number];
  /** Std, in inputFormat's channel order ([1, 1, 1]). */
  pixelStd: [number, number, number];
}

/** Everything the network needs: the constants plus the checkpoint-derived structure. */
export interface SotrConfig extends SotrConstants, Omit<SotrCheckpointConfig, 'problems'> {
  variant: SotrVariant;
  /** The `classes` option resolved: sorted distinct labels, or null for every class. */
  classes: readonly number[] | null;
  /** Class names by contiguous label (COCO's for 80-class models unless given). */
  classNames: string[];
  /** Category ids by label: COCO's (80-class models) or the `cocoCategoryIds` option; else null (COCO results use label + 1). */
  cocoCategoryIds: number[] | null;
}

/** SotrConstants with its arrays read-only (SOTR_DEFAULTS's type: frozen at run time, so typed so). */
export type FrozenSotrConstants = { readonly [K in keyof SotrConstants]: SotrConstants[K] extends readonly unknown[] ? Readonly<SotrConstants[K]> : SotrConstants[K] };

/**
 * The official constants (every SotrConstants value but `minSize`, which depends on the variant: see
 * defaultMinSize). Frozen, its arrays too; each model's config holds copies.
 */
export const SOTR_DEFAULTS: Omit<FrozenSotrConstants, 'minSize'> = Object.freeze({
  heads: 8,
  groupNormGroups: 32,
  groupNormEps: 1e-5,
  frozenBnEps: 1e-5,
  numGrids: Object.freeze([40, 36, 24, 16, 12]) as readonly number[],
  instanceStrides: Object.freeze([8, 8, 16, 32, 32]) as readonly number[],
  strideInOneByOne: true,
  leakyReluSlope: 0.01,
  attentionMode: 'parallel',
  maxSize: 1333,
  sizeDivisibility: 32,
  inputFormat: 'BGR',
  pixelMean: Object.freeze([103.53, 116.28, 123.675]) as readonly number[],
  pixelStd: Object.freeze([1, 1, 1]) as readonly number[],
  scoreThreshold: 0.1,
  maskThreshold: 0.5,
  nmsPre: 500,
  nmsKernel: 'gaussian',
  nmsSigma: 2,
  updateThreshold: 0.05,
  maxPerImage: 100,
  minScore: 0,
  classes: null,
} as SotrConstants);

/** Recognises the released variants from the block structure (widths do not matter). */
export function detectVariant(c: Pick<SotrCheckpointConfig, 'blocksPerStage' | 'dcnBlocks'>): SotrVariant {
  const b = c.blocksPerStage.join(',');
  const anyDcn = c.dcnBlocks.some((s) => s.some(Boolean));
  if (b === '3,4,6,3' && !anyDcn) return 'R50';
  if (b === '3,4,23,3' && !anyDcn) return 'R101';
  if (b === '3,4,23,3') return 'R101-DCN';
  return 'custom';
}

/** MIN_SIZE_TEST of the variant's config: R50.yaml and R_101_DCN.yaml say 1000; Base (R101) says 800. */
export function defaultMinSize(v: SotrVariant): number {
  return v === 'R50' || v === 'R101-DCN' ? 1000 : 800;
}

const CONSTANT_KEYS = keysOf<SotrConstants>()(
  'heads',
  'groupNormGroups',
  'groupNormEps',
  'frozenBnEps',
  'numGrids',
  'instanceStrides',
  'strideInOneByOne',
  'leakyReluSlope',
  'attentionMode',
  'minSize',
  'maxSize',
  'sizeDivisibility',
  'inputFormat',
  'pixelMean',
  'pixelStd',
  'scoreThreshold',
  'maskThreshold',
  'nmsPre',
  'nmsKernel',
  'nmsSigma',
  'updateThreshold',
  'maxPerImage',
  'minScore',
  'classes',
);

/**
 * Constants to use instead of the official ones (any SotrConstants field), and the classes of a checkpoint trained
 * on another dataset: Sotr.load's options. `cocoCategories(annotations)` gives both class fields from a COCO
 * annotations file, in the order detectron2 trains with.
 */
export interface ConfigOverrides extends Partial<SotrConstants> {
  /** Class names by label, one non-empty name per class of the checkpoint (default: COCO's for 80-class checkpoints, else `class_<label>`). */
  classNames?: readonly string[] | undefined;
  /**
   * The dataset's category ids by label (`instance.cocoCategoryId`, the `category_id` of COCO results): distinct
   * integers, one per class of the checkpoint. Default: COCO's for 80-class checkpoints; other checkpoints have none
   * (`cocoCategoryId` null, and COCO results use label + 1).
   */
  cocoCategoryIds?: readonly number[] | undefined;
}

function posInt(name: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw new SotrRangeError(`Sotr.load: ${name} must be a positive integer, received ${shownValue(v)}`);
  return v as number;
}

function finite(name: string, v: unknown, min = -Infinity, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new SotrRangeError(`Sotr.load: ${name} must be a number in [${min}, ${max}], received ${shownValue(v)}`);
  }
  return v;
}

/**
 * Checks one post-processing option (used by load and by predict); `classes` comes back as sorted, distinct labels,
 * names resolved through `classNames`.
 */
export function checkPostprocessOption(where: string, key: keyof PostprocessOptions, v: unknown, classNames: readonly string[]): unknown {
  const fail = (what: string): never => {
    throw new SotrRangeError(`${where}: ${key} must be ${what}, received ${shownValue(v)}`);
  };
  switch (key) {
    case 'scoreThreshold':
    case 'maskThreshold':
    case 'updateThreshold':
    case 'minScore':
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) fail('a number in [0, 1]');
      return v;
    case 'nmsSigma':
      if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) fail('a positive number');
      return v;
    case 'nmsPre':
    case 'maxPerImage':
      if (!Number.isSafeInteger(v) || (v as number) < 1) fail('a positive integer');
      return v;
    case 'nmsKernel':
      if (v !== 'gaussian' && v !== 'linear') fail("'gaussian' or 'linear'");
      return v;
    case 'classes':
      return v === null ? null : classLabels(where, v, classNames);
    default:
      throw new SotrTypeError(`${where}: unknown post-processing option '${String(key)}'`);
  }
}

// `classes` as sorted distinct labels: each entry a label in [0, classNames.length) or one of classNames.
function classLabels(where: string, v: unknown, classNames: readonly string[]): number[] {
  if (!Array.isArray(v)) {
    throw new SotrTypeError(`${where}: classes must be an array of labels or class names (null for every class), received ${shownValue(v)}`);
  }
  // A name can be several classes' (a COCO dataset's categories may share one): it selects each of them.
  const byName = new Map<string, number[]>();
  classNames.forEach((n, i) => byName.set(n, [...(byName.get(n) ?? []), i]));
  // Names listed as they are, or quoted when one holds a comma (which would read as two names).
  const listed = classNames.slice(0, 100).map((n) => (classNames.some((x) => x.includes(',')) ? JSON.stringify(n) : n));
  const labels = new Set<number>();
  for (const c of v as unknown[]) {
    if (typeof c === 'string') {
      const named = byName.get(c);
      if (named === undefined) {
        const near = nearestKey(c.trim(), classNames);
        throw new SotrRangeError(
          `${where}: classes: no class is named ${JSON.stringify(c)}${near !== undefined ? ` (did you mean ${JSON.stringify(near)}?)` : ''}; ` +
            `the model's ${classNames.length} classes (model.config.classNames): ${listed.join(', ')}${classNames.length > 100 ? ', …' : ''}`,
        );
      }
      for (const label of named) labels.add(label);
    } else if (typeof c === 'number') {
      if (!Number.isSafeInteger(c) || c < 0 || c >= classNames.length) {
        throw new SotrRangeError(`${where}: classes: ${String(c)} is not a label of this model (integers 0 to ${classNames.length - 1})`);
      }
      labels.add(c);
    } else {
      throw new SotrTypeError(`${where}: classes must hold labels (numbers) or class names (strings), received ${shownValue(c)}`);
    }
  }
  return [...labels].sort((a, b) => a - b);
}

export const POSTPROCESS_KEYS = keysOf<PostprocessOptions>()(
  'scoreThreshold',
  'maskThreshold',
  'nmsPre',
  'nmsKernel',
  'nmsSigma',
  'updateThreshold',
  'maxPerImage',
  'minScore',
  'classes',
);

/** Combines the checkpoint's structure with the constants and the caller's overrides, validating both. */
export function resolveConfig(ck: SotrCheckpointConfig, o: ConfigOverrides = {}): SotrConfig {
  // Sotr.load and inspectCheckpoint pass their whole options: their keys are allowed, a misspelt constant is not.
  checkOptions('resolveConfig', o, LOAD_OPTION_KEYS);
  const variant = detectVariant(ck);
  // Arrays copied: a model's config is its own (editing one must not reach SOTR_DEFAULTS or other models).
  const k = Object.fromEntries(Object.entries(SOTR_DEFAULTS).map(([key, v]) => [key, Array.isArray(v) ? [...v] : v])) as unknown as SotrConstants;
  k.minSize = defaultMinSize(variant);
  for (const key of CONSTANT_KEYS) {
    const v = (o as Record<string, unknown>)[key];
    if (v !== undefined) (k as unknown as Record<string, unknown>)[key] = Array.isArray(v) ? [...v] : v;
  }
  posInt('heads', k.heads);
  posInt('groupNormGroups', k.groupNormGroups);
  finite('groupNormEps', k.groupNormEps, 0);
  finite('frozenBnEps', k.frozenBnEps, 0);
  if (!Array.isArray(k.numGrids) || k.numGrids.length !== 5) throw new SotrRangeError('Sotr.load: numGrids must list 5 grid sizes (one per level P2..P6)');
  k.numGrids.forEach((g, i) => posInt(`numGrids[${i}]`, g));
  if (!Array.isArray(k.instanceStrides) || k.instanceStrides.length !== 5) throw new SotrRangeError('Sotr.load: instanceStrides must list 5 numbers');
  k.instanceStrides.forEach((g, i) => finite(`instanceStrides[${i}]`, g, 0));
  if (typeof k.strideInOneByOne !== 'boolean') throw new SotrTypeError('Sotr.load: strideInOneByOne must be a boolean');
  finite('leakyReluSlope', k.leakyReluSlope);
  if (k.attentionMode !== 'parallel' && k.attentionMode !== 'sequential') throw new SotrRangeError("Sotr.load: attentionMode must be 'parallel' or 'sequential'");
  posInt('minSize', k.minSize);
  posInt('maxSize', k.maxSize);
  posInt('sizeDivisibility', k.sizeDivisibility);
  // The backbone halves the image five times and the FPN adds each level to the upsampled one above it: a padded
  // size that is not a multiple of 32 gives levels that do not line up (a shape error inside every prediction).
  if (k.sizeDivisibility % 32 !== 0) {
    throw new SotrRangeError(`Sotr.load: sizeDivisibility must be a multiple of 32 (the backbone's stride), received ${k.sizeDivisibility}`);
  }
  if (k.inputFormat !== 'BGR' && k.inputFormat !== 'RGB') throw new SotrRangeError(`Sotr.load: inputFormat must be 'BGR' or 'RGB', received ${shownValue(k.inputFormat)}`);
  for (const name of ['pixelMean', 'pixelStd'] as const) {
    const v = k[name];
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new SotrRangeError(`Sotr.load: ${name} must be 3 numbers (${k.inputFormat.split('').join(', ')})`);
    }
  }
  if (k.pixelStd.some((x) => x === 0)) throw new SotrRangeError('Sotr.load: pixelStd must not hold 0');
  // Structural consistency the network relies on.
  if (ck.transformerWidth !== ck.fpnChannels) {
    throw new SotrRangeError(`Sotr.load: transformer width ${ck.transformerWidth} must equal the FPN width ${ck.fpnChannels}`);
  }
  if (ck.fpnChannels % k.heads !== 0) throw new SotrRangeError(`Sotr.load: the transformer width ${ck.fpnChannels} is not divisible by heads = ${k.heads}`);
  if (ck.maskChannels % k.groupNormGroups !== 0 || ck.numMasks % k.groupNormGroups !== 0) {
    throw new SotrRangeError(
      `Sotr.load: GroupNorm with ${k.groupNormGroups} groups needs channel counts divisible by it (mask channels ${ck.maskChannels}, mask feature channels ${ck.numMasks}); pass groupNormGroups`,
    );
  }
  if (ck.kernelSize !== 1) throw new SotrRangeError(`Sotr.load: only 1×1 dynamic kernels are supported (kernel_pred gives ${ck.numKernels} values for ${ck.numMasks} mask channels)`);
  if (ck.transformerConvKernel % 2 !== 1) throw new SotrRangeError(`Sotr.load: the transformer's conv kernel must be odd, found ${ck.transformerConvKernel}`);

  let classNames: string[];
  if (o.classNames !== undefined) {
    if (!Array.isArray(o.classNames) || o.classNames.length !== ck.numClasses || !o.classNames.every((s) => typeof s === 'string')) {
      throw perClassError('classNames', 'strings', ck.numClasses, o.classNames);
    }
    // A name labels the instances and selects them (`classes`): an empty one is a slip (a blank line, a missing field).
    const empty = o.classNames.findIndex((s) => !s.trim());
    if (empty >= 0) {
      throw new SotrRangeError(`Sotr.load: classNames[${empty}] is empty: every class needs a name`, 'SOTR_INVALID_ARGUMENT', { details: { option: 'classNames', label: empty } });
    }
    classNames = [...o.classNames];
  } else if (ck.numClasses === COCO_CLASS_NAMES.length) {
    classNames = [...COCO_CLASS_NAMES];
  } else {
    classNames = Array.from({ length: ck.numClasses }, (_, i) => `class_${i}`);
  }
  for (const key of POSTPROCESS_KEYS) if (key !== 'classes') checkPostprocessOption('Sotr.load', key, k[key], classNames);
  return {
    ...k,
    classes: checkPostprocessOption('Sotr.load', 'classes', k.classes, classNames) as number[] | null,
    variant,
    resnetDepth: ck.resnetDepth,
    blocksPerStage: [...ck.blocksPerStage],
    stemChannels: ck.stemChannels,
    bottleneckChannels: [...ck.bottleneckChannels],
    stageOutChannels: [...ck.stageOutChannels],
    dcnBlocks: ck.dcnBlocks.map((s) => [...s]),
    deformGroups: ck.deformGroups,
    fpnChannels: ck.fpnChannels,
    transformerDepth: ck.transformerDepth,
    transformerWidth: ck.transformerWidth,
    transformerConvKernel: ck.transformerConvKernel,
    numClasses: ck.numClasses,
    numKernels: ck.numKernels,
    maskChannels: ck.maskChannels,
    numMasks: ck.numMasks,
    kernelSize: ck.kernelSize,
    classNames,
    cocoCategoryIds: categoryIdsOf(ck.numClasses, o.cocoCategoryIds),
  };
}

// "5 entries" for an array (its length is what is usually wrong), else the value.
function listShown(v: unknown): string {
  return Array.isArray(v) ? `${v.length} entr${v.length === 1 ? 'y' : 'ies'}` : shownValue(v);
}

// classNames / cocoCategoryIds not one per class: `details` holds the option and, for an array, both counts (the CLI
// names the file that gave them from these, not from the message).
function perClassError(option: 'classNames' | 'cocoCategoryIds', what: 'strings' | 'integers', numClasses: number, given: unknown): SotrRangeError {
  return new SotrRangeError(`Sotr.load: ${option} must be ${numClasses} ${what} (one per class of the checkpoint), received ${listShown(given)}`, 'SOTR_INVALID_ARGUMENT', {
    details: { option, expected: numClasses, ...(Array.isArray(given) ? { received: given.length } : {}) },
  });
}

// The cocoCategoryIds option checked (distinct integers, one per class), else COCO's ids for 80-class checkpoints.
function categoryIdsOf(numClasses: number, given: unknown): number[] | null {
  if (given === undefined) return numClasses === COCO_CATEGORY_IDS.length ? [...COCO_CATEGORY_IDS] : null;
  if (!Array.isArray(given) || given.length !== numClasses) {
    throw perClassError('cocoCategoryIds', 'integers', numClasses, given);
  }
  const seen = new Map<number, number>();
  given.forEach((id: unknown, label) => {
    if (!Number.isSafeInteger(id)) {
      throw new SotrRangeError(`Sotr.load: cocoCategoryIds[${label}] must be an integer, received ${shownValue(id)}`, 'SOTR_INVALID_ARGUMENT', { details: { option: 'cocoCategoryIds', label } });
    }
    const first = seen.get(id as number);
    // Two labels with one id would merge two classes in a COCO evaluation.
    if (first !== undefined) {
      throw new SotrRangeError(`Sotr.load: cocoCategoryIds gives labels ${first} and ${label} the same id ${String(id)}`, 'SOTR_INVALID_ARGUMENT', {
        details: { option: 'cocoCategoryIds', labels: [first, label] },
      });
    }
    seen.set(id as number, label);
  });
  return [...(given as number[])];
}

/** The ConfigOverrides keys (the settings a checkpoint can store: stored_settings.ts). */
export const CONFIG_OVERRIDE_KEYS = keysOf<ConfigOverrides>()(...CONSTANT_KEYS, 'classNames', 'cocoCategoryIds');

/** Every Sotr.load option, for the unknown-key check (the compiler keeps the list equal to the interface). */
export const LOAD_OPTION_KEYS = keysOf<SotrLoadOptions>()(
  ...CONFIG_OVERRIDE_KEYS,
  'useStoredSettings',
  'device',
  'precision',
  'deferredOps',
  'onWarning',
  'strict',
  'signal',
  'stateDictKey',
);

/** Options accepted by Sotr.load besides the constants. */
export interface SotrLoadOptions extends ConfigOverrides {
  /** 'auto' | 'cpu' | 'cuda' | 'cuda:N' (default 'auto'). */
  device?: string | undefined;
  /** Arithmetic of every op (default 'fp32'). */
  precision?: Precision | undefined;
  /**
   * Queue a prediction's ops on the model's device without waiting for each one's completion (no event-loop round
   * trip per op, so small GPU kernels do not wait for JavaScript). A failing op is reported by the prediction's next
   * host read, as the same typed error. Default: on for GPU models, off on the CPU; SOTR_DEFERRED_OPS=1 or 0 overrides.
   */
  deferredOps?: boolean | undefined;
  /** Warnings at load (unexpected keys, NaN or infinite weights, placeholders in the file): default process.emitWarning with code 'SOTR_MODEL'. */
  onWarning?: ((message: string) => void) | undefined;
  /** Fail on unexpected keys, and on NaN or infinite values in the model's tensors, instead of warning (default false). */
  strict?: boolean | undefined;
  /** Cancels loading. */
  signal?: AbortSignal | undefined;
  /** State-dict key inside a wrapped checkpoint (default: 'model' when present). */
  stateDictKey?: string | undefined;
  /**
   * Apply the settings a safetensors checkpoint stores (`sotr convert --config --class-names`; metadata
   * 'sotr_settings') under these options (default true; an option given here wins over the stored one).
   */
  useStoredSettings?: boolean | undefined;
}
