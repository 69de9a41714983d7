/**
 * SOTR model configuration inferred from a state_dict's names and shapes (key patterns of
 * docs/sotr-architecture.md §12 / Appendix A), and the full key → shape map a configuration expects.
 *
 * Every quantity is read from one "source" key; when that key is missing or has the wrong rank, the R50 default
 * is used and the key shows up in `problems`, so one pass reports every missing, unexpected and mis-shaped key.
 */
import { CheckpointKeyError } from '../errors';
import { checkOptions } from '../options';

/** A key whose tensor has another shape than the configuration expects. */
export interface ShapeProblem {
  key: string;
  expected: number[];
  actual: number[];
}

/** How a state_dict differs from what its inferred configuration expects: keys missing, unexpected, mis-shaped. */
export interface SotrKeyProblems {
  missing: string[];
  unexpected: string[];
  misshaped: ShapeProblem[];
}

/**
 * A SOTR configuration inferred from a state_dict's names and shapes (inferSotrConfig, checkSotrKeys): a quantity
 * whose source key is missing or mis-shaped takes the R50 default, and `problems` names that key.
 */
export interface SotrCheckpointConfig {
  /** 3 · Σ blocksPerStage + 2 (50 for [3,4,6,3], 101 for [3,4,23,3]). */
  resnetDepth: number;
  /** Bottleneck blocks in res2..res5. */
  blocksPerStage: number[];
  /** Channels of the stem conv (64). */
  stemChannels: number;
  /** Bottleneck (conv1/conv2) width per stage (64, 128, 256, 512). */
  bottleneckChannels: number[];
  /** Output channels per stage (256, 512, 1024, 2048). */
  stageOutChannels: number[];
  /** dcnBlocks[s][b]: block b of stage res(s+2) is a deformable (DCNv2) block (has conv2_offset). */
  dcnBlocks: boolean[][];
  /** Deformable groups (conv2_offset has 27 · groups output channels). */
  deformGroups: number;
  /** FPN width (256). */
  fpnChannels: number;
  /** Transformer layers (= blocks / 2; 12 in the released models). */
  transformerDepth: number;
  /** Transformer width (to_q rows; must equal fpnChannels). Head count is not stored in a checkpoint (8 in SOTR). */
  transformerWidth: number;
  /** Kernel size of the transformer's conv branches (3). */
  transformerConvKernel: number;
  /** Classes of cate_pred (80). */
  numClasses: number;
  /** Dynamic kernel vector length of kernel_pred (256). */
  numKernels: number;
  /** Mask-branch conv width (MASK_CHANNELS, 128). */
  maskChannels: number;
  /** Mask feature channels (NUM_MASKS, 256). */
  numMasks: number;
  /** Spatial size of the dynamic kernel: numKernels = kernelSize² · numMasks (1). */
  kernelSize: number;
  /** Keys missing, unexpected or mis-shaped against this configuration. */
  problems: SotrKeyProblems;
}

type ShapeMap = ReadonlyMap<string, { readonly shape: readonly number[] }>;

const R50_BLOCKS = [3, 4, 6, 3];
const BOTTOM = 'backbone.bottom_up';
const TBLK = 'cate_head.transformer.layers.blocks';
/** The mask branch always has four levels (P2..P5). */
const MASK_LEVELS = 4;

function shapeOf(entries: ShapeMap, key: string, rank: number): readonly number[] | undefined {
  const s = entries.get(key)?.shape;
  return s !== undefined && s.length === rank && s.every((d) => d > 0) ? s : undefined;
}

/** Infers the configuration and compares the entries against what it expects. */
export function inferSotrConfig(entries: ShapeMap): SotrCheckpointConfig {
  const dim = (key: string, rank: number, i: number): number | undefined => shapeOf(entries, key, rank)?.[i];

  // Block indices per stage and DCN markers, from the key names.
  const maxBlock = [-1, -1, -1, -1];
  const dcnKeys = new Set<string>();
  let maxT = -1;
  const blockRe = /^backbone\.bottom_up\.res([2-5])\.(\d+)\.(.*)$/;
  const tRe = /^cate_head\.transformer\.layers\.blocks\.(\d+)\./;
  for (const k of entries.keys()) {
    const m = blockRe.exec(k);
    if (m) {
      const s = Number(m[1]) - 2;
      const b = Number(m[2]);
      if (b < 10000) {
        maxBlock[s] = Math.max(maxBlock[s]!, b);
        if (m[3] === 'conv2_offset.weight' || m[3] === 'conv2_offset.bias') dcnKeys.add(`${s}.${b}`);
      }
      continue;
    }
    const t = tRe.exec(k);
    if (t && Number(t[1]) < 10000) maxT = Math.max(maxT, Number(t[1]));
  }
  const blocksPerStage = maxBlock.map((m, s) => (m >= 0 ? m + 1 : R50_BLOCKS[s]!));
  const stemChannels = dim(`${BOTTOM}.stem.conv1.weight`, 4, 0) ?? 64;
  const bottleneckChannels = [0, 1, 2, 3].map((s) => dim(`${BOTTOM}.res${s + 2}.0.conv1.weight`, 4, 0) ?? 64 << s);
  const stageOutChannels = [0, 1, 2, 3].map((s) => dim(`${BOTTOM}.res${s + 2}.0.conv3.weight`, 4, 0) ?? 256 << s);
  const dcnBlocks = blocksPerStage.map((n, s) => Array.from({ length: n }, (_, b) => dcnKeys.has(`${s}.${b}`)));
  let deformGroups = 1;
  for (const key of dcnKeys) {
    const [s, b] = key.split('.').map(Number);
    const o = dim(`${BOTTOM}.res${s! + 2}.${b}.conv2_offset.weight`, 4, 0);
    if (o !== undefined && o % 27 === 0) {
      deformGroups = o / 27;
      break;
    }
  }
  const fpnChannels = dim('backbone.fpn_lateral2.weight', 4, 0) ?? dim('backbone.fpn_output2.weight', 4, 0) ?? 256;
  const transformerDepth = maxT >= 0 ? Math.ceil((maxT + 1) / 2) : 12;
  const transformerWidth = dim(`${TBLK}.0.0.fn.fn.to_q.weight`, 2, 0) ?? fpnChannels;
  const transformerConvKernel = dim(`${TBLK}.1.0.fn.0.weight`, 4, 2) ?? 3;
  const numClasses = dim('cate_head.cate_pred.weight', 2, 0) ?? 80;
  const maskChannels = dim('mask_head.convs_all_levels.0.conv0.0.weight', 4, 0) ?? 128;
  const numMasks = dim('mask_head.conv_pred.0.weight', 4, 0) ?? 256;
  const numKernels = dim('cate_head.kernel_pred.weight', 2, 0) ?? numMasks;
  const ratio = numKernels / numMasks;
  const ks = Math.round(Math.sqrt(ratio));
  const kernelSize = ks >= 1 && ks * ks * numMasks === numKernels ? ks : 1;

  const config: SotrCheckpointConfig = {
    resnetDepth: 3 * blocksPerStage.reduce((a, b) => a + b, 0) + 2,
    blocksPerStage,
    stemChannels,
    bottleneckChannels,
    stageOutChannels,
    dcnBlocks,
    deformGroups,
    fpnChannels,
    transformerDepth,
    transformerWidth,
    transformerConvKernel,
    numClasses,
    numKernels,
    maskChannels,
    numMasks,
    kernelSize,
    problems: { missing: [], unexpected: [], misshaped: [] },
  };
  config.problems = compareSotrKeys(entries, expectedSotrKeys(config));
  return config;
}

/**
 * The full key → shape map of a SOTR state_dict with this configuration (backbone, FPN, transformer, heads, mask
 * head), in the order the modules register them. The transformer is expected at the FPN width, since it consumes
 * FPN features; a checkpoint whose transformer has another width reports its transformer keys as mis-shaped.
 */
export function expectedSotrKeys(
  c: Pick<
    SotrCheckpointConfig,
    | 'blocksPerStage'
    | 'stemChannels'
    | 'bottleneckChannels'
    | 'stageOutChannels'
    | 'dcnBlocks'
    | 'fpnChannels'
    | 'transformerDepth'
    | 'numClasses'
    | 'numKernels'
    | 'maskChannels'
    | 'numMasks'
  > & { deformGroups?: number; transformerConvKernel?: number },
): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const conv = (name: string, shape: number[], norm: boolean): void => {
    out.set(`${name}.weight`, shape);
    if (norm) for (const p of ['weight', 'bias', 'running_mean', 'running_var']) out.set(`${name}.norm.${p}`, [shape[0]!]);
  };
  const F = c.fpnChannels;
  const dg = c.deformGroups ?? 1;
  const tk = c.transformerConvKernel ?? 3;
  conv(`${BOTTOM}.stem.conv1`, [c.stemChannels, 3, 7, 7], true);
  let inCh = c.stemChannels;
  for (let s = 0; s < 4; s++) {
    const bn = c.bottleneckChannels[s]!;
    const oc = c.stageOutChannels[s]!;
    for (let b = 0; b < c.blocksPerStage[s]!; b++) {
      const p = `${BOTTOM}.res${s + 2}.${b}`;
      const cin = b === 0 ? inCh : oc;
      if (b === 0 && cin !== oc) conv(`${p}.shortcut`, [oc, cin, 1, 1], true);
      conv(`${p}.conv1`, [bn, cin, 1, 1], true);
      if (c.dcnBlocks[s]?.[b]) {
        out.set(`${p}.conv2_offset.weight`, [27 * dg, bn, 3, 3]);
        out.set(`${p}.conv2_offset.bias`, [27 * dg]);
      }
      conv(`${p}.conv2`, [bn, bn, 3, 3], true);
      conv(`${p}.conv3`, [oc, bn, 1, 1], true);
    }
    inCh = oc;
  }
  for (let l = 2; l <= 5; l++) {
    out.set(`backbone.fpn_lateral${l}.weight`, [F, c.stageOutChannels[l - 2]!, 1, 1]);
    out.set(`backbone.fpn_lateral${l}.bias`, [F]);
    out.set(`backbone.fpn_output${l}.weight`, [F, F, 3, 3]);
    out.set(`backbone.fpn_output${l}.bias`, [F]);
  }
  for (let L = 0; L < c.transformerDepth; L++) {
    for (const h of [0, 1]) {
      const p = `${TBLK}.${2 * L}.${h}.fn`;
      out.set(`${p}.g`, []);
      out.set(`${p}.fn.to_q.weight`, [F, F]);
      out.set(`${p}.fn.to_kv.weight`, [2 * F, F]);
      out.set(`${p}.fn.to_out.weight`, [F, F]);
      out.set(`${p}.fn.to_out.bias`, [F]);
    }
    for (const h of [0, 1]) {
      const p = `${TBLK}.${2 * L + 1}.${h}`;
      out.set(`${p}.g`, []);
      for (const j of [0, 2]) {
        out.set(`${p}.fn.${j}.weight`, [F, F, tk, tk]);
        out.set(`${p}.fn.${j}.bias`, [F]);
      }
    }
  }
  out.set('cate_head.cate_pred.weight', [c.numClasses, F]);
  out.set('cate_head.cate_pred.bias', [c.numClasses]);
  out.set('cate_head.kernel_pred.weight', [c.numKernels, F]);
  out.set('cate_head.kernel_pred.bias', [c.numKernels]);
  const M = c.maskChannels;
  for (let lvl = 0; lvl < MASK_LEVELS; lvl++) {
    for (let j = 0; j < Math.max(1, lvl); j++) {
      const p = `mask_head.convs_all_levels.${lvl}.conv${j}`;
      out.set(`${p}.0.weight`, [M, j === 0 ? F : M, 3, 3]);
      out.set(`${p}.1.weight`, [M]);
      out.set(`${p}.1.bias`, [M]);
    }
  }
  out.set('mask_head.conv_pred.0.weight', [c.numMasks, M, 1, 1]);
  out.set('mask_head.conv_pred.1.weight', [c.numMasks]);
  out.set('mask_head.conv_pred.1.bias', [c.numMasks]);
  return out;
}

function compareSotrKeys(entries: ShapeMap, expected: Map<string, number[]>): SotrKeyProblems {
  const p: SotrKeyProblems = { missing: [], unexpected: [], misshaped: [] };
  for (const [k, shape] of expected) {
    const e = entries.get(k);
    if (e === undefined) p.missing.push(k);
    else if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      p.misshaped.push({ key: k, expected: shape, actual: [...e.shape] });
    }
  }
  for (const k of entries.keys()) if (!expected.has(k)) p.unexpected.push(k);
  // The kernel head must produce kernelSize² · numMasks values.
  const kp = entries.get('cate_head.kernel_pred.weight');
  const conv = entries.get('mask_head.conv_pred.0.weight');
  if (kp && conv && kp.shape.length === 2 && conv.shape.length === 4) {
    const n = kp.shape[0]!;
    const m = conv.shape[0]!;
    const ks = Math.round(Math.sqrt(n / m));
    if (!(ks >= 1 && ks * ks * m === n) && !p.misshaped.some((x) => x.key === 'cate_head.kernel_pred.weight')) {
      p.misshaped.push({ key: 'cate_head.kernel_pred.weight', expected: [m, kp.shape[1]!], actual: [...kp.shape] });
    }
  }
  return p;
}

/**
 * Infers the configuration and throws CheckpointKeyError listing every missing, unexpected and mis-shaped key
 * (all at once; the full lists are in `error.details`) unless the state_dict matches it exactly.
 */
export function checkSotrKeys(entries: ShapeMap, options: { allowUnexpected?: boolean } = {}): SotrCheckpointConfig {
  checkOptions('checkSotrKeys', options, ['allowUnexpected']);
  const c = inferSotrConfig(entries);
  const { missing, unexpected, misshaped } = c.problems;
  const unexp = options.allowUnexpected ? [] : unexpected;
  if (missing.length || unexp.length || misshaped.length) {
    const list = (xs: string[]): string => (xs.length > 20 ? `${xs.slice(0, 20).join(', ')}, … (${xs.length - 20} more)` : xs.join(', '));
    const parts: string[] = [];
    if (missing.length) parts.push(`${missing.length} missing: ${list(missing)}`);
    if (unexp.length) parts.push(`${unexp.length} unexpected: ${list(unexp)}`);
    if (misshaped.length) {
      parts.push(`${misshaped.length} mis-shaped: ${list(misshaped.map((m) => `${m.key} [${m.actual}] (expected [${m.expected}])`))}`);
    }
    throw new CheckpointKeyError(`the checkpoint does not match a SOTR model: ${parts.join('; ')}`, {
      details: { missing, unexpected: unexp, misshaped },
    });
  }
  return c;
}
