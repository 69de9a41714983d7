/**
 * `sotr predict --config`: the detectron2 config a model was trained with (its `config.yaml`, or the official
 * repo's). Its post-processing and input sizes fill in what no flag gives (a flag wins), so they are recorded with
 * the run's settings as usual; its network settings (grids, strides, pixel statistics) go to the model as they are.
 */
import { ConfigFileError } from '../errors';
import { SOTR_DEFAULTS } from '../model/config';
import { readDetectron2ConfigSync, type Detectron2Config } from '../model/detectron2_config';
import { UsageError } from './args';
import type { ModelConfigFile, PostprocessFlags } from './segmenter';

const POST_KEYS = ['scoreThreshold', 'maskThreshold', 'nmsPre', 'nmsKernel', 'nmsSigma', 'updateThreshold', 'maxPerImage'] as const;
const NETWORK_KEYS = ['numGrids', 'instanceStrides', 'inputFormat', 'pixelMean', 'pixelStd', 'strideInOneByOne'] as const;

/** Reads --config and merges its post-processing into `post` where no flag set it. */
export function readModelConfig(file: string, post: PostprocessFlags): ModelConfigFile {
  let cfg: Detectron2Config;
  try {
    cfg = readDetectron2ConfigSync(file);
  } catch (e) {
    if (e instanceof ConfigFileError) throw new UsageError(`--config ${e.message}`);
    throw e;
  }
  const o = cfg.options;
  const sigmaFlag = post.nmsSigma !== undefined;
  const kernelFlag = post.nmsKernel !== undefined;
  for (const k of POST_KEYS) {
    const v = o[k];
    if (post[k] === undefined && v !== undefined) (post as Record<string, unknown>)[k] = v;
  }
  if (post.nmsKernel === 'linear') {
    // A config file lists NMS_SIGMA whatever the kernel (the defaults have it): unused with the linear one.
    if (sigmaFlag && !kernelFlag) throw new UsageError(`--nms-sigma is only used with the gaussian kernel, and --config ${file} sets MODEL.SOTR.NMS_KERNEL linear`);
    delete post.nmsSigma;
  }
  // The network's settings, those equal to the defaults left out (a config that restates them changes nothing).
  const network: ModelConfigFile['network'] = {};
  for (const k of NETWORK_KEYS) {
    const v = o[k];
    if (v !== undefined && JSON.stringify(v) !== JSON.stringify(SOTR_DEFAULTS[k])) (network as Record<string, unknown>)[k] = v;
  }
  return {
    file,
    ...(o.minSize !== undefined ? { minSize: o.minSize } : {}),
    ...(o.maxSize !== undefined ? { maxSize: o.maxSize } : {}),
    network,
    checkStructure: (c) => cfg.checkStructure(c),
  };
}
