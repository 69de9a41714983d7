/**
 * How the model calls the library's public ops (ts/ops/*): `op(ctx, conv2d, x, w, opts(ctx, {...}))` runs the op
 * on the model's device with the model's precision and AbortSignal.
 *
 * CPU fallback, in this one place: when an op has no kernel for the model's device (the registry's "no CUDA
 * kernel in this build" DeviceUnavailableError), its inputs are copied to the CPU, the op runs on its CPU twin and
 * the result is copied back. The op's name is recorded in the model's `fallbackOps` (later calls go straight to the
 * CPU) and logged once per model under NODE_DEBUG=sotr. Every other error propagates.
 */
import { debuglog } from 'node:util';
import { abortError } from '../abort';
import type { Precision } from '../device';
import { isMissingKernelError, type OpOptions } from '../ops/run';
import { Tensor } from '../tensor';

const debug = debuglog('sotr');

export interface OpCtx {
  /** The model's device ('cpu', 'cuda:0'). */
  device: string;
  precision: Precision;
  signal?: AbortSignal;
  /** Names of the ops that fell back to the CPU (the model's, kept across predictions). */
  fallbacks: Set<string>;
  /** Debug output (default: NODE_DEBUG=sotr). */
  debug?: (message: string) => void;
}

type NoNull<T> = { [K in keyof T]: Exclude<T[K], null> };

/** An op's options: `o` without its null/undefined entries, plus the model's precision and signal. */
export function opts<const T extends Record<string, unknown>>(ctx: OpCtx, o: T): NoNull<T> & OpOptions {
  const r: Record<string, unknown> = { precision: ctx.precision };
  if (ctx.signal) r.signal = ctx.signal;
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null) r[k] = v;
  return r as NoNull<T> & OpOptions;
}

/** Calls the public op `fn` on the model's device; falls back to the CPU where the device has no kernel for it. */
export async function op<A extends unknown[], R>(ctx: OpCtx, fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  const name = fn.name || 'op';
  if (ctx.signal?.aborted) throw abortError(ctx.signal, name);
  if (!ctx.fallbacks.has(name)) {
    try {
      return await fn(...args);
    } catch (e) {
      if (!isMissingKernelError(e)) throw e;
      ctx.fallbacks.add(name);
      (ctx.debug ?? debug)(`op '${name}' has no kernel for ${ctx.device}; running it on the CPU (copies in and out)`);
    }
  }
  return onCpu(ctx, fn, args);
}

/** Runs `fn` with CPU copies of the tensors in `args` and copies the tensors of its result to the model's device. */
async function onCpu<A extends unknown[], R>(ctx: OpCtx, fn: (...args: A) => Promise<R>, args: A): Promise<R> {
  const owned: Tensor[] = [];
  const toCpu = async (v: unknown, key?: string): Promise<unknown> => {
    if (v instanceof Tensor) {
      if (v.device === 'cpu') return v;
      const c = await v.to('cpu');
      owned.push(c);
      return c;
    }
    if (Array.isArray(v)) return Promise.all(v.map((x) => toCpu(x)));
    if (isPlainObject(v)) {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = await toCpu(x, k);
      return o;
    }
    // Where an op runs for host inputs (matrixNms with BitMasks).
    if (key === 'device' && v === ctx.device) return 'cpu';
    return v;
  };
  const back = async (v: unknown): Promise<unknown> => {
    if (v instanceof Tensor) {
      if (v.device === ctx.device) return v;
      try {
        return await v.to(ctx.device);
      } finally {
        v.dispose();
      }
    }
    if (Array.isArray(v)) return Promise.all(v.map(back));
    return v;
  };
  try {
    const cpuArgs = (await Promise.all(args.map((a) => toCpu(a)))) as A;
    return (await back(await fn(...cpuArgs))) as R;
  } finally {
    for (const t of owned) t.dispose();
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}
