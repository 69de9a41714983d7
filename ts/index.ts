/**
 * sotr-node: SOTR instance segmentation for Node.js.
 * The public API; see README.md and docs/CONVENTIONS.md.
 */
export * from './errors';
export { Tensor, type DType, type TensorData, type TensorFromOptions, type HostEntry } from './tensor';
export {
  backendInfo,
  resolveDevice,
  setNumThreads,
  memoryInfo,
  releaseCached,
  synchronize,
  type BackendInfo,
  type DeviceSpec,
  type DeviceResolution,
  type Precision,
  type MemoryInfo,
} from './device';
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
} from './checkpoint';
