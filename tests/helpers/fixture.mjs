// Reads a test fixture (safetensors written by tests/reference/fixture_io.py).
// Standalone on purpose: the fixtures must not depend on the code under test.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const FIXTURE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

const CTORS = {
  F32: Float32Array, F64: Float64Array, F16: Uint16Array, BF16: Uint16Array,
  I32: Int32Array, I64: BigInt64Array, U8: Uint8Array, BOOL: Uint8Array,
};

/** @returns {{ meta: Record<string,string>, tensors: Record<string, {dtype:string, shape:number[], data:any}> }} */
export function loadFixture(name) {
  const file = name.endsWith('.safetensors') ? name : path.join(FIXTURE_DIR, name + '.safetensors');
  const buf = readFileSync(file);
  const hlen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
  const base = 8 + hlen;
  const tensors = {};
  for (const [key, h] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    const Ctor = CTORS[h.dtype];
    const [b, e] = h.data_offsets;
    const bytes = buf.subarray(base + b, base + e);
    // copy into an aligned buffer
    const copy = new Uint8Array(e - b);
    copy.set(bytes);
    tensors[key] = { dtype: h.dtype, shape: h.shape, data: new Ctor(copy.buffer, 0, (e - b) / Ctor.BYTES_PER_ELEMENT) };
  }
  return { meta: header.__metadata__ ?? {}, tensors };
}

/** Normalized mean squared error: mse(a, b) / mse(b, 0). NaN anywhere gives Infinity. */
export function nmse(a, b) {
  if (a.length !== b.length) throw new Error(`nmse: length ${a.length} vs ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]), y = Number(b[i]);
    if (Number.isNaN(x) || Number.isNaN(y)) return Infinity;
    num += (x - y) * (x - y);
    den += y * y;
  }
  return den === 0 ? (num === 0 ? 0 : Infinity) : num / den;
}

export function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(Number(a[i]) - Number(b[i]));
    if (!(d <= m)) m = d; // NaN propagates
  }
  return m;
}
