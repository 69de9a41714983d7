/**
 * Host memory the C heap keeps. glibc's malloc keeps what is freed below its (dynamic, up to 32 MiB) mmap threshold:
 * after a burst of large images, decoded pixels and mask read-backs (freed by the collector, in any order) stay
 * resident although all of it is free (30 concurrent 2400×1800 JPEGs: 2.3 GB after, 356 MB trimmed). `trimHostMemory()` hands those pages
 * back (malloc_trim), and a model does it by itself once nothing has run for a while (`SOTR_HOST_TRIM_IDLE_MS`,
 * default 2000; 0 off). The library's own free blocks are not touched here: their budget is `SOTR_CPU_CACHE_MB`, and
 * `releaseCached()` empties them (and trims too). Elsewhere than glibc (musl returns memory itself) nothing is done.
 */
import { SotrRangeError } from './errors';
import { native } from './native';

/** What a trim of the C heap did. */
export interface HostTrimInfo {
  /** False where the C library has no such trim (not glibc): nothing was done. */
  supported: boolean;
  /** This process's resident bytes before and after (-1 where unknown: not Linux). */
  residentBytesBefore: number;
  residentBytesAfter: number;
  /** Bytes the resident size fell by (0 where unknown, or when it rose meanwhile from other threads' work). */
  releasedBytes: number;
  /** Time the trim took, off the JavaScript thread. */
  ms: number;
}

/** The idle trim of this thread's models (`idleTrimInfo()`). */
export interface IdleTrimInfo {
  /** Milliseconds without a prediction in flight before the trim (`SOTR_HOST_TRIM_IDLE_MS`; 0: off). */
  delayMs: number;
  /** Trims done so far, and the bytes they released in all. */
  trims: number;
  releasedBytes: number;
  /** The last one, if any. */
  last?: HostTrimInfo;
}

const DEFAULT_IDLE_MS = 2000;
let busy = 0;
let timer: ReturnType<typeof setTimeout> | undefined;
let trimming = false;
const stats = { trims: 0, releasedBytes: 0, last: undefined as HostTrimInfo | undefined };

/** Hands the C heap's free pages back to the system, off the JavaScript thread, after the CPU work queued so far. */
export async function trimHostMemory(): Promise<HostTrimInfo> {
  const r = await native().trimHostHeap();
  const known = r.rssBefore >= 0 && r.rssAfter >= 0;
  return {
    supported: r.supported,
    residentBytesBefore: r.rssBefore,
    residentBytesAfter: r.rssAfter,
    releasedBytes: known ? Math.max(0, r.rssBefore - r.rssAfter) : 0,
    ms: r.ms,
  };
}

/** The idle trim's setting and what it has done in this thread (main thread or worker). */
export function idleTrimInfo(): IdleTrimInfo {
  return { delayMs: IDLE.ms, trims: stats.trims, releasedBytes: stats.releasedBytes, ...(stats.last ? { last: stats.last } : {}) };
}

/**
 * `SOTR_HOST_TRIM_IDLE_MS`, read once (as the other settings are): a whole number of milliseconds, 0 off. A malformed
 * value turns the trim off and is an error at Sotr.load (checkIdleTrimSetting), never from a timer.
 */
const IDLE: { ms: number; error?: string } = (() => {
  const raw = process.env.SOTR_HOST_TRIM_IDLE_MS;
  if (raw === undefined || raw.trim() === '') return { ms: DEFAULT_IDLE_MS };
  const v = Number(raw);
  if (Number.isInteger(v) && v >= 0 && v <= 2 ** 31 - 1) return { ms: v };
  return { ms: 0, error: `SOTR_HOST_TRIM_IDLE_MS must be a whole number of milliseconds (0 turns the idle trim off), got '${raw}'` };
})();

/** A model starts work (a predict call, an image of predictEach): the idle clock stops. */
export function hostWorkBegin(): void {
  busy++;
  if (timer !== undefined) {
    clearTimeout(timer);
    timer = undefined;
  }
}

/** That work ended; when nothing else runs, the idle clock starts. */
export function hostWorkEnd(): void {
  busy = Math.max(0, busy - 1);
  if (busy > 0 || timer !== undefined || IDLE.ms === 0) return;
  timer = setTimeout(idleTrim, IDLE.ms);
  timer.unref(); // never what keeps a process alive
}

/** Throws when SOTR_HOST_TRIM_IDLE_MS is malformed (called at Sotr.load, so the mistake is seen at once). */
export function checkIdleTrimSetting(): void {
  if (IDLE.error) throw new SotrRangeError(IDLE.error);
}

function idleTrim(): void {
  timer = undefined;
  if (busy > 0 || trimming) return;
  trimming = true;
  trimHostMemory().then(
    (r) => {
      trimming = false;
      if (!r.supported) return;
      stats.trims++;
      stats.releasedBytes += r.releasedBytes;
      stats.last = r;
    },
    () => {
      trimming = false; // the addon went away (a worker ending): nothing to report to anyone
    },
  );
}
