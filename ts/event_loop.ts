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
 *
 * Every clock in the process shares one turn: calls running at once (20 `evaluateCoco` in a `Promise.all`) take turns,
 * one an event-loop iteration, instead of each taking its own budget in the same check phase (the timers then waited
 * for 20 turns: ~200 ms). A call started while a turn is open (in the same tick as another) starts within that turn.
 */
export interface TurnClock {
  /** Whether the turn's budget has passed. */
  due(): boolean;
  /** Yields to the event loop (to the next iteration when other clocked calls wait) and starts a new turn. */
  next(): Promise<void>;
}

// The shared turn: when it began, and whether it is still open (until the next check phase, when a new call would
// be a new turn of its own). Clocks that yielded wait in line; a pump resumes one per event-loop iteration.
let turnStart = 0;
let turnOpen = false;
const waiting: Array<() => void> = [];
let pumpScheduled = false;

function openTurn(start: number): void {
  turnStart = start;
  if (!turnOpen) {
    turnOpen = true;
    setImmediate(() => {
      turnOpen = false;
    });
  }
}

function pump(): void {
  pumpScheduled = false;
  const resume = waiting.shift();
  if (!resume) return;
  openTurn(performance.now());
  resume();
  // The next one in the next iteration (an immediate scheduled from an immediate runs then): timers and I/O between.
  if (waiting.length && !pumpScheduled) {
    pumpScheduled = true;
    setImmediate(pump);
  }
}

export function turnClock(budgetMs: number): TurnClock {
  if (!turnOpen) openTurn(performance.now() - budgetMs / 2);
  return {
    due: () => performance.now() - turnStart >= budgetMs,
    next: () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (!pumpScheduled) {
          pumpScheduled = true;
          setImmediate(pump);
        }
      }),
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
 * Runs fn over [0, n) in slices of 256 Ki elements, handing the event loop a turn between them when the shared turn
 * (turnClock) is spent: the conversions done in JavaScript (16-bit, CMYK, the overlay's BGR to RGB and its copy) take
 * ~100 ms for a 12-megapixel photo, too long for one turn (slices of a million pixels were ~12 ms each).
 */
export async function inSlices(n: number, fn: (i0: number, i1: number) => void, budgetMs = 8): Promise<void> {
  const SLICE = 1 << 18;
  const clock = turnClock(budgetMs);
  for (let i0 = 0; i0 < n; i0 += SLICE) {
    if (i0 > 0 && clock.due()) await clock.next();
    fn(i0, Math.min(n, i0 + SLICE));
  }
}
