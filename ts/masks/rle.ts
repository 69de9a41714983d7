/**
 * COCO run-length encoding (the format of pycocotools' mask API).
 *
 * A mask of height h and width w is read in column-major order (x outer, y
 * inner) and cut into runs that alternate 0s and 1s, starting with 0s (a
 * first run of length 0 when the first pixel is set). The compressed string
 * stores each run length x_i (for i > 2 as the difference x_i - x_{i-2}) in
 * 5-bit groups, least significant first, each group as one character
 * 48 + (bits | 0x20 if more groups follow); the last group's bit 0x10 is the
 * sign of the value (two's complement), as in maskApi.c rleToString /
 * rleFrString.
 */
import { SotrRangeError, SotrTypeError } from '../errors';

/** A COCO RLE object as pycocotools gives it: size = [height, width]. */
export interface CocoRle {
  size: [number, number];
  counts: string;
}

/** Compresses run lengths into COCO's RLE string. */
export function encodeRleCounts(counts: ArrayLike<number>): string {
  // Any array-like object, but not a number or string (a number has no length: it read as no runs).
  if (!counts || typeof counts !== 'object' || typeof counts.length !== 'number') {
    throw new SotrTypeError(`encodeRleCounts: counts must be an array of run lengths, received ${counts === null ? 'null' : typeof counts}`);
  }
  // Character codes collected, then one flat string: `s +=` a character at a time would leave a rope of one node
  // per character (~30 bytes each) that lives as long as the string.
  const codes: number[] = [];
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (!Number.isSafeInteger(x) || x < 0) throw new SotrRangeError(`encodeRleCounts: counts[${i}] = ${x} is not a non-negative integer`);
    if (i > 2) x -= counts[i - 2];
    let more = true;
    while (more) {
      let c = x & 0x1f;
      // Arithmetic shift by 5 without 32-bit truncation (counts can exceed 2^31).
      x = Math.floor(x / 32);
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      codes.push(c + 48);
    }
  }
  let s = '';
  for (let i = 0; i < codes.length; i += 8192) s += String.fromCharCode(...codes.slice(i, i + 8192));
  return s;
}

/** Decompresses COCO's RLE string into run lengths. */
export function decodeRleCounts(s: string): number[] {
  return Array.from(decodeRleCountsReused(s));
}

let decoded = new Float64Array(1024);

/**
 * @internal decodeRleCounts into one array that the next call reuses: a view of its first runs, valid until then.
 * evaluateCoco decodes every result's mask (10^5 and more): an array each was garbage for the collector.
 */
export function decodeRleCountsReused(s: string): Float64Array {
  if (typeof s !== 'string') throw new SotrTypeError('decodeRleCounts: counts must be a string');
  let n = 0;
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) throw new SotrRangeError('decodeRleCounts: the string ends inside a number');
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new SotrRangeError(`decodeRleCounts: character '${s[p]}' at ${p} is outside '0'..'o'`);
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 2 ** (5 * k); // sign-extend
    }
    if (n > 2) x += decoded[n - 2]!;
    if (x < 0) throw new SotrRangeError(`decodeRleCounts: run ${n} has negative length ${x}`);
    if (n === decoded.length) {
      const grown = new Float64Array(2 * n);
      grown.set(decoded);
      decoded = grown;
    }
    decoded[n++] = x;
  }
  return decoded.subarray(0, n);
}
