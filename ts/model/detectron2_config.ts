/**
 * A detectron2 / AdelaiDet config file as Sotr.load options: the `config.yaml` a training run writes beside its
 * checkpoint, or the official repo's configs (`_BASE_` chains followed). A checkpoint holds the network's weights but
 * not its test-time settings (grids, input sizes, pixel statistics, thresholds): a model trained with other values
 * gives other results unless they are given too.
 *
 * Only the keys inference reads are used; a value the official inference code would run differently from this
 * library (another NMS, norm or input format) is refused, naming the key, rather than silently ignored. Keys that
 * describe the checkpoint's structure (classes, depth, widths) are kept to be checked against the loaded model.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigFileError } from '../errors';
import type { ConfigOverrides, SotrConfig } from './config';
import { pythonLiteral } from './python_literal';

/** What the file says about the checkpoint's structure (checked by `checkStructure`). */
export interface Detectron2Structure {
  /** MODEL.SOTR.NUM_CLASSES */
  numClasses?: number;
  /** MODEL.RESNETS.DEPTH */
  resnetDepth?: number;
  /** MODEL.FPN.OUT_CHANNELS */
  fpnChannels?: number;
  /** MODEL.SOTR.MASK_CHANNELS */
  maskChannels?: number;
  /** MODEL.SOTR.NUM_MASKS */
  numMasks?: number;
  /** MODEL.SOTR.NUM_KERNELS */
  numKernels?: number;
  /** MODEL.RESNETS.DEFORM_ON_PER_STAGE: which of res2..res5 have deformable convs. */
  deformStages?: boolean[];
}

/** A detectron2 config file read for SOTR inference (readDetectron2Config). */
export interface Detectron2Config {
  /** Sotr.load options for the test-time settings the files set; a setting they leave out keeps Sotr.load's default. */
  options: ConfigOverrides;
  /** What the files say about the checkpoint's structure. */
  structure: Detectron2Structure;
  /** The files read: the file given last, each `_BASE_` before the file that names it. */
  files: string[];
  /**
   * Throws a ConfigFileError listing every difference between `structure` and a loaded model's config (a config
   * file that belongs to another checkpoint); returns otherwise.
   */
  checkStructure(config: StructureOf): void;
}

type Tree = Record<string, unknown>;
type NumericStructure = Exclude<keyof Detectron2Structure, 'deformStages'>;
/** The model config fields checkStructure reads. */
export type StructureOf = Pick<SotrConfig, NumericStructure | 'dcnBlocks'>;

// The _BASE_ files a chain may have, and the bytes a file may hold (detectron2's configs are a few KB; 1 MiB of YAML
// takes ~3 s and ~170 MB to parse, 5 MB took 9 s and 870 MB): past either, refused before anything more is parsed.
const MAX_BASES = 16;
const MAX_FILE_BYTES = 1 << 20;

/**
 * Reads a detectron2 config file (YAML 1.1, as PyYAML reads it for detectron2) and the `_BASE_` file it names, relative
 * to it, merged as detectron2's `merge_from_file` does (a later file's keys replace the earlier's; lists are replaced,
 * not merged). Throws ConfigFileError (code 'SOTR_CONFIG') for a file that cannot be read or parsed, is over 1 MiB, a
 * value of the wrong type, or a setting this library does not run (naming the key and the file).
 *
 *   const cfg = await readDetectron2Config('output/config.yaml');
 *   const model = await Sotr.load('output/model_final.pth', { ...cfg.options, ...cocoCategories(annotations) });
 *   cfg.checkStructure(model.config);
 */
export async function readDetectron2Config(file: string): Promise<Detectron2Config> {
  const steps = readChain(file);
  let step = steps.next();
  while (!step.done) {
    const read = await readCappedAsync(step.value).then((text) => ({ text }), (error: unknown) => ({ error }));
    step = 'text' in read ? steps.next(read.text) : steps.throw(read.error);
  }
  return step.value;
}

/** @internal readDetectron2Config without awaiting (the CLI reads its options before anything runs). */
export function readDetectron2ConfigSync(file: string): Detectron2Config {
  const steps = readChain(file);
  let step = steps.next();
  while (!step.done) {
    let text: string | undefined;
    let error: unknown;
    try {
      text = readCappedSync(step.value);
    } catch (e) {
      error = e;
    }
    step = text !== undefined ? steps.next(text) : steps.throw(error);
  }
  return step.value;
}

/** A file over MAX_FILE_BYTES (its size unknown past the limit: a device, a pipe). */
class TooLarge extends Error {
  constructor() {
    super(`larger than ${MAX_FILE_BYTES / (1 << 20)} MiB, the most a config file may hold (detectron2's are a few KB): not a config file?`);
  }
}

// The text of a config file: UTF-8, as detectron2 opens it (Python raises UnicodeDecodeError on other bytes; read
// leniently, a Latin-1 "gaussi\xe9n" became "gaussi\ufffdn" and UTF-16 "not a mapping of keys"). A BOM is dropped.
const UTF8 = new TextDecoder('utf-8', { fatal: true });
function utf8(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    const utf16 = bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
    throw new Error(`not UTF-8 text${utf16 ? ' (UTF-16: save it as UTF-8)' : ''}: detectron2 reads config files as UTF-8`);
  }
}

// Reads at most MAX_FILE_BYTES + 1 bytes: a larger file is refused without reading it all.
function readCappedSync(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(MAX_FILE_BYTES + 1);
    let got = 0;
    for (let n = -1; n !== 0 && got < buf.length; got += n) n = fs.readSync(fd, buf, got, buf.length - got, null);
    if (got > MAX_FILE_BYTES) throw new TooLarge();
    return utf8(buf.subarray(0, got));
  } finally {
    fs.closeSync(fd);
  }
}

async function readCappedAsync(file: string): Promise<string> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(MAX_FILE_BYTES + 1);
    let got = 0;
    for (let n = -1; n !== 0 && got < buf.length; got += n) n = (await handle.read(buf, got, buf.length - got, null)).bytesRead;
    if (got > MAX_FILE_BYTES) throw new TooLarge();
    return utf8(buf.subarray(0, got));
  } finally {
    await handle.close();
  }
}

function parseTree(file: string, text: string): Tree {
  // YAML 1.1, as PyYAML (which detectron2 uses) reads it; tags such as !!python/tuple are read as plain lists. As
  // PyYAML, a key given twice takes its last value (checking unique keys also took quadratic time: minutes for a
  // mapping of 100 000 keys); logLevel 'error', not 'silent', which drops the error of a file of several documents.
  const doc = parseDocument(text.replace(/^\uFEFF/, ''), { version: '1.1', logLevel: 'error', uniqueKeys: false });
  if (doc.errors.length) {
    const first = doc.errors[0]!.message.split('\n')[0]!;
    // The parser's advice is for its callers ("please use YAML.parseAllDocuments()").
    const why = first.startsWith('Source contains multiple documents') ? `several YAML documents (--- ${first.replace(/^.* at line/, 'at line').replace(/:$/, '')}); a config is one` : first;
    throw new ConfigFileError(`${file}: not valid YAML: ${why}`, { details: { file } });
  }
  let tree: unknown;
  try {
    tree = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // Too many aliases (an expansion attack), a merge key (<<) of something not a mapping.
    throw new ConfigFileError(`${file}: not valid YAML: ${(e as Error).message}`, { cause: e, details: { file } });
  }
  if (tree === null || tree === undefined) return {};
  if (typeof tree !== 'object' || Array.isArray(tree)) throw new ConfigFileError(`${file}: not a detectron2 config (the file is not a mapping of keys)`, { details: { file } });
  return tree as Tree;
}

function baseOf(file: string, tree: Tree): string | null {
  const base = tree['_BASE_'];
  if (base === undefined || base === null) return null;
  if (Array.isArray(base)) {
    // Newer fvcore merges a list of bases in order; the loader AdelaiDet was written for takes one file.
    throw new ConfigFileError(`${file}: _BASE_ is a list (${JSON.stringify(base)}): a list of base files is not supported; give one file name (a base may name its own _BASE_, so files can be chained)`, { details: { file, key: '_BASE_' } });
  }
  if (typeof base !== 'string' || !base) throw new ConfigFileError(`${file}: _BASE_ must be a file name, received ${JSON.stringify(base)}`, { details: { file, key: '_BASE_' } });
  // fvcore downloads a URL base; this reader reads files only (nothing is downloaded): say so, not "no such file".
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(base)) {
    throw new ConfigFileError(`${file}: _BASE_ ${base} is a URL: bases are read from files only (nothing is downloaded); download it and name the file`, { details: { file, key: '_BASE_' } });
  }
  // As detectron2: a leading ~ is the home folder; anything else is relative to the file that names it.
  const named = base === '~' || base.startsWith('~/') ? path.join(os.homedir(), base.slice(1)) : base;
  return path.resolve(path.dirname(file), named);
}

// detectron2's merge: the later tree's keys win; mappings merge key by key, anything else is replaced.
function merge(into: Tree, from: Tree): Tree {
  for (const [k, v] of Object.entries(from)) {
    if (k === '_BASE_') continue;
    const was = into[k];
    into[k] = isTree(v) && isTree(was) ? merge({ ...was }, v) : v;
  }
  return into;
}

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// The one reader of a chain, for both the asynchronous and the synchronous reader: yields each file to read and is
// given its text (or the error reading it), parses each file once, and merges them.
function* readChain(file: string): Generator<string, Detectron2Config, string> {
  if (typeof file !== 'string' || !file) throw new ConfigFileError(`readDetectron2Config: expected a file path, received ${typeof file}`);
  const chain: Array<{ file: string; tree: Tree }> = [];
  let next: string | null = path.resolve(file);
  while (next) {
    if (chain.some((c) => c.file === next)) throw new ConfigFileError(`${next}: _BASE_ files name each other in a loop (${[...chain.map((c) => c.file), next].join(' → ')})`, { details: { file: next } });
    if (chain.length > MAX_BASES) throw new ConfigFileError(`${file}: more than ${MAX_BASES} _BASE_ files, the most a chain may have`, { details: { file, limit: MAX_BASES } });
    let text: string;
    try {
      text = yield next;
    } catch (e) {
      // A base that cannot be read is named with the file whose _BASE_ names it.
      const by = chain[chain.length - 1]?.file;
      const why = (e as Error).message;
      const details = { file: by ?? next, ...(by ? { key: '_BASE_' } : {}), ...(e instanceof TooLarge ? { limitBytes: MAX_FILE_BYTES } : {}) };
      throw new ConfigFileError(by ? `${by}: _BASE_ ${next}: ${why}` : `${next}: ${why}`, { cause: e, details });
    }
    const tree = parseTree(next, text);
    chain.push({ file: next, tree });
    next = baseOf(next, tree);
  }
  chain.reverse(); // bases first
  const merged = chain.reduce<Tree>((acc, c) => merge(acc, c.tree), {});
  // Which file set a key, for messages: the last one of the chain that has it.
  const setBy = (keyPath: string[]): string => {
    for (let i = chain.length - 1; i >= 0; i--) if (lookup(chain[i]!.tree, keyPath) !== undefined) return chain[i]!.file;
    return chain[chain.length - 1]!.file;
  };
  return fromTree(merged, chain.map((c) => c.file), setBy);
}

function lookup(tree: Tree, keyPath: string[]): unknown {
  let v: unknown = tree;
  for (const k of keyPath) {
    if (!isTree(v)) return undefined;
    v = v[k];
  }
  return v;
}

// A key read, given no value (~ or nothing): detectron2 would set None, which SOTR's inference cannot run with.
const NO_VALUE = 'has no value (None), which the official inference cannot run with: give one, or leave the key out';

// The keys of AdelaiDet's MODEL.SOTR section (adet/config/defaults.py).
const SOTR_KEYS = new Set([
  'INSTANCE_IN_FEATURES', 'FPN_INSTANCE_STRIDES', 'FPN_SCALE_RANGES', 'SIGMA', 'INSTANCE_IN_CHANNELS', 'INSTANCE_CHANNELS',
  'NUM_INSTANCE_CONVS', 'USE_DCN_IN_INSTANCE', 'TYPE_DCN', 'NUM_GRIDS', 'NUM_CLASSES', 'NUM_KERNELS', 'NORM', 'USE_COORD_CONV',
  'PRIOR_PROB', 'MASK_IN_FEATURES', 'MASK_IN_CHANNELS', 'MASK_CHANNELS', 'NUM_MASKS', 'NMS_PRE', 'SCORE_THR', 'UPDATE_THR',
  'MASK_THR', 'MAX_PER_IMG', 'RESIZE_INPUT_FACTOR', 'NMS_TYPE', 'NMS_KERNEL', 'NMS_SIGMA', 'LOSS',
]);

function fromTree(tree: Tree, files: string[], setBy: (keyPath: string[]) => string): Detectron2Config {
  const fail = (key: string, why: string): never => {
    const file = setBy(key.split('.'));
    throw new ConfigFileError(`${file}: ${key}: ${why}`, { details: { file, key } });
  };
  // yacs evaluates a string value as a Python literal ("(640, 672)" is a tuple, "1e-3" a number), keeping what it
  // cannot read as the string.
  const get = (key: string): unknown => {
    const v = lookup(tree, key.split('.'));
    const literal = typeof v === 'string' ? pythonLiteral(v) : null;
    return literal ? literal.value : v;
  };
  const show = (v: unknown) => (typeof v === 'number' ? String(v) : JSON.stringify(v)); // NaN, Infinity as such
  // The sections read: a mapping, or absent (detectron2 refuses a section replaced by a value: the null of a section
  // whose keys are all commented out would otherwise drop every key its _BASE_ gives, unsaid).
  for (const section of ['MODEL', 'MODEL.SOTR', 'MODEL.RESNETS', 'MODEL.FPN', 'INPUT']) {
    const v = lookup(tree, section.split('.'));
    if (v !== undefined && !isTree(v)) fail(section, `expected a mapping of keys, received ${show(v)}`);
  }
  const num = (key: string, o: { integer?: boolean; min?: number; positive?: boolean } = {}): number | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (v === null) return fail(key, NO_VALUE);
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(key, `expected a number, received ${show(v)}`);
    if (o.integer && !Number.isSafeInteger(v)) fail(key, `expected an integer, received ${show(v)}`);
    if (o.positive && !(v > 0)) fail(key, `expected a positive number, received ${show(v)}`);
    if (o.min !== undefined && v < o.min) fail(key, `expected at least ${o.min}, received ${show(v)}`);
    return v;
  };
  const str = (key: string): string | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (v === null) return fail(key, NO_VALUE);
    if (typeof v !== 'string') return fail(key, `expected a string, received ${show(v)}`);
    return v;
  };
  const nums = (key: string, length: number): number[] | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (v === null) return fail(key, NO_VALUE);
    if (!Array.isArray(v) || v.length !== length || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      return fail(key, `expected ${length} numbers, received ${show(v)}`);
    }
    return v as number[];
  };
  // A setting the official inference would run differently: refused rather than ignored.
  const only = (key: string, allowed: readonly unknown[], why: string) => {
    const v = get(key);
    if (v !== undefined && v !== null && !allowed.some((a) => JSON.stringify(a) === JSON.stringify(v))) fail(key, `${show(v)} is not supported (${why})`);
  };

  const arch = str('MODEL.META_ARCHITECTURE');
  if (arch !== undefined && arch !== 'SOTR') fail('MODEL.META_ARCHITECTURE', `${show(arch)}: not a SOTR config`);
  only('INPUT.FORMAT', ['BGR', 'RGB'], 'the network is fed BGR or RGB images');
  only('MODEL.SOTR.NMS_TYPE', ['matrix'], 'only Matrix NMS');
  only('MODEL.SOTR.NORM', ['GN'], "the mask branch's norm is GroupNorm");
  only('MODEL.RESNETS.NORM', ['FrozenBN', 'BN', 'SyncBN'], 'batch norm, frozen at inference');
  only('MODEL.RESNETS.NUM_GROUPS', [1], 'ResNet, not ResNeXt');
  only('MODEL.FPN.NORM', [''], 'the FPN has no norm');
  only('MODEL.FPN.FUSE_TYPE', ['sum'], "the FPN adds the upsampled level");
  only('MODEL.SOTR.INSTANCE_IN_FEATURES', [['p2', 'p3', 'p4', 'p5', 'p6']], 'the five instance levels P2..P6');
  only('MODEL.SOTR.MASK_IN_FEATURES', [['p2', 'p3', 'p4', 'p5']], 'the mask branch reads P2..P5');
  // As yacs does for any key its defaults lack (a misspelt SCORE_THRESH would otherwise be dropped, unsaid): for the
  // SOTR section, whose keys are AdelaiDet's (adet/config/defaults.py); detectron2's own sections are not checked.
  const sotr = lookup(tree, ['MODEL', 'SOTR']);
  if (isTree(sotr)) {
    const unknown = Object.keys(sotr).filter((k) => !SOTR_KEYS.has(k));
    if (unknown.length) fail(`MODEL.SOTR.${unknown[0]!}`, `not a key of AdelaiDet's SOTR config (detectron2 refuses it: "Non-existent config key")`);
  }

  const options: ConfigOverrides = {};
  const set = <K extends keyof ConfigOverrides>(k: K, v: ConfigOverrides[K] | undefined) => {
    if (v !== undefined) options[k] = v;
  };
  const minSize = get('INPUT.MIN_SIZE_TEST');
  // detectron2 reads MIN_SIZE_TEST 0 as "no resize", which this library does not offer.
  if (minSize === 0) fail('INPUT.MIN_SIZE_TEST', '0 (no resize) is not supported');
  set('minSize', num('INPUT.MIN_SIZE_TEST', { integer: true, min: 1 }));
  set('maxSize', num('INPUT.MAX_SIZE_TEST', { integer: true, min: 1 }));
  const format = str('INPUT.FORMAT');
  if (format !== undefined) options.inputFormat = format as 'BGR' | 'RGB';
  const mean = nums('MODEL.PIXEL_MEAN', 3);
  if (mean) options.pixelMean = mean as [number, number, number];
  const std = nums('MODEL.PIXEL_STD', 3);
  if (std) options.pixelStd = std as [number, number, number];
  const stride = get('MODEL.RESNETS.STRIDE_IN_1X1');
  if (stride !== undefined && stride !== null) {
    if (typeof stride !== 'boolean') fail('MODEL.RESNETS.STRIDE_IN_1X1', `expected true or false, received ${show(stride)}`);
    options.strideInOneByOne = stride as boolean;
  }
  const grids = nums('MODEL.SOTR.NUM_GRIDS', 5);
  if (grids) options.numGrids = grids;
  const strides = nums('MODEL.SOTR.FPN_INSTANCE_STRIDES', 5);
  if (strides) options.instanceStrides = strides;
  set('scoreThreshold', num('MODEL.SOTR.SCORE_THR'));
  set('maskThreshold', num('MODEL.SOTR.MASK_THR'));
  set('updateThreshold', num('MODEL.SOTR.UPDATE_THR'));
  set('nmsPre', num('MODEL.SOTR.NMS_PRE', { integer: true, min: 1 }));
  set('maxPerImage', num('MODEL.SOTR.MAX_PER_IMG', { integer: true, min: 1 }));
  const kernel = str('MODEL.SOTR.NMS_KERNEL');
  if (kernel !== undefined) {
    if (kernel !== 'gaussian' && kernel !== 'linear') fail('MODEL.SOTR.NMS_KERNEL', `expected "gaussian" or "linear", received ${show(kernel)}`);
    options.nmsKernel = kernel as 'gaussian' | 'linear';
  }
  set('nmsSigma', num('MODEL.SOTR.NMS_SIGMA', { positive: true }));

  const structure: Detectron2Structure = {};
  const want = (k: NumericStructure, key: string) => {
    const v = num(key, { integer: true, min: 1 });
    if (v !== undefined) structure[k] = v;
  };
  want('numClasses', 'MODEL.SOTR.NUM_CLASSES');
  want('resnetDepth', 'MODEL.RESNETS.DEPTH');
  want('fpnChannels', 'MODEL.FPN.OUT_CHANNELS');
  want('maskChannels', 'MODEL.SOTR.MASK_CHANNELS');
  want('numMasks', 'MODEL.SOTR.NUM_MASKS');
  want('numKernels', 'MODEL.SOTR.NUM_KERNELS');
  const deform = get('MODEL.RESNETS.DEFORM_ON_PER_STAGE');
  if (deform !== undefined && deform !== null) {
    if (!Array.isArray(deform) || deform.length !== 4 || !deform.every((x) => typeof x === 'boolean')) fail('MODEL.RESNETS.DEFORM_ON_PER_STAGE', `expected 4 booleans, received ${show(deform)}`);
    structure.deformStages = deform as boolean[];
  }
  const KEY: Record<keyof Detectron2Structure, [string, string]> = {
    numClasses: ['MODEL.SOTR.NUM_CLASSES', 'classes'],
    resnetDepth: ['MODEL.RESNETS.DEPTH', 'ResNet depth'],
    fpnChannels: ['MODEL.FPN.OUT_CHANNELS', 'FPN channels'],
    maskChannels: ['MODEL.SOTR.MASK_CHANNELS', 'mask-branch channels'],
    numMasks: ['MODEL.SOTR.NUM_MASKS', 'mask-feature channels'],
    numKernels: ['MODEL.SOTR.NUM_KERNELS', 'kernel values per cell'],
    deformStages: ['MODEL.RESNETS.DEFORM_ON_PER_STAGE', 'deformable stages'],
  };
  // The checkpoint's deformable blocks as DEFORM_ON_PER_STAGE says it (a stage with any).
  const actual = (config: StructureOf, k: keyof Detectron2Structure): unknown =>
    k === 'deformStages' ? config.dcnBlocks.map((b) => b.some(Boolean)) : config[k];
  const shown = (v: unknown) => (Array.isArray(v) ? `[${v.join(', ')}]` : String(v));
  return {
    options,
    structure,
    files,
    checkStructure(config) {
      const differing = (Object.keys(structure) as Array<keyof Detectron2Structure>).filter((k) => JSON.stringify(structure[k]) !== JSON.stringify(actual(config, k)));
      const diffs = differing.map((k) => `${KEY[k][0]} ${shown(structure[k])} (the checkpoint's ${KEY[k][1]}: ${shown(actual(config, k))})`);
      if (diffs.length) {
        // Named by the file that set the first difference (a _BASE_'s, possibly).
        const file = setBy(KEY[differing[0]!][0].split('.'));
        throw new ConfigFileError(`${file}: the config is not this checkpoint's: ${diffs.join('; ')}`, { details: { file, differences: diffs } });
      }
    },
  };
}
