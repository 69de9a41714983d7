/**
 * Keeping the JavaScript thread responsive in the few loops that must run on it (pixel conversions, painting masks,
 * COCO evaluation): they hand the event loop a turn every few milliseconds instead of holding it for the whole job.
 */

/**
 * Returns a function to await often inside a long loop: it yields to the event loop (setImmediate) once `budgetMs`
 * have passed since the last turn, and costs a clock read otherwise. The first turn gets half the budget: a call
 * made from a timer or I/O callback resumes from its first yield in the same loop iteration's check phase, before
 * the timers run again, so its first two turns run back to back (1.5 budgets, not 2, without a pause).
 */
export function turnTaker(budgetMs: number): () => Promise<void> {
  let turn = performance.now() - budgetMs / 2;
  return async () => {
    if (performance.now() - turn < budgetMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    turn = performance.now();
  };
}

/**
 * turnTaker's clock with the check and the yield apart, for loops that check it per item: `if (clock.due()) await
 * clock.next();` reads the clock without creating a promise (an awaited check is a microtask each, ~0.2 µs), so
 * the check can sit in the innermost loop that may run long.
 */
export interface TurnClock {
  /** Whether `budgetMs` have passed since the last turn. */
  due(): boolean;
  /** Yields to the event loop (setImmediate) and starts a new turn. */
  next(): Promise<void>;
}

export function turnClock(budgetMs: number): TurnClock {
  let turn = performance.now();
  return {
    due: () => performance.now() - turn >= budgetMs,
    next: async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      turn = performance.now();
    },
  };
}

/**
 * Runs fn over [0, n) in slices of 256 Ki elements, yielding to the event loop between them: the conversions done in
 * JavaScript (16-bit, CMYK, the overlay's BGR to RGB) take ~100 ms for a 12-megapixel photo, too long for one turn
 * (slices of a million pixels were ~12 ms each).
 */
export async function inSlices(n: number, fn: (i0: number, i1: number) => void): Promise<void> {
  const SLICE = 1 << 18;
  for (let i0 = 0; i0 < n; i0 += SLICE) {
    if (i0 > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    fn(i0, Math.min(n, i0 + SLICE));
  }
}
