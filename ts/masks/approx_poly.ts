/**
 * Douglas-Peucker simplification of a contour, as OpenCV's `cv2.approxPolyDP(points, epsilon, closed)` computes it
 * for integer points (same start point, same splits, same final pass that drops points on nearly straight runs), so
 * polygons made from `masksToContours` match what an OpenCV pipeline makes. Checked against OpenCV 4.6 goldens
 * (tests/masks/contours.test.mjs). Runs on the calling thread: linear-logarithmic in the points, which a contour has
 * few of.
 */
import { SotrRangeError, SotrTypeError } from '../errors';
import { shownValue } from '../options';

/**
 * `points` (x0, y0, x1, y1, ...; integers in the int32 range) simplified so that no dropped point lies farther than `epsilon` pixels from the
 * polygon (or polyline, `closed: false`) through the kept ones. Returns a new Int32Array of kept points.
 */
export function approxPolygon(points: Int32Array | readonly number[], epsilon: number, closed = true): Int32Array {
  if (!(points instanceof Int32Array) && !Array.isArray(points)) throw new SotrTypeError('approxPolygon: points must be an Int32Array or an array of numbers');
  if (points.length % 2 !== 0) throw new SotrRangeError(`approxPolygon: points must be x, y pairs, received ${points.length} numbers`);
  if (typeof epsilon !== 'number' || !(epsilon >= 0 && epsilon < 1e30)) throw new SotrRangeError(`approxPolygon: epsilon must be a number in [0, 1e30), received ${shownValue(epsilon)}`);
  // An Int32Array holds int32s already; an array's entries are checked once (`| 0` below wrapped 1e10 and made NaN
  // and strings 0), a pass that costs less than the simplification's own passes.
  if (!(points instanceof Int32Array)) {
    for (let i = 0; i < points.length; i++) {
      const v: unknown = points[i];
      if (typeof v !== 'number') throw new SotrTypeError(`approxPolygon: points[${i}] must be a number, received ${shownValue(v)}`);
      if (!Number.isInteger(v) || v < -(2 ** 31) || v > 2 ** 31 - 1) throw new SotrRangeError(`approxPolygon: points[${i}] must be an integer in the int32 range, received ${v}`);
    }
  }
  const count = points.length / 2;
  const X = (i: number) => points[2 * i]! | 0;
  const Y = (i: number) => points[2 * i + 1]! | 0;
  if (count === 0) return new Int32Array(0);
  const eps2 = epsilon * epsilon;
  const out: number[] = []; // indices into points, then rewritten in the final pass
  const stack: Array<[number, number]> = [];
  let isClosed = closed;
  let initIters = 3;
  let leEps = false;
  let pos = 0;
  let startIdx = -1;

  if (!isClosed) {
    const same = X(0) === X(count - 1) && Y(0) === Y(count - 1);
    if (!same) stack.push([0, count - 1]);
    else {
      isClosed = true;
      initIters = 1;
    }
  }
  if (isClosed) {
    // Two roughly farthest points: from the start, the farthest; from there, the farthest; three times.
    let far = 0;
    for (let it = 0; it < initIters; it++) {
      pos = (pos + far) % count;
      startIdx = pos;
      pos = (pos + 1) % count;
      let maxDist = 0;
      for (let j = 1; j < count; j++) {
        const dx = X(pos) - X(startIdx);
        const dy = Y(pos) - Y(startIdx);
        pos = (pos + 1) % count;
        const d = dx * dx + dy * dy;
        if (d > maxDist) {
          maxDist = d;
          far = j;
        }
      }
      leEps = maxDist <= eps2;
    }
    if (!leEps) {
      const a = pos % count;
      const b = (far + a) % count;
      stack.push([b, a], [a, b]);
    } else out.push(startIdx);
  }

  while (stack.length > 0) {
    const [s, e] = stack.pop()!;
    let p = (s + 1) % count;
    let le: boolean;
    let split = 0;
    if (p !== e) {
      const dx = X(e) - X(s);
      const dy = Y(e) - Y(s);
      let maxDist = 0;
      while (p !== e) {
        const d = Math.abs((Y(p) - Y(s)) * dx - (X(p) - X(s)) * dy);
        p = (p + 1) % count;
        if (d > maxDist) {
          maxDist = d;
          split = (p + count - 1) % count;
        }
      }
      le = maxDist * maxDist <= eps2 * (dx * dx + dy * dy);
    } else le = true;
    if (le) out.push(s);
    else stack.push([split, e], [s, split]);
  }
  if (!isClosed) out.push(count - 1);

  // Final pass: drop a point between two others when it lies within epsilon / sqrt(2) of their chord (not on an
  // axis-parallel chord) and does not turn back.
  const n = out.length;
  const dst = out; // rewritten in place, as OpenCV rewrites its output
  let newCount = n;
  let rpos = closed ? n - 1 : 0;
  const read = () => {
    const v = dst[rpos]!;
    if (++rpos >= n) rpos = 0;
    return v;
  };
  let st = read();
  let wpos = rpos;
  let pt = read();
  const lo = closed ? 0 : 1;
  for (let i = lo; i < n - (closed ? 0 : 1) && newCount > 2; i++) {
    const en = read();
    const dx = X(en) - X(st);
    const dy = Y(en) - Y(st);
    const dist = Math.abs((X(pt) - X(st)) * dy - (Y(pt) - Y(st)) * dx);
    const inner = (X(pt) - X(st)) * (X(en) - X(pt)) + (Y(pt) - Y(st)) * (Y(en) - Y(pt));
    if (dist * dist <= 0.5 * eps2 * (dx * dx + dy * dy) && dx !== 0 && dy !== 0 && inner >= 0) {
      newCount--;
      dst[wpos] = st = en;
      if (++wpos >= n) wpos = 0;
      pt = read();
      i++;
      continue;
    }
    dst[wpos] = st = pt;
    if (++wpos >= n) wpos = 0;
    pt = en;
  }
  if (!closed) dst[wpos] = pt;
  const res = new Int32Array(2 * newCount);
  for (let k = 0; k < newCount; k++) {
    res[2 * k] = X(dst[k]!);
    res[2 * k + 1] = Y(dst[k]!);
  }
  return res;
}
