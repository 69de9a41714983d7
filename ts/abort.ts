import { AbortError, SotrTypeError } from './errors';
/**
 * One 'abort' listener per caller's signal, however many waits watch it. A server may give one long-lived signal
 * (its shutdown) to every call: a listener per waiting call would pass Node's limit of 10 listeners an event
 * target (MaxListenersExceededWarning, "possible memory leak") with a few concurrent calls.
 */
const watchers = new WeakMap<AbortSignal, Set<() => void>>();

function dispatch(this: AbortSignal): void {
  const set = watchers.get(this);
  watchers.delete(this);
  if (set) for (const f of [...set]) f();
}

/** Calls `onAbort` once when `signal` aborts; the returned function stops watching (idempotent). */
export function watchAbort(signal: AbortSignal, onAbort: () => void): () => void {
  let set = watchers.get(signal);
  if (!set) {
    set = new Set();
    watchers.set(signal, set);
    signal.addEventListener('abort', dispatch, { once: true });
  }
  // A wrapper per call: the same function watching twice is two watches.
  const f = (): void => onAbort();
  set.add(f);
  return () => {
    const s = watchers.get(signal);
    if (!s || !s.delete(f) || s.size > 0) return;
    watchers.delete(signal);
    signal.removeEventListener('abort', dispatch);
  };
}

/**
 * Throws this library's AbortError when `signal` has aborted. (`signal.throwIfAborted()` throws the signal's reason
 * instead: whatever the caller passed to abort(), a DOMException for AbortSignal.timeout(), even a bare string.)
 */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}

/** This library's AbortError for an aborted `signal`, its reason as `cause`. */
export function abortError(signal: AbortSignal | undefined, what: string): AbortError {
  return new AbortError(what, signal?.reason);
}

/** Checks an options object's `signal` (undefined or an AbortSignal). */
export function checkSignal(where: string, signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new SotrTypeError(`${where}: signal must be an AbortSignal`);
  return signal;
}
