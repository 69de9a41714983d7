/**
 * The CLI's exit when a signal stops it mid-work (convert writing, a model loading, a second Ctrl-C in predict).
 *
 * process.exit can hang for good there: it shuts V8's platform down, joining its worker threads, while one of them
 * (a concurrent Sparkplug or Maglev compile) may be waiting for a garbage collection that only the exiting main
 * thread could run (nodejs/node#54918, still open). Seen in CI under Node 24, and 6 times in 130 interrupted
 * converts on a loaded machine here, each a process stuck in `NodePlatform::Shutdown` until killed. A natural end
 * does not hang (the isolate is torn down first, which releases such threads); neither does _exit(2), used here.
 *
 * process.exit also drops what stdout and stderr still hold for a pipe that is full (libuv queues the rest of a
 * write the pipe does not take): with `--out -`, the results already produced, the last line torn. So the exit
 * waits for both streams to drain first (up to `drainMs`; a reader that stops reading cannot be waited for), and the
 * event loop runs meanwhile, so more whole lines may go out.
 *
 * On Linux's main thread the addon's _exitNow then ends the process (std::_Exit). Skipped: 'exit' listeners (the CLI
 * has none): what must go with the process (a lock, a temporary file) is registered with onExitNow instead, and
 * removed just before the exit, after the drain (a write still running meanwhile may have made the file by then).
 * Elsewhere, in a worker, or without the addon, process.exit as before.
 */
import { isMainThread } from 'node:worker_threads';
import { native } from '../native';

const pending = () => process.stdout.writableLength + process.stderr.writableLength;

const cleanups = new Set<() => void>();

/** Runs `fn` just before exitNow ends the process (each one once; a failure does not stop the exit); returns its removal. */
export function onExitNow(fn: () => void): () => void {
  cleanups.add(fn);
  return () => void cleanups.delete(fn);
}

function exitProcess(code: number): never {
  for (const fn of [...cleanups]) {
    cleanups.delete(fn);
    try {
      fn();
    } catch {
      // Exit all the same.
    }
  }
  if (process.platform === 'linux' && isMainThread) {
    try {
      native()._exitNow(code);
    } catch {
      // No addon (a failed build): Node's own exit.
    }
  }
  process.exit(code);
}

/** Ends the process with `code` once stdout and stderr have drained (at once when they have nothing pending). */
export function exitNow(code: number, drainMs = 10_000): void {
  if (pending() === 0) exitProcess(code);
  const until = Date.now() + drainMs;
  const poll = () => {
    if (pending() === 0 || Date.now() >= until) exitProcess(code);
    setTimeout(poll, 5);
  };
  setTimeout(poll, 5);
}
