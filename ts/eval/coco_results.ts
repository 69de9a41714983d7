/**
 * A prediction as COCO results (what COCO's loadRes, pycocotools and evaluateCoco read): one record an instance,
 * the mask as compressed RLE (the string predict stored, else encoded now), the box as [x, y, width, height], the
 * score exactly as the float32 it is (9 significant digits: rounding would add ties that can reorder detections in
 * COCO's sort). The same records the CLI's --coco file holds.
 */
import type { Prediction } from '../model/sotr';
import type { Instance } from '../model/postprocess';
import { categoryId } from '../model/coco';
import type { CocoRle } from '../masks/rle';
import { Mask } from '../masks/mask';
import { SotrTypeError } from '../errors';

/** One instance as a COCO result record (toCocoResults): mask as compressed RLE, bbox as [x, y, width, height]. */
export interface CocoInstanceResult {
  image_id: number | string;
  category_id: number;
  segmentation: CocoRle;
  score: number;
  bbox: [number, number, number, number];
}

/** `prediction`'s instances (or an array of instances) as COCO results for image `imageId`. */
export function toCocoResults(prediction: Prediction | readonly Instance[], imageId: number | string): CocoInstanceResult[] {
  const instances = Array.isArray(prediction) ? prediction : (prediction as Prediction | undefined)?.instances;
  if (!Array.isArray(instances)) throw new SotrTypeError('toCocoResults: expected a prediction or its instances');
  if (typeof imageId !== 'number' && typeof imageId !== 'string') throw new SotrTypeError('toCocoResults: imageId must be a number or a string');
  return instances.map((inst: Instance, i: number) => {
    // The fields read below, so that a stray entry is named rather than failing somewhere inside.
    if (!inst || typeof inst !== 'object' || !(inst.mask instanceof Mask) || !Array.isArray(inst.box) || inst.box.length !== 4 || typeof inst.score !== 'number') {
      throw new SotrTypeError(`toCocoResults: instances[${i}] is not an instance { label, score, box, mask, ... }`);
    }
    const [x0, y0, x1, y1] = inst.box;
    return {
      image_id: imageId,
      category_id: inst.cocoCategoryId ?? categoryId(inst.label, null), // a model without category ids: label + 1
      segmentation: inst.mask.toCocoRLE(),
      score: Number(inst.score.toPrecision(9)),
      bbox: [x0, y0, x1 - x0, y1 - y0],
    };
  });
}
