/**
 * sotr-node: SOTR instance segmentation for Node.js.
 * The public API; see README.md and docs/CONVENTIONS.md.
 */
export * from './errors';
export { Tensor, type DType, type TensorData, type TensorDataOf, type TensorFromOptions, type TensorFromOptionsOf, type HostEntry } from './tensor';
export {
  backendInfo,
  resolveDevice,
  setNumThreads,
  usableCpus,
  memoryInfo,
  resetPeakMemory,
  releaseCached,
  synchronize,
  weightCacheInfo,
  clearWeightCache,
  type BackendInfo,
  type DeviceSpec,
  type DeviceResolution,
  type Precision,
  type MemoryInfo,
} from './device';
export type { WeightCacheInfo, NativeBackendInfo, NativeMemoryInfo, AttrValue } from './native';
export { trimHostMemory, idleTrimInfo, type HostTrimInfo, type IdleTrimInfo } from './host_memory';
export {
  startOpProfile,
  stopOpProfile,
  isOpProfiling,
  formatOpProfile,
  summarizeOpProfile,
  type OpProfile,
  type OpStat,
  type OpProfileDevice,
  type OpProfileOptions,
  type OpProfileSummary,
} from './profile';
export { runOp, listOps, type OpOptions } from './ops/run';
export { matmul, type MatmulOptions, type Activation } from './ops/matmul';
export {
  readCheckpoint,
  readCheckpointWithInfo,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
  inferSotrConfig,
  expectedSotrKeys,
  checkSotrKeys,
  CHECKPOINT_DTYPES,
  type CheckpointEntry,
  type CheckpointOptions,
  type CheckpointInfo,
  type CheckpointDType,
  type CheckpointFormat,
  type CheckpointTypedArray,
  type CheckpointSource,
  type SotrCheckpointConfig,
  type SotrKeyProblems,
  type ShapeProblem,
  type TensorCollection,
  type NonFiniteTensor,
} from './checkpoint';
export { conv2d, type Conv2dOptions, type Pair, type ConvActivation } from './ops/conv2d';
export { twinAttention, type TwinAttentionOptions, type TwinAttentionWeights, type TwinAttentionMode, type MhaWeights } from './ops/twin_attention';
export { dynamicConv, dynamicConvMasks, type DynamicConvOptions, type DynamicConvMasksOptions } from './ops/dynamic_conv';
export { matrixNms, type MatrixNmsOptions, type MatrixNmsKernel, type MatrixNmsMasks } from './ops/matrix_nms';
export { BitMasks, DeviceBitMasks, type BitMasksInit } from './masks/bitmasks';
export { Mask, type MaskBox, type MaskWindow } from './masks/mask';
export { encodeRleCounts, decodeRleCounts, type CocoRle } from './masks/rle';
export * from './model';
export { maxPool2d, avgPool2d, type MaxPool2dOptions, type AvgPool2dOptions } from './ops/pool';
export { groupNorm, type GroupNormOptions } from './ops/group_norm';
export { interpolate, type InterpolateOptions, type InterpolateMode } from './ops/interpolate';
export { linear, type LinearOptions } from './ops/linear';
export { relu, leakyRelu, sigmoid, add, sub, mul, div, concat, slice, meanWidthHalves } from './ops/elementwise';
export { deformConv2d, type DeformConv2dOptions } from './ops/deform_conv2d';
export { pillowResize, type PillowResizeOptions } from './ops/pillow_resize';
export { resizeMasks, resizeMasksToList, type ResizeMasksOptions, type ResizeMasksToListOptions } from './ops/resize_masks';
export { masksToRLE, maskRleStrings } from './ops/mask_rle';
export { masksToContours, maskContoursOf, contoursToCocoPolygons, type Contour, type ContourOptions } from './ops/mask_contours';
export { approxPolygon } from './masks/approx_poly';
export { labelMap, type LabelMap, type LabelMapOptions, type LabelMapSource } from './masks/label_map';
export { renderPrediction, instanceColour, type RenderOptions, type RenderFormat } from './render';
export { evaluateCoco, type CocoBox, type CocoEvalErrorDetails, type CocoEvalOptions, type CocoGroundTruth, type CocoResult, type CocoEvalSummary, type CocoIouType } from './eval/coco_eval';
export { toCocoResults, type CocoInstanceResult } from './eval/coco_results';
export { selectCandidates, type SelectCandidatesOptions, type CandidateTensors } from './ops/select_candidates';
export { gatherKernels } from './ops/gather_kernels';
export { gatherRows } from './ops/gather_rows';
export { rankCandidates, type RankCandidatesInput, type RankCandidatesOptions, type RankedCandidates } from './ops/rank_candidates';
