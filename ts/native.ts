/**
 * Loads the native addon lazily, once per environment (main thread or
 * worker). When no binary loads, the error lists every place tried and how
 * to fix it. This file is the one place that knows the addon's JS shape.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NativeLoadError } from './errors';

export interface NativeTensorHandle {
  readonly dtype: string;
  readonly shape: number[];
  readonly device: string;
  readonly released: boolean;
  readonly byteLength: number;
  release(): void;
}

/** What the addon reports of its build and devices (backendInfo() adds the library's own view: see BackendInfo). */
export interface NativeBackendInfo {
  build: { version: string; commit: string; napiVersion: number; simdVariants: string[] };
  cpu: {
    threads: number;
    simd: string;
    maxSimd: string;
    features: string[];
    /** What precision 'bf16' multiplies in on the CPU: 'bfloat16' (AVX512-BF16 GEMM kernels) or 'float32'. */
    bf16: 'bfloat16' | 'float32';
    /** The cores this process may run on (its affinity mask: taskset, cpusets). */
    cores?: number;
    /**
     * A container's CPU bandwidth limit (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`; the smallest along the
     * cgroup's ancestors) in CPUs, and the file that set it; null when there is none. The default thread count is
     * at most ceil(cpus).
     */
    quota?: { cpus: number; source: string } | null;
    /** The thread count the pool is made with when nothing sets it, and why: 'SOTR_NUM_THREADS', 'cpu quota' or 'cores'. */
    defaultThreads?: number;
    defaultThreadsFrom?: 'SOTR_NUM_THREADS' | 'cpu quota' | 'cores';
    /**
     * A container's memory limit (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`; the smallest along the
     * cgroup's ancestors) and the file that set it; null when there is none.
     */
    memoryLimit?: { bytes: number; source: string } | null;
    /** The derived-weight cache's budget and what set it (as weightCacheInfo()'s `limitBytes` and `limitFrom`). */
    weightCacheBudget?: { bytes: number; from: WeightCacheInfo['limitFrom'] };
    error?: string;
  };
  cuda: {
    compiled: boolean;
    available: boolean;
    reason?: string;
    driverVersion: number;
    runtimeVersion: number;
    archs: string[];
    devices: Array<{ index: number; name: string; computeCapability: string; totalMemory: number; multiprocessors: number }>;
  };
}

/** One device allocator's counters, in bytes (memoryInfo() returns these, with the CUDA driver's view on a GPU). */
export interface NativeMemoryInfo {
  device: string;
  liveBytes: number;
  peakBytes: number;
  cachedBytes: number;
  allocCalls: number;
  /** 'cpu': the CPU kernels' per-thread workspaces (packing, transforms), outside the allocator; 0 for CUDA. */
  workspaceBytes: number;
}

/** The value of one attribute of a low-level op call (runOp's `attrs`): a number, a flag, a name or a list. */
export type AttrValue = number | boolean | string | number[] | ArrayLike<number> | undefined;

/**
 * The addon interface this JavaScript speaks (bindings/addon.h, kInterfaceVersion): an addon built for another one
 * (a stale build/ or prebuild) is refused at load with NativeLoadError, instead of misreading an op's outputs.
 */
export const NATIVE_INTERFACE = 11;

export interface NativeAddon {
  /** bindings/addon.h's kInterfaceVersion (absent before version 2). */
  interfaceVersion?: number;
  NativeTensor: new () => NativeTensorHandle;
  fromHost(bytes: Uint8Array, dtype: string, shape: number[], device: string): NativeTensorHandle;
  /**
   * A CPU tensor of the parts' bytes one after another, copied on the CPU thread (copyNow: at the call, on this
   * thread); keep the parts alive until it settles.
   */
  fromHostParts(parts: ArrayBufferView[], dtype: string, shape: number[], copyNow?: boolean): Promise<NativeTensorHandle>;
  /** Detaches (frees now) the given ArrayBuffers; returns the bytes released. Only for buffers nothing else uses. */
  releaseHostBuffers(buffers: ArrayBuffer[]): number;
  /** scope: the caller's deferred scope (0: none), whose earlier failure the read reports. */
  toHost(t: NativeTensorHandle, scope?: number): Promise<ArrayBuffer>;
  copyTo(t: NativeTensorHandle, device: string, scope?: number): Promise<NativeTensorHandle>;
  view(t: NativeTensorHandle, shape: number[], elementOffset: number): NativeTensorHandle;
  /** Queues an op without a completion of its own; returns its outputs at once (experimental: deferred ops). */
  submitOp(
    name: string,
    inputs: Array<NativeTensorHandle | null>,
    attrs: Array<string | AttrValue>,
    device: string,
    precision: string,
    scope: number,
  ): NativeTensorHandle[];
  /** Throws the scope's first failure of deferred ops on the device (and clears it). */
  takeDeferredError(device: string, scope: number): void;
  runOp(
    name: string,
    inputs: Array<NativeTensorHandle | null>,
    /** An object, or [name, value, name, value, ...] (what runOp passes; cheaper to read). */
    attrs: Record<string, AttrValue> | Array<string | AttrValue>,
    device: string,
    precision: string,
    jobId: number,
  ): Promise<NativeTensorHandle[]>;
  cancelJob(id: number): void;
  forgetJob(id: number): void;
  listOps(): Array<{ name: string; cuda: boolean }>;
  backendInfo(): NativeBackendInfo;
  memoryInfo(device: string): NativeMemoryInfo;
  resetPeakMemory(device: string): void;
  releaseCached(device: string): Promise<void>;
  trimHostHeap(): Promise<{ supported: boolean; rssBefore: number; rssAfter: number; ms: number }>;
  synchronize(device: string): Promise<void>;
  /** Settles once the device's queue has run every job submitted before it (no device synchronisation). */
  queueFence(device: string): Promise<void>;
  /** The device queue's jobs submitted and run so far (in order): [submitted, completed]. */
  queueProgress(device: string): [number, number];
  setNumThreads(n: number): number;
  setSimdLevel(level: string): string;
  weightCacheInfo(): WeightCacheInfo;
  clearWeightCache(): void;
  /** @internal Inline runs of small CPU calls: budget (us; a value >= 0 sets it) and calls run inline so far. */
  _inlineRunInfo(budgetUs?: number): { budgetUs: number; inlineRuns: number };
  /** Opens an op profile session (ts/profile.ts): device or null for all, this environment only, rows by shape. */
  opProfileStart(device: string | null, envOnly: boolean, byShape: boolean): number;
  opProfileStop(id: number): import('./profile').NativeOpProfile;
  /** @internal Sessions open in the process. */
  _opProfileOpen(): number;
  /** @internal Ends the process now (std::_Exit): no exit handlers, no joins (ts/cli/exit_now.ts says why). */
  _exitNow(code: number): never;
}

/** The derived-weight cache (packed conv weights, concatenated attention projections). */
export interface WeightCacheInfo {
  /** Weight sets with derived data held. */
  entries: number;
  /** Host bytes held (device copies are not counted). */
  bytes: number;
  /**
   * Budget for `bytes`: SOTR_WEIGHT_CACHE_MB (0 disables the cache), else 2048 MiB, or a quarter of a container's
   * memory limit when that is less (`backendInfo().cpu.memoryLimit`).
   */
  limitBytes: number;
  /** What set the budget: 'SOTR_WEIGHT_CACHE_MB', 'SOTR_CONV_WEIGHT_CACHE_MB' (its old name), 'memory limit' or 'default'. */
  limitFrom: 'SOTR_WEIGHT_CACHE_MB' | 'SOTR_CONV_WEIGHT_CACHE_MB' | 'memory limit' | 'default';
  hits: number;
  misses: number;
  /**
   * Entries dropped to make room for weights asked for more often (a change of models, say). When the budget is
   * full, a new entry evicts least-recently-used ones only if it was asked for more often lately than each of them.
   */
  evictions: number;
  /**
   * Misses whose derived weights served their call only, the budget being full of weights asked for as often. A
   * count that rises with every prediction means the models in use need more than the budget: the part that fits
   * stays cached, the rest is rebuilt on each call. Raise SOTR_WEIGHT_CACHE_MB (or set SOTR_CONV_WINOGRAD4=0, which
   * halves the convolutions' share).
   */
  notKept: number;
}

let cached: NativeAddon | undefined;
let loadError: NativeLoadError | undefined;

export const packageRoot = path.resolve(__dirname, '..');

function candidates(): string[] {
  const plat = `${process.platform}-${process.arch}`;
  const out = [path.join(packageRoot, 'build', 'Release', 'sotr.node')];
  const pre = path.join(packageRoot, 'prebuilds', plat);
  try {
    for (const f of fs.readdirSync(pre)) if (f.endsWith('.node')) out.push(path.join(pre, f));
  } catch {
    out.push(path.join(pre, '<package>.node'));
  }
  return out;
}

/** The addon, loaded on first use. Throws NativeLoadError with the paths tried. */
export function native(): NativeAddon {
  if (cached) return cached;
  if (loadError) throw loadError;
  const override = process.env.SOTR_NATIVE_PATH;
  const tried: string[] = [];
  const list = override ? [override] : candidates();
  for (const file of list) {
    if (!fs.existsSync(file)) {
      tried.push(`${file} (not found)`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const addon = require(file) as NativeAddon;
      if (addon.interfaceVersion !== NATIVE_INTERFACE) {
        tried.push(
          `${file} (built for native interface ${addon.interfaceVersion ?? '1 or older'}, this JavaScript needs ${NATIVE_INTERFACE}: ` +
            'a stale build; rebuild it)',
        );
        continue;
      }
      cached = addon;
      return cached;
    } catch (err) {
      tried.push(`${file} (${(err as Error).message.split('\n')[0]})`);
    }
  }
  loadError = new NativeLoadError(
    [
      `could not load the sotr-node native addon for ${process.platform}-${process.arch} (Node ${process.version}).`,
      'Tried:',
      ...tried.map((t) => `  - ${t}`),
      'To fix: reinstall with `npm install sotr-node --foreground-scripts` to see the build output, or build from',
      'source with `npm rebuild sotr-node` (needs cmake >= 3.18 and a C++17 compiler; nvcc for CUDA); in a git',
      'checkout, `npm run build:native`. npm may skip dependencies\' install scripts (npm 12 does unless they are',
      'allowed): allow this one first with `npm approve-scripts sotr-node` (allowScripts in package.json).',
      'Bundlers and Electron: mark sotr-node as external so its native files stay in node_modules.',
    ].join('\n'),
  );
  throw loadError;
}

/** The load error, if the addon failed to load; undefined when it loaded or was not tried. */
export function nativeLoadError(): NativeLoadError | undefined {
  if (!cached && !loadError) {
    try {
      native();
    } catch {
      /* recorded */
    }
  }
  return loadError;
}
