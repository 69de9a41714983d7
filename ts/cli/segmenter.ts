/**
 * What `sotr predict` needs from a model, as an interface: the real one
 * (model.ts, over Sotr) and, in tests, stand-ins that exercise the pipeline
 * (journal, resume, COCO, overlays) without a network.
 */
import type { ResultInstance } from './journal';
import type { ClassNamesFile } from './coco';
import type { ConfigOverrides } from '../model/config';
import type { Detectron2Config } from '../model/detectron2_config';

/** The settings of the model the run record has no key of its own for. */
export type NetworkSettings = Omit<ConfigOverrides, keyof import('../model/config').PostprocessOptions | 'minSize' | 'maxSize' | 'classNames' | 'cocoCategoryIds'>;

/** --config read: its sizes (post-processing already merged into the flags), and the network's settings. */
export interface ModelConfigFile {
  /** The file as given. */
  file: string;
  minSize?: number;
  maxSize?: number;
  /** Where minSize / maxSize came from, as a message names it: "cfg.yaml INPUT.MIN_SIZE_TEST", "m's stored settings". */
  sizeFrom: { minSize?: string; maxSize?: string };
  /** The network's settings (grids, strides, input format, pixel statistics, ...), every one the files give (defaults
   * too): what the model is loaded with, over its stored ones. The run record keeps those that differ from the
   * defaults (run_settings.ts). */
  load: NetworkSettings;
  /** Throws a ConfigFileError when the loaded model's structure is not the one the file describes. */
  checkStructure: Detectron2Config['checkStructure'];
}

/** A decoded image: interleaved 8-bit RGB, EXIF orientation applied. */
export interface DecodedImage {
  file: string;
  data: Uint8Array;
  width: number;
  height: number;
}

export interface PostprocessFlags {
  scoreThreshold?: number;
  maskThreshold?: number;
  nmsPre?: number;
  /** Matrix NMS decay kernel (`--nms-kernel`). */
  nmsKernel?: 'gaussian' | 'linear';
  /** The Gaussian kernel's sigma (`--nms-sigma`). */
  nmsSigma?: number;
  updateThreshold?: number;
  maxPerImage?: number;
  minScore?: number;
  /** Only these classes (names or labels; `--classes`). */
  classes?: Array<string | number>;
}

export interface SegmenterOptions extends PostprocessFlags {
  /** A checkpoint path, or 'tiny'. */
  model: string;
  /** Where `--model tiny` keeps its generated checkpoint. */
  cacheDir: string;
  /** `--class-names`: the checkpoint's class names, and category ids when the file gave them. */
  classNames?: ClassNamesFile;
  /** `--config`: the network's settings to load with, and the structure to check. */
  config?: ModelConfigFile;
  device: string;
  precision?: string;
  minSize?: number;
  maxSize?: number;
  /** Also trace each instance's outer contours (ResultInstance.polygons). */
  polygons?: boolean;
  /** approxPolyDP tolerance for those polygons (pixels; 0: none). */
  polygonEpsilon?: number;
  log: (message: string) => void;
}

/** Per-stage time of the model, summed over the run (milliseconds), when the model reports it. */
export type StageTimes = Record<string, number>;

export interface Segmenter {
  /** The concrete device ('cpu', 'cuda:0'). */
  readonly device: string;
  /** One line about the model (variant, classes, where it came from). */
  readonly description: string;
  /** The checkpoint's default short side (what a run without --min-size uses), where the model has one. */
  readonly defaultMinSize?: number;
  /** Runs the model on a batch; one opaque prediction per image, in order. */
  predict(images: DecodedImage[]): Promise<unknown[]>;
  /**
   * Turns one prediction into result instances (RLE masks, boxes, class names) and frees what it holds.
   * Runs while the next batch is on the device.
   */
  encode(prediction: unknown, image: { width: number; height: number }): ResultInstance[];
  /** Frees a prediction that will not be encoded (interrupted run). */
  discard(prediction: unknown): void;
  /** Model time by stage so far, if the model keeps a profile. */
  profile?(): StageTimes | undefined;
  dispose(): Promise<void> | void;
}

export type SegmenterFactory = (options: SegmenterOptions) => Promise<Segmenter>;
