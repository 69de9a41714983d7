/**
 * Keeping the JavaScript thread responsive in the few loops that must run on it (pixel conversions, painting masks,
 * COCO evaluation): they hand the event loop a turn every few milliseconds instead of holding it for the whole job.
 */

/**
 * A turn clock for loops that check it per item: `if (clock.due()) await clock.next();` reads the clock without
 * creating a promise (an awaited check is a microtask each, ~0.2 µs), so the check can sit in the innermost loop that
 * may run long. The first turn gets half the budget: a call made from a timer or I/O callback resumes from its first
 * yield in the same loop iteration's check phase, before the timers run again, so its first two turns run back to
 * back (1.5 budgets without a pause, not 2).
 */
export interface TurnClock {
  /** Whether the turn's budget has passed. */
  due(): boolean;
  /** Yields to the event loop (setImmediate) and starts a new turn. */
  next(): Promise<void>;
}

export function turnClock(budgetMs: number): TurnClock {
  let turn = performance.now() - budgetMs / 2;
  return {
    due: () => performance.now() - turn >= budgetMs,
    next: async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      turn = performance.now();
    },
  };
}

/** turnClock as one function to await often inside a long loop: it yields once the turn is spent, else costs a clock read. */
export function turnTaker(budgetMs: number): () => Promise<void> {
  const clock = turnClock(budgetMs);
  return async () => {
    if (clock.due()) await clock.next();
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
