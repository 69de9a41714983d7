/**
 * The model's view of the device ops. Each function calls the library's public op of the same name (ts/ops/*,
 * exported from the package root) and, while that op does not exist yet in this build, emulates it on the host
 * (host.ts) with the same semantics so that the model still runs (slowly). Which ops were emulated is recorded
 * and reported by `Sotr.emulatedOps` and warned once per process.
 *
 * Set SOTR_MODEL_EMULATE=all (or a comma list of op names) to force the emulation, e.g. to compare both paths.
 */
import { AbortError, SotrError } from '../errors';
import type { Precision } from '../device';
import { Tensor } from '../tensor';
import {
  addHost,
  bilinearHost,
  conv2dHost,
  deformConv2dHost,
  duplicateWidthHost,
  groupNormHost,
  maxPool2dHost,
  meanWidthHalvesHost,
  nearestHost,
  twinAttentionHost,
  type HostAttentionWeights,
  type HostTensor,
} from './host';

export interface OpCtx {
  device: string;
  precision: Precision;
  signal?: AbortSignal;
  /** Names of the ops that had to be emulated on the host. */
  emulated: Set<string>;
  warn: (m: string) => void;
}

type AnyFn = (...args: unknown[]) => Promise<unknown>;

const forced = new Set(
  (process.env.SOTR_MODEL_EMULATE ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
const unavailable = new Set<string>();
const warned = new Set<string>();

let lib: Record<string, unknown> | undefined;

/** The package root's export `name` when it is a function and the native op works, else null. */
function publicOp(name: string): AnyFn | null {
  if (forced.has('all') || forced.has(name) || unavailable.has(name)) return null;
  if (!lib) {
    try {
      // Resolved lazily (the package root re-exports this module), once: this runs on every op call.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      lib = require('../index') as Record<string, unknown>;
    } catch {
      return null;
    }
  }
  const f = lib[name];
  return typeof f === 'function' ? (f as AnyFn) : null;
}

function isMissingOp(e: unknown): boolean {
  return e instanceof Error && /unknown op\b/.test(e.message);
}

function noteEmulated(ctx: OpCtx, name: string): void {
  ctx.emulated.add(name);
  if (!warned.has(name)) {
    warned.add(name);
    if (!forced.has('all') && !forced.has(name)) ctx.warn(`op '${name}' is not available in this build; emulating it on the host (slow)`);
  }
}

/** Runs the public op when it exists, else the host emulation. */
export async function dispatch<T>(ctx: OpCtx, name: string, real: (f: AnyFn) => Promise<T>, emulate: () => Promise<T>): Promise<T> {
  if (ctx.signal?.aborted) throw new AbortError(name);
  const f = publicOp(name);
  if (f) {
    try {
      return await real(f);
    } catch (e) {
      if (!isMissingOp(e)) throw e;
      unavailable.add(name);
    }
  }
  noteEmulated(ctx, name);
  const r = await emulate();
  if (ctx.signal?.aborted) {
    if (r instanceof Tensor) r.dispose();
    throw new AbortError(name);
  }
  return r;
}

// ------------------------------------------------------------------ host round trips for the emulation

const hostCache = new WeakMap<Tensor, Float32Array>();

/** Host copy of a tensor; weights (marked with `cache`) are fetched once. */
export async function toHost(t: Tensor, cache = false): Promise<HostTensor> {
  if (cache) {
    const hit = hostCache.get(t);
    if (hit) return { shape: [...t.shape], data: hit };
  }
  const data = (await t.data()) as Float32Array;
  if (cache) hostCache.set(t, data);
  return { shape: [...t.shape], data };
}

async function hostVec(t: Tensor | null | undefined): Promise<Float32Array | null> {
  return t ? (await toHost(t, true)).data : null;
}

export function fromHost(ctx: OpCtx, h: HostTensor): Tensor {
  return Tensor.from(h.data, h.shape, { device: ctx.device });
}

function opts(ctx: OpCtx, o: Record<string, unknown>): Record<string, unknown> {
  const r: Record<string, unknown> = { precision: ctx.precision };
  if (ctx.signal) r.signal = ctx.signal;
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null) r[k] = v;
  return r;
}

// ------------------------------------------------------------------ the ops

export interface ConvArgs {
  bias?: Tensor | null;
  stride?: number;
  padding?: number;
  dilation?: number;
  scale?: Tensor | null;
  shift?: Tensor | null;
  activation?: 'none' | 'relu' | 'leakyRelu' | 'sigmoid';
  negativeSlope?: number;
  /** Added before the activation: y = act((conv + bias)·scale + shift + residual). */
  residual?: Tensor | null;
}

export function conv2d(ctx: OpCtx, x: Tensor, w: Tensor, a: ConvArgs): Promise<Tensor> {
  return dispatch(
    ctx,
    'conv2d',
    async (f) => (await f(x, w, opts(ctx, { ...a }))) as Tensor,
    async () =>
      fromHost(
        ctx,
        await conv2dHost(
          await toHost(x),
          await toHost(w, true),
          {
            bias: await hostVec(a.bias),
            stride: a.stride,
            padding: a.padding,
            dilation: a.dilation,
            scale: await hostVec(a.scale),
            shift: await hostVec(a.shift),
            activation: a.activation,
            negativeSlope: a.negativeSlope,
            residual: a.residual ? (await toHost(a.residual)).data : null,
          },
          ctx.signal,
        ),
      ),
  );
}

/** Modulated deformable conv (DCNv2): `offset` [N, 18·G, Ho, Wo] (dy, dx per tap), `mask` [N, 9·G, Ho, Wo] in [0, 1]. */
export function deformConv2d(ctx: OpCtx, x: Tensor, offset: Tensor, mask: Tensor, w: Tensor, a: ConvArgs & { deformGroups?: number }): Promise<Tensor> {
  return dispatch(
    ctx,
    'deformConv2d',
    async (f) => (await f(x, offset, mask, w, opts(ctx, { ...a }))) as Tensor,
    async () =>
      fromHost(
        ctx,
        await deformConv2dHost(
          await toHost(x),
          await toHost(offset),
          await toHost(mask),
          await toHost(w, true),
          {
            bias: await hostVec(a.bias),
            stride: a.stride,
            padding: a.padding,
            dilation: a.dilation,
            scale: await hostVec(a.scale),
            shift: await hostVec(a.shift),
            activation: a.activation,
            negativeSlope: a.negativeSlope,
            residual: a.residual ? (await toHost(a.residual)).data : null,
            deformGroups: a.deformGroups ?? 1,
          },
          ctx.signal,
        ),
      ),
  );
}

export function maxPool2d(ctx: OpCtx, x: Tensor, kernelSize: number, stride: number, padding: number): Promise<Tensor> {
  return dispatch(
    ctx,
    'maxPool2d',
    async (f) => (await f(x, opts(ctx, { kernelSize, stride, padding }))) as Tensor,
    async () => fromHost(ctx, maxPool2dHost(await toHost(x), kernelSize, stride, padding)),
  );
}

export function groupNorm(ctx: OpCtx, x: Tensor, groups: number, weight: Tensor, bias: Tensor, eps: number, relu: boolean): Promise<Tensor> {
  return dispatch(
    ctx,
    'groupNorm',
    async (f) => (await f(x, groups, opts(ctx, { weight, bias, eps, activation: relu ? 'relu' : 'none' }))) as Tensor,
    async () => fromHost(ctx, groupNormHost(await toHost(x), groups, await hostVec(weight), await hostVec(bias), eps, relu)),
  );
}

/** F.interpolate(x, size=[h, w]) in 'bilinear' (align_corners=False) or 'nearest' mode. */
export function resize(ctx: OpCtx, x: Tensor, size: [number, number], mode: 'bilinear' | 'nearest'): Promise<Tensor> {
  return dispatch(
    ctx,
    'interpolate',
    async (f) => (await f(x, size, mode, opts(ctx, {}))) as Tensor,
    async () => {
      const h = await toHost(x);
      return fromHost(ctx, mode === 'bilinear' ? bilinearHost(h, size[0], size[1]) : nearestHost(h, size[0], size[1]));
    },
  );
}

export function add(ctx: OpCtx, a: Tensor, b: Tensor): Promise<Tensor> {
  return dispatch(
    ctx,
    'add',
    async (f) => (await f(a, b, opts(ctx, {}))) as Tensor,
    async () => fromHost(ctx, addHost(await toHost(a), await toHost(b))),
  );
}

/** torch.cat((x, x), -1). */
export function duplicateWidth(ctx: OpCtx, x: Tensor): Promise<Tensor> {
  return dispatch(
    ctx,
    'concat',
    async (f) => (await f([x, x], 3, opts(ctx, {}))) as Tensor,
    async () => fromHost(ctx, duplicateWidthHost(await toHost(x))),
  );
}

/** torch.stack(x.chunk(2, -1)).mean(0). */
export function meanWidthHalves(ctx: OpCtx, x: Tensor): Promise<Tensor> {
  return dispatch(
    ctx,
    'meanWidthHalves',
    async (f) => (await f(x, opts(ctx, {}))) as Tensor,
    async () => fromHost(ctx, meanWidthHalvesHost(await toHost(x))),
  );
}

export interface AttentionWeights {
  q: Tensor;
  kv: Tensor;
  out: Tensor;
  outBias: Tensor;
}

export interface TwinWeights {
  col: AttentionWeights;
  row: AttentionWeights;
  gCol: number;
  gRow: number;
}

async function hostAttn(w: AttentionWeights): Promise<HostAttentionWeights> {
  return {
    q: (await toHost(w.q, true)).data,
    kv: (await toHost(w.kv, true)).data,
    out: (await toHost(w.out, true)).data,
    outBias: (await toHost(w.outBias, true)).data,
  };
}

/** One twin-attention sub-layer: x + gCol·ColMHA(x) + gRow·RowMHA(x) (parallel mode). */
export function twinAttention(ctx: OpCtx, x: Tensor, w: TwinWeights, heads: number, mode: 'parallel' | 'sequential'): Promise<Tensor> {
  return dispatch(
    ctx,
    'twinAttention',
    async (f) => (await f(x, w, opts(ctx, { heads, mode }))) as Tensor,
    async () =>
      fromHost(ctx, await twinAttentionHost(await toHost(x), await hostAttn(w.col), await hostAttn(w.row), w.gCol, w.gRow, heads, mode, ctx.signal)),
  );
}

/** Throws a SotrError for a state that should not happen (an op returned something unexpected). */
export function internal(msg: string): never {
  throw new SotrError('SOTR_INTERNAL', msg);
}
