/**
 * Deferred ops (experimental): inside `deferredOps.run(deferredScope(device), fn)`, ops on that device are queued
 * without a completion each (native submitOp; ts/ops/run.ts). Each scope has its own id: a failure of its ops is kept
 * for that scope only and reported by the scope's next host read or copy from the device (Tensor.data(), .to()), or
 * by `checkDeferred`; other callers on the same device never see it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface DeferredScope {
  device: string;
  id: number;
  /** Output bytes of the scope's ops submitted since its last fence was issued (see paceDeferred). */
  backlogBytes: number;
  /** The most output bytes the scope may have queued and not yet run (deferredBacklogBytes). */
  budgetBytes: number;
  /** The scope's last fence: settles once the device's queue has run every op submitted before it. */
  fence: Promise<void> | null;
  /** The device queue's submitted count when that fence was issued: every op of the scope before it is among them. */
  fenceAt: number;
}

/** @internal */
export const deferredOps = new AsyncLocalStorage<DeferredScope>();

let nextId = 1;

/** @internal A new scope on `device` (ids are nonzero and wrap around after 2^32 - 1). */
export function deferredScope(device: string): DeferredScope {
  const id = nextId;
  nextId = nextId >= 0xffffffff ? 1 : nextId + 1;
  return { device, id, backlogBytes: 0, budgetBytes: deferredBacklogBytes(device), fence: null, fenceAt: 0 };
}

/** @internal The id of the caller's scope on `device` (0: none), for host reads and copies. */
export function deferredScopeId(device: string): number {
  const s = deferredOps.getStore();
  return s && s.device === device ? s.id : 0;
}

/**
 * @internal How many bytes of outputs a scope on `device` may have queued and not yet run: a submitted op's outputs
 * are allocated at once and its job holds them (and its inputs) until the queue has run it, so without a bound a
 * scope whose JavaScript runs ahead of the device would hold every activation of a prediction at once (the CPU R50
 * with deferred ops forced: a peak of 2985 MiB against 595 MiB awaited). SOTR_DEFERRED_BACKLOG_MIB sets it; the
 * default is 256 MiB on a GPU and 32 MiB on the CPU, whose queue runs each op to its end before the next: there the
 * JavaScript is always a whole budget ahead, and 32 MiB kept the pool as busy as 256 did (R50 1067×800, 2 threads:
 * the same times, a peak 55 MiB above awaited ops instead of 250).
 */
export function deferredBacklogBytes(device: string): number {
  return (BACKLOG_MIB_FROM_ENV || (device === 'cpu' ? 32 : 256)) * 2 ** 20;
}

const BACKLOG_MIB_FROM_ENV = (() => {
  const v = Number(process.env.SOTR_DEFERRED_BACKLOG_MIB);
  return Number.isFinite(v) && v > 0 ? v : 0;
})();
