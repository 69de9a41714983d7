/**
 * Devices and backend selection. 'auto' picks CUDA when usable and falls back
 * to the CPU quietly, recording why; an explicit 'cuda' without a usable GPU
 * throws DeviceUnavailableError. SOTR_DEVICE, when set, wins over code.
 */
import * as os from 'node:os';
import { DeviceUnavailableError, SotrRangeError } from './errors';
import { native, nativeLoadError, type NativeBackendInfo, type NativeMemoryInfo, type WeightCacheInfo } from './native';
import { typedNative as typed, typedNativeAsync as typedAsync } from './native_errors';

/** A device as asked for: 'auto' (CUDA when usable, else the CPU), 'cpu', 'cuda' (= 'cuda:0') or 'cuda:N'. */
export type DeviceSpec = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;
/**
 * Arithmetic precision of an op: 'fp32' (default, strict), 'tf32', 'bf16' or 'fp16'. On the CPU, 'bf16' uses
 * bfloat16 products in the GEMM-based ops where the CPU has AVX512-BF16; everything else computes fp32 there.
 */
export type Precision = 'fp32' | 'tf32' | 'bf16' | 'fp16';

const DEVICE_RE = /^(auto|cpu|cuda|cuda:\d{1,4})$/;

/** What resolveDevice() chose, and why. */
export interface DeviceResolution {
  /** Concrete device: 'cpu' or 'cuda:N'. */
  device: string;
  /** What was asked for (after SOTR_DEVICE). */
  requested: string;
  /** Why the CPU was chosen for 'auto', if it was. */
  fallbackReason?: string;
  /** True when SOTR_DEVICE overrode the code's choice. */
  fromEnvironment: boolean;
}

let lastFallbackReason: string | undefined;

export function isDeviceSpec(v: unknown): v is DeviceSpec {
  return typeof v === 'string' && DEVICE_RE.test(v);
}

/** Resolves a device spec to a concrete device ('cpu' or 'cuda:N'). */
export function resolveDevice(spec: DeviceSpec | string = 'auto'): DeviceResolution {
  const env = process.env.SOTR_DEVICE?.trim();
  const fromEnvironment = !!env;
  const requested = env || spec;
  if (!isDeviceSpec(requested)) {
    throw new SotrRangeError(
      `invalid device '${requested}'${fromEnvironment ? ' (from SOTR_DEVICE)' : ''}: expected 'auto', 'cpu', 'cuda' or 'cuda:N'`,
    );
  }
  if (requested === 'cpu') return { device: 'cpu', requested, fromEnvironment };
  const info = backendInfo();
  const cuda = info.cuda;
  if (requested === 'auto') {
    if (cuda.available && cuda.devices.length > 0) return { device: 'cuda:0', requested, fromEnvironment };
    lastFallbackReason = cuda.reason ?? 'CUDA is not available';
    return { device: 'cpu', requested, fallbackReason: lastFallbackReason, fromEnvironment };
  }
  const index = requested === 'cuda' ? 0 : Number(requested.slice(5));
  if (!cuda.available) throw new DeviceUnavailableError(requested, cuda.reason ?? 'CUDA is not available');
  if (index >= cuda.devices.length) {
    throw new DeviceUnavailableError(requested, `only ${cuda.devices.length} CUDA device(s) present`);
  }
  return { device: `cuda:${index}`, requested, fromEnvironment };
}

/** What backendInfo() reports: the native build (and whether it loaded), the CPU, CUDA and the default device. */
export interface BackendInfo extends Omit<NativeBackendInfo, 'build'> {
  build: NativeBackendInfo['build'] & { loaded: boolean; loadError?: string };
  /** The device 'auto' resolves to, and why, and whether SOTR_DEVICE decided it. */
  defaultDevice: { device: string; reason?: string; fromEnvironment: boolean; environment?: string };
  /**
   * Where the CPU thread count comes from: 'SOTR_NUM_THREADS', 'option' (setNumThreads), 'cpu quota' (a
   * container's CPU limit, below the cores: `cpu.quota`) or 'cores' (those the process may run on).
   */
  threadsFrom: 'SOTR_NUM_THREADS' | 'option' | 'cpu quota' | 'cores';
}

// Whether SOTR_NUM_THREADS holds a count the native pool takes (1..1024; anything else is ignored there).
const threadsEnvValid = (): boolean => {
  const v = process.env.SOTR_NUM_THREADS ?? ''; // as strtoll reads it there: leading blanks and a sign, no trailing text
  return /^\s*\+?\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 1024;
};
let threadsFrom: BackendInfo['threadsFrom'] = threadsEnvValid() ? 'SOTR_NUM_THREADS' : 'cores';

/** Describes the build, the CPU and CUDA. Never throws. */
export function backendInfo(): BackendInfo {
  let raw: NativeBackendInfo;
  const err = nativeLoadError();
  if (err) {
    raw = {
      build: { version: 'unknown', commit: 'unknown', napiVersion: 0, simdVariants: [] },
      cpu: { threads: 0, simd: 'none', maxSimd: 'none', features: [], bf16: 'float32', error: err.message },
      cuda: {
        compiled: false,
        available: false,
        reason: 'the native addon did not load',
        driverVersion: 0,
        runtimeVersion: 0,
        archs: [],
        devices: [],
      },
    };
  } else {
    try {
      raw = native().backendInfo();
    } catch (e) {
      raw = {
        build: { version: 'unknown', commit: 'unknown', napiVersion: 0, simdVariants: [] },
        cpu: { threads: 0, simd: 'none', maxSimd: 'none', features: [], bf16: 'float32', error: String(e) },
        cuda: { compiled: false, available: false, reason: String(e), driverVersion: 0, runtimeVersion: 0, archs: [], devices: [] },
      };
    }
  }
  const env = process.env.SOTR_DEVICE?.trim();
  let defaultDevice: BackendInfo['defaultDevice'];
  if (env && !isDeviceSpec(env)) {
    // Every call that resolves a device throws for it (resolveDevice): say so here, where people look first.
    const reason = `SOTR_DEVICE='${env}' is not a device ('auto', 'cpu', 'cuda' or 'cuda:N'): Sotr.load and 'auto' throw SotrRangeError until it is fixed or unset`;
    defaultDevice = { device: 'cpu', reason, fromEnvironment: true, environment: env };
  } else if (env && env !== 'auto') {
    defaultDevice = { device: env === 'cuda' ? 'cuda:0' : env, fromEnvironment: true, environment: env, reason: 'SOTR_DEVICE' };
  } else if (raw.cuda.available && raw.cuda.devices.length) {
    defaultDevice = { device: 'cuda:0', fromEnvironment: !!env, environment: env || undefined };
  } else {
    defaultDevice = { device: 'cpu', reason: raw.cuda.reason ?? 'CUDA is not available', fromEnvironment: !!env, environment: env || undefined };
  }
  return {
    ...raw,
    build: { ...raw.build, loaded: !err, loadError: err?.message },
    defaultDevice,
    threadsFrom: threadsFrom === 'cores' && raw.cpu.defaultThreadsFrom === 'cpu quota' ? 'cpu quota' : threadsFrom,
  };
}

/**
 * The CPUs this process can keep busy: the cores it may run on (its affinity mask), at most ceil of a container's
 * CPU quota. What sizing decisions beside the model's pool (worker threads, libvips' threads) should go by:
 * os.availableParallelism() does not see a cgroup v1 quota.
 */
export function usableCpus(): number {
  const cpu = backendInfo().cpu;
  const cores = cpu.cores ?? os.availableParallelism?.() ?? os.cpus().length;
  return cpu.quota ? Math.max(1, Math.min(cores, Math.ceil(cpu.quota.cpus))) : Math.max(1, cores);
}

/**
 * Sets the CPU thread count (0 = default: SOTR_NUM_THREADS, else the cores the process may run on, at most ceil of a
 * container's CPU quota). Returns the count in effect.
 */
export function setNumThreads(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 1024) throw new SotrRangeError(`setNumThreads: n must be an integer 0..1024, received ${n}`);
  threadsFrom = n === 0 ? (threadsEnvValid() ? 'SOTR_NUM_THREADS' : 'cores') : 'option';
  return native().setNumThreads(n);
}

/**
 * A device allocator's counters (memoryInfo()): `liveBytes` in use, `peakBytes` the high-water mark (see
 * resetPeakMemory), `cachedBytes` freed but kept for reuse, `allocCalls` calls to the underlying allocator so far;
 * and on the CPU `workspaceBytes`, the kernels' per-thread workspaces (grown to the largest call so far, kept for
 * reuse, freed by releaseCached('cpu') and after a host out-of-memory error).
 */
export type MemoryInfo = NativeMemoryInfo;

/**
 * The derived-weight cache: packed conv weights and concatenated attention projections, made on an op's first call
 * with a weight tensor and dropped when that tensor is freed (e.g. `Sotr.dispose()`).
 */
export function weightCacheInfo(): WeightCacheInfo {
  return native().weightCacheInfo();
}

/** Drops every derived-weight cache entry now (calls in flight keep theirs); later calls rebuild what they need. */
export function clearWeightCache(): void {
  native().clearWeightCache();
}

/** Live, peak and cached bytes of a device's allocator. */
export function memoryInfo(device: string = 'cpu'): MemoryInfo {
  const d = concreteDevice(device);
  return typed(() => native().memoryInfo(d), d);
}

/**
 * Sets a device allocator's `peakBytes` to its live bytes now, so a later `memoryInfo(device).peakBytes` is the high
 * water mark of what ran in between (e.g. one prediction). Queued work still running counts from here on.
 */
export function resetPeakMemory(device: string = 'cpu'): void {
  const d = concreteDevice(device);
  typed(() => native().resetPeakMemory(d), d);
}

/** 'cpu' | 'cuda' | 'cuda:N' as given (no SOTR_DEVICE override); 'auto' resolves. */
export function concreteDevice(device: string): string {
  if (device === 'cpu') return 'cpu';
  if (device === 'cuda') return 'cuda:0';
  if (/^cuda:\d{1,4}$/.test(device)) return device;
  return resolveDevice(device).device;
}

/**
 * Returns cached (free) device memory to the driver, after queued work completes, and the C heap's free pages to the
 * system (glibc's malloc_trim: decoded images and read-backs live there whatever the device; see trimHostMemory).
 * On the CPU it also frees the kernels' per-thread workspaces (`memoryInfo('cpu').workspaceBytes`), which otherwise
 * stay at the size of the largest call so far: after a burst of large images, say.
 */
export async function releaseCached(device: string = 'auto'): Promise<void> {
  const d = concreteDevice(device);
  await typedAsync(() => native().releaseCached(d), d);
}

/** Resolves when all work queued on the device so far has finished. */
export async function synchronize(device: string = 'auto'): Promise<void> {
  const d = concreteDevice(device);
  await typedAsync(() => native().synchronize(d), d);
}

export function lastAutoFallbackReason(): string | undefined {
  return lastFallbackReason;
}
