// What the fuzz tests share: a seeded generator (SOTR_FUZZ_SEED overrides the file's default, so a longer or another
// run is one variable away; `state()` is the seed that replays the next call), and the test of a typed error.
import { SotrError, SotrTypeError, SotrRangeError } from '../../dist/index.js';

export function seededRandom(defaultSeed) {
  let seed = Number(process.env.SOTR_FUZZ_SEED || defaultSeed);
  const r01 = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  return {
    r01,
    pick: (a) => a[Math.floor(r01() * a.length)],
    int: (lo, hi) => lo + Math.floor(r01() * (hi - lo + 1)),
    state: () => seed,
  };
}

/** One of the library's typed errors (SotrError and its subclasses, SotrTypeError, SotrRangeError). */
export const isTypedError = (e) => e instanceof SotrError || e instanceof SotrTypeError || e instanceof SotrRangeError;
