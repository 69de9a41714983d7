/**
 * The model's settings beyond its weights, for `sotr predict`: a detectron2 config (`--config`: a training run's
 * config.yaml, or the repo's) and the settings a safetensors model stores (`sotr convert --config --class-names`).
 * Their post-processing and input sizes fill in what no flag gives (a flag wins, then --config, then the stored
 * settings), so they are recorded with the run's settings as usual; their network settings (grids, strides, input
 * format, pixel statistics) go to the model as they are.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { safetensorsMetadata } from '../checkpoint';
import { ConfigFileError } from '../errors';
import type { ConfigOverrides } from '../model/config';
import { readDetectron2ConfigSync, type Detectron2Config } from '../model/detectron2_config';
import { readStoredSettings } from '../model/stored_settings';
import { UsageError } from './args';
import type { ClassNamesFile } from './coco';
import type { ModelConfigFile, PostprocessFlags } from './segmenter';

const POST_KEYS = ['scoreThreshold', 'maskThreshold', 'nmsPre', 'nmsKernel', 'nmsSigma', 'updateThreshold', 'maxPerImage', 'minScore'] as const;
// The model's settings the run record has no key of its own for (a stored file can hold any constant).
const NETWORK_KEYS = [
  'numGrids', 'instanceStrides', 'inputFormat', 'pixelMean', 'pixelStd', 'strideInOneByOne',
  'heads', 'groupNormGroups', 'groupNormEps', 'frozenBnEps', 'leakyReluSlope', 'attentionMode', 'sizeDivisibility',
] as const;

/** Reads --config (a usage error for what it cannot read). */
export function readConfigFile(file: string): Detectron2Config {
  try {
    return readDetectron2ConfigSync(file);
  } catch (e) {
    if (e instanceof ConfigFileError) throw new UsageError(`--config ${e.message}`);
    throw e;
  }
}

/**
 * The settings a safetensors model stores, read from its header before the load (so that the run's settings record
 * what the model will use); null for another kind of file, or one without settings. A file that is not there, or
 * not a file, is left to the load (which says so); a damaged header or stored settings are refused here as the load
 * would refuse them (CheckpointFormatError naming the file).
 */
export async function readModelStoredSettings(model: string): Promise<ConfigOverrides | null> {
  let st: fs.Stats;
  try {
    st = fs.statSync(model);
  } catch {
    return null;
  }
  if (!st.isFile()) return null;
  return readStoredSettings(await safetensorsMetadata(model), model);
}

/**
 * Merges the settings of `config` (--config) over `stored` (the model file's) into the flags' post-processing
 * (`post`, where no flag set one), and returns the rest: the sizes, and the network's settings to load with and to
 * record. Null when there is neither.
 */
export function modelSettings(post: PostprocessFlags, model: string, config: { file: string; cfg: Detectron2Config } | undefined, stored: ConfigOverrides | null): ModelConfigFile | null {
  if (!config && !stored) return null;
  const o: ConfigOverrides = { ...(stored ?? {}), ...(config?.cfg.options ?? {}) };
  const sigmaFlag = post.nmsSigma !== undefined;
  const kernelFlag = post.nmsKernel !== undefined;
  for (const k of POST_KEYS) {
    const v = o[k];
    if (post[k] === undefined && v !== undefined) (post as Record<string, unknown>)[k] = v;
  }
  // A stored class filter (the API can store any option): as --classes would give it.
  if (post.classes === undefined && Array.isArray(o.classes)) post.classes = [...o.classes];
  if (post.nmsKernel === 'linear') {
    // A config file lists NMS_SIGMA whatever the kernel (the defaults have it): unused with the linear one.
    if (sigmaFlag && !kernelFlag) {
      const from = config?.cfg.options.nmsKernel === 'linear' ? `--config ${config.file} sets MODEL.SOTR.NMS_KERNEL linear` : `${path.basename(model)} stores nmsKernel linear`;
      throw new UsageError(`--nms-sigma is only used with the gaussian kernel, and ${from}`);
    }
    delete post.nmsSigma;
  }
  // The network's settings: every one given to the model (--config's over the stored ones: a value of --config's
  // equal to the default must still replace a stored one, which Sotr.load would otherwise apply under it).
  const load: ModelConfigFile['load'] = {};
  for (const k of NETWORK_KEYS) {
    const v = o[k];
    if (v !== undefined) (load as Record<string, unknown>)[k] = v;
  }
  const storedLabel = `${path.basename(model)}'s stored settings`;
  // --config's value wins over the stored one (o above): name the file that gave each size.
  const sizeFrom: ModelConfigFile['sizeFrom'] = {};
  for (const [k, key] of [['minSize', 'INPUT.MIN_SIZE_TEST'], ['maxSize', 'INPUT.MAX_SIZE_TEST']] as const) {
    if (config?.cfg.options[k] !== undefined) sizeFrom[k] = `${config.file} ${key}`;
    else if (stored?.[k] !== undefined) sizeFrom[k] = storedLabel;
  }
  return {
    file: config ? (stored ? `${config.file} over ${storedLabel}` : config.file) : storedLabel,
    ...(o.minSize !== undefined ? { minSize: o.minSize } : {}),
    ...(o.maxSize !== undefined ? { maxSize: o.maxSize } : {}),
    sizeFrom,
    load,
    checkStructure: (c) => config?.cfg.checkStructure(c),
  };
}

/** The class names a model stores, as --class-names would give them. */
export function storedClassNames(model: string, stored: ConfigOverrides | null): ClassNamesFile | undefined {
  // Not an array (written by hand through the API): Sotr.load's own message says what is wrong with it.
  if (!stored || !Array.isArray(stored.classNames)) return undefined;
  const ids = Array.isArray(stored.cocoCategoryIds) ? [...stored.cocoCategoryIds] : null;
  return { file: `${path.basename(model)}'s stored settings`, names: [...stored.classNames], categoryIds: ids };
}
