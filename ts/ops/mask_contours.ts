import type { Tensor } from '../tensor';
import { SotrRangeError, SotrTypeError } from '../errors';
import type { Mask, WordWindow } from '../masks/mask';
import type { OpOptions } from './run';
import { forEachSizeGroup, runMaskResults } from './mask_groups';
import { windowsAttr } from './mask_windows';
import { turnTaker } from '../event_loop';
import { approxPolygon } from '../masks/approx_poly';
import { checkOptions, keysOf, shownValue } from '../options';

/** One border of a mask, as OpenCV's findContours gives it. */
export interface Contour {
  /**
   * The border's pixels (x0, y0, x1, y1, ...): with `approx: 'simple'` only where its direction changes.
   * `JSON.stringify` writes them as an array of numbers (JSON would otherwise write a typed array as an object).
   */
  points: Int32Array;
  /** A hole's border (mode 'ccomp'), not a component's outer border. */
  hole: boolean;
  /** For a hole, the index of its outer border in the same list; -1 for an outer border. */
  parent: number;
}

/** Options of masksToContours() and maskContoursOf(): which borders (`mode`) and which of their points (`approx`). */
export interface ContourOptions extends OpOptions {
  /**
   * 'external' (default; OpenCV's RETR_EXTERNAL): the outer border of every component that is not inside a hole of
   * another. 'ccomp' (RETR_CCOMP): every component's outer border, each followed by its holes.
   */
  mode?: 'external' | 'ccomp' | undefined;
  /** 'simple' (default; CHAIN_APPROX_SIMPLE): the points where the border turns. 'none': every border pixel. */
  approx?: 'simple' | 'none' | undefined;
}

const CONTOUR_OPTION_KEYS = keysOf<ContourOptions>()('mode', 'approx', 'precision', 'signal');

// The prototype of the contours made here: JSON.stringify(prediction) then writes `points` as a plain array.
// (Non-enumerable, so the contours still compare equal to plain { points, hole, parent } objects.)
const CONTOUR_PROTO: object = Object.defineProperty({}, 'toJSON', {
  value(this: Contour) {
    return { points: Array.from(this.points), hole: this.hole, parent: this.parent };
  },
});

// int32 elements a mask the last call's contours took (with a quarter to spare).
let perMask = 256;

function checkContourOptions(name: string, o: ContourOptions): { mode: 'external' | 'ccomp'; approx: 'simple' | 'none' } {
  checkOptions(name, o, CONTOUR_OPTION_KEYS);
  const mode = o.mode ?? 'external';
  if (mode !== 'external' && mode !== 'ccomp') throw new SotrRangeError(`${name}: mode must be 'external' or 'ccomp', received ${shownValue(mode)}`);
  const approx = o.approx ?? 'simple';
  if (approx !== 'simple' && approx !== 'none') throw new SotrRangeError(`${name}: approx must be 'simple' or 'none', received ${shownValue(approx)}`);
  return { mode, approx };
}

/**
 * The contours of bit-packed masks int32 [n, H, words32PerRow(width)] (resizeMasks' layout), traced natively on the
 * CPU worker threads (maskContours, native/ops/mask_contours.cpp): equal to OpenCV's
 * `cv2.findContours(mask, RETR_EXTERNAL | RETR_CCOMP, CHAIN_APPROX_SIMPLE | CHAIN_APPROX_NONE)`, point for point and
 * in its order. The output buffer is sized from a guess and the op reruns at the exact size when it needs more.
 */
export async function maskContoursOf(masks: Tensor, width: number, options: ContourOptions = {}): Promise<Contour[][]> {
  return contoursOf(masks, width, options);
}

// maskContoursOf, or with `windows` the contours of masks given as their windows' bits (cropMasks' layout).
async function contoursOf(masks: Tensor, width: number, options: ContourOptions, windows?: { height: number; list: WordWindow[] }): Promise<Contour[][]> {
  const { mode, approx } = checkContourOptions('maskContours', options);
  const { signal } = options;
  const n = windows ? windows.list.length : (masks?.shape?.[0] ?? 0);
  const guess = Math.min(2 ** 31 - 1, Math.max(1024, n * perMask));
  const attrs = windows
    ? { width, mode, approx, height: windows.height, windows: windowsAttr(windows.list) }
    : { width, mode, approx };
  const { offsets: off, data } = await runMaskResults('maskContours', masks, attrs, guess, signal ? { signal } : {});
  if (n > 0) perMask = Math.max(64, Math.ceil((1.25 * off[n]!) / n));
  const d = data as Int32Array;
  const out: Contour[][] = new Array(n);
  const yieldSometimes = turnTaker(4);
  for (let i = 0; i < n; i++) {
    let at = off[i]!;
    const count = d[at++]!;
    const list: Contour[] = new Array(count);
    for (let c = 0; c < count; c++) {
      const parent = d[at]!;
      const np = d[at + 1]!;
      at += 2;
      list[c] = Object.setPrototypeOf({ points: d.slice(at, at + 2 * np), hole: parent >= 0, parent }, CONTOUR_PROTO) as Contour;
      at += 2 * np;
    }
    out[i] = list;
    await yieldSometimes();
  }
  return out;
}

/**
 * The contours of several masks at once (each mask's list as `cv2.findContours` returns it), traced natively off
 * the JavaScript thread. Masks of different sizes are traced in one op call per size.
 */
export async function masksToContours(masks: readonly Mask[], options: ContourOptions = {}): Promise<Contour[][]> {
  checkContourOptions('masksToContours', options);
  if (!Array.isArray(masks)) throw new SotrTypeError('masksToContours: expected an array of Mask');
  const out: Contour[][] = new Array(masks.length);
  await forEachSizeGroup(
    'masksToContours',
    masks,
    async (t, idx, height, width, windows) => {
      const lists = await contoursOf(t, width, options, windows && { height, list: windows });
      idx.forEach((i, k) => {
        out[i] = lists[k]!;
      });
    },
    true,
  );
  return out;
}

/**
 * COCO polygons ([[x0, y0, x1, y1, ...], ...]) from a mask's contours: the outer borders of at least three points,
 * as the usual `[c.flatten().tolist() for c in contours if len(c) >= 3]` makes them from OpenCV's. Holes cannot be
 * expressed (COCO's polygons are filled and merged); a lossy format: rasterised again, the polygons lose up to half
 * a pixel along the border. Use RLE for exact masks. `epsilon` (pixels, default 0: none) first simplifies each
 * border as `cv2.approxPolyDP(c, epsilon, True)` does (approxPolygon).
 */
export function contoursToCocoPolygons(contours: readonly Contour[], options: { epsilon?: number } = {}): number[][] {
  if (!Array.isArray(contours)) throw new SotrTypeError('contoursToCocoPolygons: expected an array of contours');
  checkOptions('contoursToCocoPolygons', options, ['epsilon']);
  const epsilon = options?.epsilon ?? 0;
  if (typeof epsilon !== 'number' || !(epsilon >= 0)) throw new SotrRangeError(`contoursToCocoPolygons: epsilon must be a number >= 0, received ${shownValue(epsilon)}`);
  const out: number[][] = [];
  for (let i = 0; i < contours.length; i++) {
    const c = contours[i];
    if (!c || typeof c !== 'object' || !(c.points instanceof Int32Array || Array.isArray(c.points))) {
      throw new SotrTypeError(`contoursToCocoPolygons: contours[${i}] is not a contour { points, hole, parent }`);
    }
    if (c.hole) continue;
    const pts = epsilon > 0 ? approxPolygon(c.points, epsilon, true) : c.points;
    if (pts.length >= 6) out.push(Array.from(pts));
  }
  return out;
}
