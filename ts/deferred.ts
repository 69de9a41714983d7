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
}

/** @internal */
export const deferredOps = new AsyncLocalStorage<DeferredScope>();

let nextId = 1;

/** @internal A new scope on `device` (ids are nonzero and wrap around after 2^32 - 1). */
export function deferredScope(device: string): DeferredScope {
  const id = nextId;
  nextId = nextId >= 0xffffffff ? 1 : nextId + 1;
  return { device, id };
}

/** @internal The id of the caller's scope on `device` (0: none), for host reads and copies. */
export function deferredScopeId(device: string): number {
  const s = deferredOps.getStore();
  return s && s.device === device ? s.id : 0;
}
