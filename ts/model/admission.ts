/**
 * Turns for a model's predictions. Concurrent `predict` calls on one model used to run all at once: their ops
 * interleaved on the device's queue, so every caller waited as long as the slowest (4 concurrent calls on a random
 * R50 on the CPU: the first done after 12.1 s, against 2.8 s alone) and each held its activations meanwhile (the
 * host arena's peak 402 → 848 MB). Now images take turns, first come first served: `depth` run at a time (1 on the
 * CPU, 2 on a GPU: predict([...])'s pipeline depth) and one more may decode meanwhile, so a queue of requests holds
 * encoded bytes, not decoded images.
 */
import { abortError, watchAbort } from '../abort';

type Release = () => void;

interface Waiter {
  grant(release: Release): void;
  abort(): void;
}

/** A counting semaphore that grants in arrival order; a waiter whose signal aborts leaves the line. */
export class FifoSlots {
  #free: number;
  readonly #line: Waiter[] = [];

  constructor(readonly size: number) {
    this.#free = size;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#line.length;
  }

  /** Slots in use. */
  get busy(): number {
    return this.size - this.#free;
  }

  /** Resolves with the slot's release function (idempotent) when it is this caller's turn. */
  acquire(signal?: AbortSignal, what = 'predict'): Promise<Release> {
    if (signal?.aborted) return Promise.reject(abortError(signal, what));
    if (this.#free > 0 && this.#line.length === 0) {
      this.#free--;
      return Promise.resolve(this.#releaser());
    }
    return new Promise<Release>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#line.indexOf(w);
        if (i >= 0) this.#line.splice(i, 1);
        reject(abortError(signal, what));
      };
      const unwatch = signal ? watchAbort(signal, onAbort) : () => {};
      const w: Waiter = {
        grant: (release) => {
          unwatch();
          resolve(release);
        },
        abort: onAbort,
      };
      this.#line.push(w);
    });
  }

  #releaser(): Release {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      // The slot passes straight to the next in line (no window in which a newcomer could take it).
      const next = this.#line.shift();
      if (next) next.grant(this.#releaser());
      else this.#free++;
    };
  }
}

/** Images in flight in a model: `SOTR_PIPELINE_DEPTH` (1-4) when set, else 1 on the CPU and 2 on a GPU. */
export function pipelineDepth(device: string): number {
  const env = Number(process.env.SOTR_PIPELINE_DEPTH);
  return Number.isInteger(env) && env >= 1 && env <= 4 ? env : device === 'cpu' ? 1 : 2;
}
