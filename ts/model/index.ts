/**
 * The SOTR model: loading, pre-processing, the forward pass, post-processing (see docs/model.md).
 */
export {
  Sotr,
  inspectCheckpoint,
  type PredictOptions,
  type PredictEachItem,
  type SourceImage,
  type Prediction,
  type StageTimes,
  type Intermediates,
  type HostTensor,
  type CheckpointInspection,
  type SotrSource,
} from './sotr';
export {
  SOTR_DEFAULTS,
  detectVariant,
  defaultMinSize,
  resolveConfig,
  type SotrConfig,
  type SotrConstants,
  type SotrLoadOptions,
  type SotrVariant,
  type PostprocessOptions,
  type NmsKernel,
  type ConfigOverrides,
  type FrozenSotrConstants,
} from './config';
export type { Instance, PostprocessTrace } from './postprocess';
export {
  decodeImage,
  prepareImage,
  prepareImageTensor,
  shortestEdgeSize,
  DEFAULT_LIMIT_INPUT_PIXELS,
  type ImageInput,
  type RawImage,
  type DecodedPixels,
  type DecodedImage,
  type PreparedImage,
  type PreparedTensor,
  type PreprocessConfig,
} from './preprocess';
export {
  randomSotrCheckpoint,
  writeRandomSotrCheckpoint,
  randomModelStructure,
  RANDOM_MODEL_CALIBRATION,
  type RandomModelOptions,
  type RandomModelPreset,
  type RandomModelStructure,
} from './random_model';
export { COCO_CLASS_NAMES, COCO_CATEGORY_IDS, cocoCategories, type CocoCategories } from './coco';
export { readDetectron2Config, type Detectron2Config, type Detectron2Structure, type StructureOf } from './detectron2_config';
export { STORED_SETTINGS_KEY, storedSettingsMetadata, readStoredSettings } from './stored_settings';
