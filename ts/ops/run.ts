/**
 * The op contract in one place: tensors on one device in, tensors on that
 * device out, a `precision` option, an optional AbortSignal, and native errors
 * mapped onto the typed errors of errors.ts.
 */
import {
  AbortError,
  NoKernelError,
  DisposedError,
  SotrRangeError,
  SotrTypeError,
} from '../errors';
import { native, type AttrValue, type NativeTensorHandle } from '../native';
import { mapNativeError } from '../native_errors';

export { mapNativeError };
import type { Precision } from '../device';
import { Tensor, dtypeBytes } from '../tensor';
import { inlineCall } from '../inline_turn';
import { deferredOps, type DeferredScope } from '../deferred';
import { keysOf, shownValue } from '../options';
import { abortError, checkSignal, watchAbort } from '../abort';

/** Options every op takes (each op's options interface extends this one). */
export interface OpOptions {
  /**
   * Arithmetic inside the op (default 'fp32', strict). On the CPU, 'bf16' multiplies in bfloat16 in the GEMM-based
   * ops where the CPU has AVX512-BF16 (`backendInfo().cpu.bf16`) and runs fp32 otherwise; 'tf32' and 'fp16' run
   * fp32 there.
   */
  precision?: Precision | undefined;
  /** Cancels the op if it has not started yet. */
  signal?: AbortSignal | undefined;
}

/** The keys every op's options may have (each op adds its own; ts/options.ts checks them). */
export const OP_OPTION_KEYS = keysOf<OpOptions>()('precision', 'signal');

const PRECISIONS = new Set(['fp32', 'tf32', 'bf16', 'fp16']);
let nextJob = 1;

/** @internal Throws the first failure of the scope's deferred ops on its device (typed, as the op itself would have). */
export function checkDeferred(scope: DeferredScope): void {
  try {
    native().takeDeferredError(scope.device, scope.id);
  } catch (e) {
    throw mapNativeError(e);
  }
}

/** True for the registry's error for an op that exists but has no kernel for the tensors' device (NoKernelError). */
export function isMissingKernelError(e: unknown): boolean {
  return e instanceof NoKernelError;
}

export function checkPrecision(op: string, p: unknown): Precision {
  if (p === undefined) return 'fp32';
  if (typeof p !== 'string' || !PRECISIONS.has(p)) {
    throw new SotrRangeError(`${op}: precision must be 'fp32', 'tf32', 'bf16' or 'fp16', received ${shownValue(p)}`);
  }
  return p as Precision;
}

export function checkTensor(op: string, name: string, t: unknown, optional = false): Tensor | null {
  if (t === undefined || t === null) {
    if (optional) return null;
    throw new SotrTypeError(`${op}: ${name} is required (a Tensor)`);
  }
  if (!(t instanceof Tensor)) throw new SotrTypeError(`${op}: ${name} must be a Tensor, received ${Object.prototype.toString.call(t)}`);
  if (t.disposed) throw new DisposedError(`${op}: ${name}`);
  return t;
}

/**
 * Queues a native op on the inputs' device; resolves with its outputs.
 * `inputs` may hold null for absent optional inputs.
 */
export async function runOp(
  op: string,
  inputs: Array<Tensor | null | undefined>,
  attrs: Record<string, AttrValue>,
  options: OpOptions = {},
): Promise<Tensor[]> {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new SotrTypeError(`${op}: options must be an object`);
  }
  const precision = checkPrecision(op, options.precision);
  const signal = options.signal;
  checkSignal(op, signal);
  if (signal?.aborted) throw abortError(signal, op);
  const handles: Array<NativeTensorHandle | null> = [];
  let device: string | undefined;
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i];
    if (t === null || t === undefined) {
      handles.push(null);
      continue;
    }
    if (!(t instanceof Tensor)) throw new SotrTypeError(`${op}: input ${i} must be a Tensor`);
    handles.push(t.handle); // throws DisposedError
    device ??= t.device;
  }
  device ??= 'cpu';
  // Defined attributes as [name, value, ...]: cheaper for the addon to read
  // than an object's keys (a per-call cost of small ops).
  const flat: Array<string | AttrValue> = [];
  for (const k in attrs) {
    const v = attrs[k];
    if (v !== undefined) flat.push(k, v);
  }
  // Inside a deferred scope for this device (the model's, SOTR_DEFERRED_OPS): queue the op and hand its outputs
  // back at once; a failure surfaces at the next host read of the device or at the scope's check.
  const deferred = deferredOps.getStore();
  if (deferred && deferred.device === device) {
    try {
      if (deferred.backlogBytes >= deferred.budgetBytes / 2) await paceDeferred(deferred);
      const outs = native().submitOp(op, handles, flat, device, precision, deferred.id).map((h) => new Tensor(h));
      for (const t of outs) deferred.backlogBytes += t.size * dtypeBytes(t.dtype);
      return outs;
    } catch (e) {
      throw mapNativeError(e);
    }
  }
  const jobId = signal ? nextJob++ % 0xffffffff || nextJob++ : 0;
  const unwatch = signal ? watchAbort(signal, () => native().cancelJob(jobId)) : null;
  try {
    const outs = await inlineCall(() => native().runOp(op, handles, flat, device, precision, jobId));
    return outs.map((h) => new Tensor(h));
  } catch (e) {
    const err = mapNativeError(e);
    // Cancelled by the signal while running: the native error knows nothing of its reason.
    if (err instanceof AbortError && signal?.aborted) throw abortError(signal, op);
    throw err;
  } finally {
    if (unwatch) {
      unwatch();
      native().forgetJob(jobId);
    }
  }
}

// Bounds a deferred scope's queued work: every budgetBytes / 2 of outputs submitted, issue a fence and
// wait for the previous one, so the queue holds at most about budgetBytes of the scope's unrun outputs
// and is never left empty while JavaScript waits (on a GPU the queue only launches kernels: the device stays busy).
// When the queue has already run past the previous fence (its completed count, read without a round trip), there is
// nothing to wait for: a queue that keeps up costs no event-loop turn.
async function paceDeferred(scope: DeferredScope): Promise<void> {
  const previous = scope.fence;
  const previousAt = scope.fenceAt;
  scope.fenceAt = native().queueProgress(scope.device)[0];
  const fence = native().queueFence(scope.device);
  fence.catch(() => {}); // awaited by the scope's next pacing, if any; the prediction's synchronize reports failures
  scope.fence = fence;
  scope.backlogBytes = 0;
  if (previous && native().queueProgress(scope.device)[1] < previousAt) await previous;
}

/** Names of the registered native ops and whether each has a CUDA kernel. */
export function listOps(): Array<{ name: string; cuda: boolean }> {
  return native().listOps();
}
