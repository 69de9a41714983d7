/**
 * The per-op profiler: where a prediction's time goes, op by op, on the CPU and on CUDA.
 *
 *   startOpProfile();            // or startOpProfile('cuda'), startOpProfile({ byShape: true })
 *   await model.predict(img);
 *   console.log(formatOpProfile(stopOpProfile()));
 *
 * While a profile is open every op job (queued, or run inline on the JS thread) records its time:
 * on the CPU the kernel's wall time; on CUDA the device time between timestamps (events) recorded on
 * the op's stream around its launches, plus the host time the job took (launch overhead). Between two
 * consecutive ops of a device the profiler measures the gap the device sat idle (the JS round trip of
 * an awaited op shows up there). Off, the cost is one relaxed atomic load per op.
 */
import { concreteDevice, type DeviceSpec } from './device';
import { ProfileStateError, SotrTypeError } from './errors';
import { native } from './native';
import { checkOptions, keysOf } from './options';

/** One row: an op on a device (and, with `byShape`, one input-shape signature). */
export interface OpStat {
  op: string;
  device: string;
  /** Input shapes, e.g. "1x256x64x64,256x256x3x3" (only with `byShape`). */
  shape?: string;
  calls: number;
  /** Calls that ran inline on the JS thread (small CPU calls). */
  inlineCalls: number;
  /** Time on the device: CPU kernel wall time; CUDA event time (see `deviceTimed`). */
  totalMs: number;
  meanMs: number;
  maxMs: number;
  /** Host time in the job (CPU: the same as totalMs; CUDA: launch overhead). */
  hostMs: number;
  hostMaxMs: number;
  /** Device idle time right before this op's calls (sum of the measured gaps). */
  idleBeforeMs: number;
  /** True when totalMs comes from device timestamps (CUDA). */
  deviceTimed: boolean;
}

/** One device's totals in an op profile: calls, busy, host and idle time in milliseconds. */
export interface OpProfileDevice {
  device: string;
  calls: number;
  /** Sum of the ops' device times. */
  busyMs: number;
  /** Sum of the host times of the jobs. */
  hostMs: number;
  /** Sum of the gaps between consecutive recorded ops (the device sat idle). */
  idleMs: number;
  /** Gaps measured (calls - 1 unless timestamps ran out). */
  gaps: number;
  deviceTimed: boolean;
}

/**
 * What stopOpProfile() (or predict's `profile: 'ops'`) returns: each op's calls and times, and each device's busy and
 * idle time, in milliseconds. formatOpProfile() prints it as a table.
 */
export interface OpProfile {
  /** Host wall time from start to stop. */
  wallMs: number;
  /** Totals over `devices`. */
  calls: number;
  busyMs: number;
  idleMs: number;
  /** By totalMs, descending. */
  ops: OpStat[];
  devices: OpProfileDevice[];
  /** Runs not recorded (over the record limit, 2^20 per open profile). */
  dropped: number;
}

/** Options of startOpProfile(). */
export interface OpProfileOptions {
  /** Only ops on this device (default: every device). */
  device?: DeviceSpec | string | undefined;
  /** Only ops called from this thread (main thread or worker); default: the whole process. */
  thisThreadOnly?: boolean | undefined;
  /** One row per op and input shapes (default: one per op and device). */
  byShape?: boolean | undefined;
}

const PROFILE_OPTIONS = keysOf<OpProfileOptions>()('device', 'thisThreadOnly', 'byShape');

/** @internal A native profile session (several may be open: a user's, one per predict({ profile: 'ops' })). */
export class OpProfileSession {
  #id: number | null;
  constructor(options: OpProfileOptions = {}) {
    if (options === null || typeof options !== 'object') throw new SotrTypeError('op profile options must be an object');
    checkOptions('startOpProfile', options, PROFILE_OPTIONS);
    const device = options.device === undefined ? null : concreteDevice(String(options.device));
    this.#id = native().opProfileStart(device, options.thisThreadOnly === true, options.byShape === true);
  }
  get open(): boolean {
    return this.#id !== null;
  }
  /** Closes the session and returns what it saw (waits for the device work of recorded CUDA ops). */
  stop(): OpProfile {
    if (this.#id === null) throw new ProfileStateError('the op profile was already stopped');
    const id = this.#id;
    this.#id = null;
    return finish(native().opProfileStop(id));
  }
}

function finish(raw: NativeOpProfile): OpProfile {
  const ops: OpStat[] = raw.ops.map((o) => ({
    op: o.op,
    device: o.device,
    ...(o.shape !== undefined ? { shape: o.shape } : {}),
    calls: o.calls,
    inlineCalls: o.inlineCalls,
    totalMs: o.totalMs,
    meanMs: o.calls ? o.totalMs / o.calls : 0,
    maxMs: o.maxMs,
    hostMs: o.hostMs,
    hostMaxMs: o.hostMaxMs,
    idleBeforeMs: o.idleBeforeMs,
    deviceTimed: o.deviceTimed,
  }));
  const devices = raw.devices.map((d) => ({ ...d }));
  return {
    wallMs: raw.wallMs,
    calls: devices.reduce((a, d) => a + d.calls, 0),
    busyMs: devices.reduce((a, d) => a + d.busyMs, 0),
    idleMs: devices.reduce((a, d) => a + d.idleMs, 0),
    ops,
    devices,
    dropped: raw.dropped,
  };
}

/** The shape the addon returns (see bindings/info_binding.cc). */
export interface NativeOpProfile {
  wallMs: number;
  dropped: number;
  ops: Array<Omit<OpStat, 'meanMs'>>;
  devices: OpProfileDevice[];
}

let current: OpProfileSession | null = null;

/**
 * Starts recording every op's time (see OpProfile). One profile at a time per thread: starting a second
 * throws ProfileStateError. `device` (or `{ device }`) keeps only that device's ops.
 */
export function startOpProfile(options?: DeviceSpec | string | OpProfileOptions): void {
  if (current) throw new ProfileStateError('an op profile is already running: call stopOpProfile() first');
  const o = (typeof options === 'string' ? { device: options } : options === undefined ? {} : options) as OpProfileOptions;
  current = new OpProfileSession(o);
}

/** Stops the profile startOpProfile() started and returns it; ProfileStateError when none is running. */
export function stopOpProfile(): OpProfile {
  if (!current) throw new ProfileStateError('no op profile is running: call startOpProfile() first');
  const s = current;
  current = null;
  return s.stop();
}

/** True between startOpProfile() and stopOpProfile() (this thread). */
export function isOpProfiling(): boolean {
  return current !== null;
}

const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3));

/** A text table of the top ops by time, then per-device totals (what `sotr predict --profile ops` prints). */
export function formatOpProfile(p: OpProfile, options: { top?: number } = {}): string {
  checkOptions('formatOpProfile', options, ['top']);
  const top = options.top ?? 15;
  const rows: string[][] = [['op', 'device', 'calls', 'inline', 'total ms', '%', 'mean ms', 'max ms', 'host ms', 'idle before ms']];
  const busy = p.busyMs || 1;
  for (const o of p.ops.slice(0, top)) {
    rows.push([
      o.shape !== undefined ? `${o.op} ${o.shape}` : o.op,
      o.device,
      String(o.calls),
      String(o.inlineCalls),
      fmt(o.totalMs),
      ((100 * o.totalMs) / busy).toFixed(1),
      fmt(o.meanMs),
      fmt(o.maxMs),
      fmt(o.hostMs),
      fmt(o.idleBeforeMs),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  if (p.ops.length > top) lines.push(`… ${p.ops.length - top} more ops`);
  for (const d of p.devices) {
    const span = d.busyMs + d.idleMs;
    lines.push(
      `${d.device}: ${d.calls} ops, busy ${fmt(d.busyMs)} ms${d.deviceTimed ? ' (device time)' : ''}, idle between ops ${fmt(d.idleMs)} ms` +
        (span > 0 ? ` (${((100 * d.idleMs) / span).toFixed(1)}% of ${fmt(span)} ms)` : '') +
        `, host ${fmt(d.hostMs)} ms`,
    );
  }
  lines.push(`wall ${fmt(p.wallMs)} ms`);
  return lines.join('\n');
}

/** summarizeOpProfile()'s result: the profile's totals and its top ops, times rounded to the microsecond. */
export interface OpProfileSummary {
  wallMs: number;
  calls: number;
  busyMs: number;
  idleMs: number;
  devices: OpProfileDevice[];
  /** The first `top` ops by totalMs (their shapes and host maxima left out). */
  top: Array<Pick<OpStat, 'op' | 'device' | 'calls' | 'inlineCalls' | 'totalMs' | 'meanMs' | 'maxMs' | 'hostMs' | 'idleBeforeMs'>>;
}

/** A compact, JSON-friendly summary: totals and the top ops (scripts/gpu-e2e.mjs). */
export function summarizeOpProfile(p: OpProfile, top = 10): OpProfileSummary {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    wallMs: r(p.wallMs),
    calls: p.calls,
    busyMs: r(p.busyMs),
    idleMs: r(p.idleMs),
    devices: p.devices.map((d) => ({ ...d, busyMs: r(d.busyMs), hostMs: r(d.hostMs), idleMs: r(d.idleMs) })),
    top: p.ops.slice(0, top).map((o) => ({
      op: o.op,
      device: o.device,
      calls: o.calls,
      inlineCalls: o.inlineCalls,
      totalMs: r(o.totalMs),
      meanMs: r(o.meanMs),
      maxMs: r(o.maxMs),
      hostMs: r(o.hostMs),
      idleBeforeMs: r(o.idleBeforeMs),
    })),
  };
}
