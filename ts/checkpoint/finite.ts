/**
 * NaN and infinite values in a checkpoint's floating-point tensors. A damaged file or a diverged training run can hold
 * them; the network then gives no instances or wrong ones (the official code too), with nothing to say why.
 */
import { inSlices } from '../event_loop';
import type { CheckpointEntry } from './types';

/** A tensor holding non-finite values: its key and how many (NaN, +Inf and -Inf together). */
export interface NonFiniteTensor {
  key: string;
  count: number;
}

// Each dtype's bits as integers, the exponent field, and the value at which a masked exponent plus its lowest bit
// carries into the sign bit: (bits & exp) + low has that bit set exactly when the exponent is all ones (NaN, ±Inf).
const FORMATS = {
  float32: { exp: 0x7f800000, low: 0x00800000, sign: 0x80000000, view: (d: ArrayBufferView) => new Int32Array(d.buffer, d.byteOffset, d.byteLength >> 2) },
  float16: { exp: 0x7c00, low: 0x0400, sign: 0x8000, view: (d: ArrayBufferView) => new Uint16Array(d.buffer, d.byteOffset, d.byteLength >> 1) },
  bfloat16: { exp: 0x7f80, low: 0x0080, sign: 0x8000, view: (d: ArrayBufferView) => new Uint16Array(d.buffer, d.byteOffset, d.byteLength >> 1) },
} as const;

// Branch-free "any all-ones exponent" over [i0, i1) (~1 ns a value in V8).
function anyNonFinite(u: Int32Array | Uint16Array, exp: number, low: number, sign: number, i0: number, i1: number): boolean {
  let acc = 0;
  let i = i0;
  for (; i + 4 <= i1; i += 4) acc |= ((u[i] & exp) + low) | ((u[i + 1] & exp) + low) | ((u[i + 2] & exp) + low) | ((u[i + 3] & exp) + low);
  for (; i < i1; i++) acc |= (u[i] & exp) + low;
  return (acc & sign) !== 0;
}

// How many values of a tensor known to hold some are NaN or ±Inf.
function countNonFinite(dtype: string, data: ArrayBufferView): number {
  let n = 0;
  if (dtype === 'float64' || dtype === 'float32') {
    const d = data as Float64Array | Float32Array;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) n++;
  } else {
    const f = FORMATS[dtype as 'float16' | 'bfloat16'];
    const u = f.view(data);
    for (let i = 0; i < u.length; i++) if ((u[i] & f.exp) === f.exp) n++;
  }
  return n;
}

/**
 * The tensors among `keys` (default: all) whose floating-point values include NaN or ±Inf, in key order. Reads every
 * value (~55 ms for an R50's 63 M on one core), in slices that leave the event loop its turns.
 */
export async function nonFiniteTensors(entries: ReadonlyMap<string, CheckpointEntry>, keys?: Iterable<string>): Promise<NonFiniteTensor[]> {
  const out: NonFiniteTensor[] = [];
  for (const key of keys ?? entries.keys()) {
    const e = entries.get(key);
    const data = e?.data as ArrayBufferView | undefined;
    if (!e || !ArrayBuffer.isView(data)) continue; // a header's entry (sotr inspect without --verify): no values
    let bad = false;
    if (e.dtype === 'float64') {
      const d = data as Float64Array;
      await inSlices(d.length, (i0, i1) => {
        for (let i = i0; i < i1 && !bad; i++) if (!Number.isFinite(d[i])) bad = true;
      });
    } else if (e.dtype === 'float32' || e.dtype === 'float16' || e.dtype === 'bfloat16') {
      const f = FORMATS[e.dtype];
      const u = f.view(data);
      await inSlices(u.length, (i0, i1) => {
        if (!bad && anyNonFinite(u, f.exp, f.low, f.sign, i0, i1)) bad = true;
      });
    }
    if (bad) out.push({ key, count: countNonFinite(e.dtype, data) });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** The tensors of a SOTR state_dict holding NaN or ±Inf, its unexpected keys (ignored by the model) left out. */
export function modelNonFinite(entries: ReadonlyMap<string, CheckpointEntry>, unexpected: readonly string[]): Promise<NonFiniteTensor[]> {
  const ignored = new Set(unexpected);
  return nonFiniteTensors(entries, [...entries.keys()].filter((k) => !ignored.has(k)));
}

/** One line naming them: "3 tensors: a (1 value), b (2 values), ...". */
export function describeNonFinite(bad: readonly NonFiniteTensor[], max = 5): string {
  const shown = bad.slice(0, max).map((b) => `${b.key} (${b.count} ${b.count === 1 ? 'value' : 'values'})`);
  const more = bad.length > max ? `, … (${bad.length - max} more)` : '';
  return `${bad.length} ${bad.length === 1 ? 'tensor' : 'tensors'}: ${shown.join(', ')}${more}`;
}
