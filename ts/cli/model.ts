/**
 * The real model behind `sotr predict`: Sotr (ts/model) behind the Segmenter interface, and `--model tiny`, the
 * calibrated random-weight model generated on first use and cached (nothing is downloaded).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Sotr, type Prediction, type StageTimes as ModelStageTimes } from '../model/sotr';
import { contoursToCocoPolygons } from '../ops/mask_contours';
import { writeRandomSotrCheckpoint, type RandomModelPreset } from '../model/random_model';
import { defaultMinSize, type SotrLoadOptions } from '../model/config';
import { ConfigFileError, SotrRangeError } from '../errors';
import { UsageError, packageVersion } from './args';
import type { ResultInstance } from './journal';
import { classCountMismatch } from './coco';
import { categoryId } from '../model/coco';
import type { DecodedImage, Segmenter, SegmenterFactory, SegmenterOptions, StageTimes } from './segmenter';

/**
 * A random-weight model's checkpoint (`--model tiny` for predict; tiny, r50, r101, r101-dcn for bench), seed 1, cached
 * per package version (the generator may change between versions): reused from the cache folder, else generated there
 * (atomically: writeSafetensors renames a finished file into place).
 */
export async function randomCheckpoint(cacheDir: string, preset: RandomModelPreset, log: (m: string) => void): Promise<string> {
  const file = path.join(cacheDir, `sotr-${preset}-seed1-v${packageVersion()}.safetensors`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(cacheDir, { recursive: true });
  const t0 = performance.now();
  const r = await writeRandomSotrCheckpoint(file, { preset, seed: 1 });
  log(`generated the ${preset} random-weight model (${r.tensors} tensors, ${(r.parameters / 1e3).toFixed(0)} k values) in ${(performance.now() - t0).toFixed(0)} ms: ${file}`);
  return file;
}

/** The device stages of the model's profile (decode and resize run on the host). */
const DEVICE_STAGES: Array<keyof ModelStageTimes> = ['backbone', 'transformer', 'heads', 'maskBranch', 'postprocess'];

class SotrSegmenter implements Segmenter {
  readonly #times: StageTimes = {};

  constructor(
    readonly model: Sotr,
    readonly description: string,
    readonly polygons = false,
    readonly polygonEpsilon = 0,
  ) {}

  get device(): string {
    return this.model.device;
  }

  get defaultMinSize(): number {
    return defaultMinSize(this.model.config.variant);
  }

  async predict(images: DecodedImage[]): Promise<unknown[]> {
    // The worker threads decoded the images already (the model's own decoder, so pixels are what a path would
    // give); the model takes them as raw BGR.
    const inputs = images.map((im) => ({ data: im.data, width: im.width, height: im.height, channels: 3 as const, format: 'bgr' as const }));
    // rle (and contours for --polygons): made natively with the prediction, so encode() below only reads them.
    const preds = await this.model.predict(inputs, { profile: true, rle: true, contours: this.polygons });
    for (const p of preds) {
      if (!p.profile) continue;
      for (const [k, v] of Object.entries(p.profile)) if (k !== 'total') this.#times[k] = (this.#times[k] ?? 0) + v;
    }
    return preds;
  }

  encode(prediction: unknown): ResultInstance[] {
    const p = prediction as Prediction;
    const ids = this.model.config.cocoCategoryIds;
    return p.instances.map((inst) => {
      const [x0, y0, x1, y1] = inst.box;
      const m = inst.mask as { toRLE(): string | { counts: string }; toCocoRLE?: () => { counts: string }; area: number };
      const rle = m.toCocoRLE ? m.toCocoRLE() : m.toRLE();
      return {
        label: inst.label,
        class: inst.category,
        category_id: inst.cocoCategoryId ?? categoryId(inst.label, ids),
        score: Number(inst.score.toPrecision(9)), // float32 exactly (9 significant digits): no ties added for COCO AP
        bbox: [x0, y0, x1 - x0, y1 - y0],
        area: m.area,
        segmentation: { size: [p.height, p.width], counts: typeof rle === 'string' ? rle : rle.counts },
        ...(inst.contours ? { polygons: contoursToCocoPolygons(inst.contours, { epsilon: this.polygonEpsilon }) } : {}),
      };
    });
  }

  discard(): void {
    /* predictions hold host memory only */
  }

  /** Model time by stage; `device` sums the stages that run on the device (host stages: decode, resize). */
  profile(): StageTimes {
    const device = DEVICE_STAGES.reduce((a, k) => a + (this.#times[k] ?? 0), 0);
    return { ...this.#times, device };
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}

export const sotrSegmenter: SegmenterFactory = async (o: SegmenterOptions): Promise<Segmenter> => {
  const source = o.model === 'tiny' ? await randomCheckpoint(o.cacheDir, 'tiny', o.log) : o.model;
  if (o.model !== 'tiny' && !fs.existsSync(source)) {
    throw Object.assign(new Error(`model checkpoint not found: ${source} (give a .pth or .safetensors file, or "tiny")`), { code: 'ENOENT' });
  }
  // The post-processing flags become the model's settings (the API's option names).
  const post: SotrLoadOptions = {};
  for (const k of ['scoreThreshold', 'maskThreshold', 'nmsPre', 'nmsSigma', 'updateThreshold', 'maxPerImage', 'minScore'] as const) {
    if (o[k] !== undefined) post[k] = o[k];
  }
  if (o.nmsKernel !== undefined) post.nmsKernel = o.nmsKernel;
  if (o.classes !== undefined) post.classes = o.classes;
  const names = o.classNames;
  if (names) {
    post.classNames = names.names;
    if (names.categoryIds) post.cocoCategoryIds = names.categoryIds;
  }
  let model: Sotr;
  try {
    model = await Sotr.load(source, {
      device: o.device,
      ...(o.precision ? { precision: o.precision as SotrLoadOptions['precision'] } : {}),
      ...(o.minSize !== undefined ? { minSize: o.minSize } : {}),
      ...(o.maxSize !== undefined ? { maxSize: o.maxSize } : {}),
      ...post,
      ...(o.config?.load ?? {}),
      onWarning: (m) => o.log(`warning: ${m}`),
    });
  } catch (e) {
    // The file's class count is the usual mistake: say which flag gave it. (Names from the model file's stored
    // settings are named as such: no flag gave them.)
    const given = names && !names.file.endsWith('stored settings') ? `--class-names ${names.file}` : names?.file;
    if (names && given) {
      const mismatch = classCountMismatch(e, names, given);
      if (mismatch) throw new UsageError(mismatch);
      const option = e instanceof SotrRangeError ? e.details?.option : undefined;
      if (option === 'classNames' || option === 'cocoCategoryIds') throw new UsageError(`${given}: ${(e as Error).message.replace(/^Sotr\.load: /, '')}`);
    }
    throw e;
  }
  const c = model.config;
  try {
    o.config?.checkStructure(c);
  } catch (e) {
    await model.dispose();
    throw e instanceof ConfigFileError ? new UsageError(`--config ${e.message}`) : e;
  }
  const what = o.model === 'tiny' ? 'tiny random-weight model' : path.basename(source);
  const only = c.classes ? `, only ${c.classes.length <= 6 ? c.classes.map((l) => c.classNames[l]).join(', ') : `${c.classes.length} of them`}` : '';
  const named = names ? ` named by ${path.basename(names.file)}` : '';
  const description = `${what} (${c.variant}, ResNet-${c.resnetDepth}, ${c.transformerDepth} transformer layers, ${c.numClasses} classes${named}${only}, short side ${c.minSize}, ${model.precision})`;
  return new SotrSegmenter(model, description, o.polygons === true, o.polygonEpsilon ?? 0);
};
