/**
 * Lets the event loop turn during long chains of small calls. A small CPU call
 * may run inline (native/runtime/inline_runs.h) and return its promise already
 * settled, so `for (...) await op()` over small ops would continue in
 * microtasks only, and timers and I/O would wait for the whole loop. Once a
 * millisecond has passed since the first call in this turn of the event loop,
 * the next call's promise is held until the loop has turned once (two
 * setImmediate hops, ~5 us: timers and I/O run in between), and every call made
 * meanwhile settles after it, in call order. The work itself is not delayed.
 */
let msPerTurn = 1;
let turnStart = -1;
let resetPending = false;
let gate: Promise<void> | null = null;

function endTurn(): void {
  turnStart = -1;
  resetPending = false;
}

function yieldTurn(): Promise<void> {
  return new Promise<void>((resolve) =>
    // The first hop may still be in this loop iteration (a call made in the
    // poll phase); the second runs after the next timers and poll phases.
    setImmediate(() =>
      setImmediate(() => {
        gate = null;
        turnStart = -1;
        resolve();
      }),
    ),
  );
}

/** @internal Makes a native call that may run inline and returns its result in call order. */
export async function inlineCall<T>(call: () => Promise<T>): Promise<T> {
  if (!resetPending) {
    resetPending = true;
    setImmediate(endTurn).unref();
  }
  const p = call();
  const now = performance.now();
  if (turnStart < 0) turnStart = now;
  else if (!gate && now - turnStart >= msPerTurn) gate = yieldTurn();
  if (gate) {
    // Held for the turn: mark a rejection as handled meanwhile (the caller
    // gets it when it awaits the result) or Node reports it as unhandled.
    p.catch(() => {});
    await gate;
  }
  return p;
}

/** @internal Tests: the time allowed between event-loop turns (ms); returns the previous value. */
export function setInlineMsPerTurn(ms: number): number {
  const old = msPerTurn;
  msPerTurn = ms;
  return old;
}
