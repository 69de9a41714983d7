/**
 * Options objects are checked for keys the function does not know: a misspelt option (`scoreTreshold`,
 * `minSzie`) used to be ignored in silence, and the call ran with the default. Now it throws, naming the key and the
 * nearest known one.
 */
import { SotrTypeError } from './errors';

type StringKeys<T> = Extract<keyof T, string>;

/**
 * The keys of T as a runtime list, checked by the compiler both ways: `keysOf<PredictOptions>()('profile', …)` does
 * not compile when a key of the interface is left out (its name appears in the error) or one is not in it.
 */
export function keysOf<T>() {
  return <const K extends readonly StringKeys<T>[]>(
    ...keys: K & ([Exclude<StringKeys<T>, K[number]>] extends [never] ? unknown : { missingKeys: Exclude<StringKeys<T>, K[number]> })
  ): readonly K[number][] => Object.freeze([...keys]);
}

/** Edit distance with adjacent transpositions (optimal string alignment), for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known key nearest to `key`, when near enough to be a slip (case, or 1-3 edits by length; none for keys of 1-2 letters). */
export function nearestKey(key: string, allowed: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of allowed) {
    const dd = k.toLowerCase() === lower ? 0 : distance(lower, k.toLowerCase());
    if (dd < bestD) {
      bestD = dd;
      best = k;
    }
  }
  const limit = key.length <= 2 ? 0 : key.length <= 4 ? 1 : key.length <= 8 ? 2 : 3;
  return bestD <= limit ? best : undefined;
}

/**
 * Throws SotrTypeError when `options` is not a plain object (undefined is fine: the defaults) or has an own key
 * outside `allowed` whose value is not undefined (a key spread in as undefined changes nothing, so it passes).
 */
/** A value in an error message: a string quoted, so that '80' does not read as 80. */
export function shownValue(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export function checkOptions(where: string, options: unknown, allowed: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new SotrTypeError(`${where}: options must be an object, received ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  const unknown = Object.keys(options).filter((k) => !allowed.includes(k) && (options as Record<string, unknown>)[k] !== undefined);
  if (!unknown.length) return;
  const named = unknown.map((k) => {
    const near = nearestKey(k, allowed);
    return `'${k}'${near ? ` (did you mean '${near}'?)` : ''}`;
  });
  throw new SotrTypeError(
    `${where}: unknown option${unknown.length > 1 ? 's' : ''} ${named.join(', ')}; known: ${[...allowed].sort().join(', ')}`,
  );
}
