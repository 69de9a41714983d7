// COCO class names and category ids by contiguous label 0..79 (detectron2's builtin metadata, §11), and the same
// two tables for a checkpoint trained on another COCO-format dataset.
import { SotrRangeError, SotrTypeError } from '../errors';
import { shownValue } from '../options';

/** The 80 COCO class names by contiguous label 0..79 (`instance.category` of a COCO checkpoint). */
export const COCO_CLASS_NAMES: readonly string[] = Object.freeze([
  'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
  'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
  'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
  'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
  'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
  'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
  'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone',
  'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
  'hair drier', 'toothbrush',
]);

/** COCO category ids (1..90, with gaps) by contiguous label 0..79, in COCO_CLASS_NAMES' order. */
export const COCO_CATEGORY_IDS: readonly number[] = Object.freeze([
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35,
  36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
  67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
]);

/**
 * The category id of a contiguous label in COCO results: the model's table (`config.cocoCategoryIds`) when it has
 * one, else label + 1 (COCO's ids start at 1; COCO's own table is only right for COCO's 80 classes).
 */
export function categoryId(label: number, ids: readonly number[] | null): number {
  return ids?.[label] ?? label + 1;
}

/** The classes of a checkpoint, by label: Sotr.load's `classNames` and `cocoCategoryIds` options. */
export interface CocoCategories {
  classNames: string[];
  cocoCategoryIds: number[];
}

/**
 * The class names and category ids, by label, of a checkpoint trained on a COCO-format dataset, from the dataset's
 * annotations file (its `categories`: [{ id, name }]; other fields are not read). detectron2's COCO loader, which
 * SOTR trains with, numbers the classes by sorting the categories by id: label i is the i-th category by id. Throws
 * SotrTypeError / SotrRangeError for a category without an integer id or a non-empty name, or an id listed twice.
 *
 *   const classes = cocoCategories(JSON.parse(fs.readFileSync('annotations/instances_val.json', 'utf8')));
 *   const model = await Sotr.load('model_final.pth', classes);
 */
export function cocoCategories(annotations: unknown): CocoCategories {
  const cats = (annotations as { categories?: unknown } | null)?.categories;
  if (typeof annotations !== 'object' || annotations === null || !Array.isArray(cats)) {
    throw new SotrTypeError(`cocoCategories: expected a COCO annotations object with "categories": [{ id, name }], received ${shownValue(annotations)}`);
  }
  if (!cats.length) throw new SotrRangeError('cocoCategories: "categories" is empty');
  const byId = new Map<number, string>();
  cats.forEach((c: unknown, i) => {
    const { id, name } = (c ?? {}) as { id?: unknown; name?: unknown };
    if (!Number.isSafeInteger(id)) throw new SotrTypeError(`cocoCategories: categories[${i}].id must be an integer, received ${shownValue(id)}`);
    if (typeof name !== 'string') throw new SotrTypeError(`cocoCategories: categories[${i}].name must be a string, received ${shownValue(name)}`);
    // As the other class-name lists (a name selects classes, labels the results): none empty.
    if (!name.trim()) throw new SotrRangeError(`cocoCategories: category id ${String(id)} has an empty name (categories[${i}].name is ${JSON.stringify(name)})`);
    if (byId.has(id as number)) throw new SotrRangeError(`cocoCategories: category id ${String(id)} is listed twice ("${byId.get(id as number)!}" and "${name}")`);
    byId.set(id as number, name);
  });
  const ids = [...byId.keys()].sort((a, b) => a - b);
  return { classNames: ids.map((id) => byId.get(id)!), cocoCategoryIds: ids };
}
