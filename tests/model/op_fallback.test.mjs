// The model's op call (ts/model/ops.ts `op`): an op with no kernel for the model's device runs on the CPU (inputs
// copied there, the result copied back), recorded once; every other error propagates.
// On a CPU-only machine the "no kernel" error is simulated by a stub around the real op (its first call, the
// device attempt, throws the registry's error as the addon reports it); the copies across devices are exercised by
// the CUDA test, registered only where CUDA is available.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  Tensor, BitMasks, conv2d, matrixNms, backendInfo, memoryInfo, synchronize,
  AbortError, DeviceUnavailableError, ShapeError,
} from '../../dist/index.js';
import { op, opts } from '../../dist/model/ops.js';
import { isMissingKernelError, mapNativeError } from '../../dist/ops/run.js';
import { rejects } from './helpers.mjs';

// The message native/ops/registry.cpp throws (ErrorKind::NoKernel, code SOTR_NO_KERNEL) for an op without a CUDA
// kernel, read from the source.
const registry = readFileSync(fileURLToPath(new URL('../../native/ops/registry.cpp', import.meta.url)), 'utf8');
const NO_KERNEL = /ErrorKind::NoKernel, def\.name \+ "([^"]+)"/.exec(registry)?.[1];

/** The error the addon raises for `name` without a CUDA kernel, mapped as runOp maps it. */
function noKernel(name) {
  return mapNativeError(Object.assign(new Error(name + NO_KERNEL), { code: 'SOTR_NO_KERNEL' }));
}

function ctxOf(device = 'cpu') {
  const messages = [];
  return { ctx: { device, precision: 'fp32', fallbacks: new Set(), debug: (m) => messages.push(m) }, messages };
}

/** `real` under the name `name`, throwing `error(args)` when it returns one. */
function stub(name, real, error) {
  const calls = [];
  const f = {
    async [name](...args) {
      calls.push(args);
      const e = error(args, calls.length);
      if (e) throw e;
      return real(...args);
    },
  }[name];
  return { f, calls };
}

const x = () => Tensor.from(Float32Array.from({ length: 3 * 5 * 4 }, (_, i) => Math.sin(i)), [1, 3, 5, 4]);
const w = () => Tensor.from(Float32Array.from({ length: 4 * 3 * 3 * 3 }, (_, i) => Math.cos(i) / 5), [4, 3, 3, 3]);

test("the registry's no-kernel error is recognised as such (and nothing else is)", () => {
  assert.ok(NO_KERNEL, 'found the message in native/ops/registry.cpp');
  const e = noKernel('conv2d');
  assert.instance(e, DeviceUnavailableError);
  assert.ok(isMissingKernelError(e));
  assert.not.ok(isMissingKernelError(new DeviceUnavailableError('cuda', 'CUDA driver version is insufficient')));
  assert.not.ok(isMissingKernelError(new ShapeError('conv2d: x must have 4 dimensions')));
  assert.not.ok(isMissingKernelError(new Error('conv2d' + NO_KERNEL)), 'untyped');
});

test('an op without a kernel for the device runs on the CPU, is recorded once, and later calls go straight there', async () => {
  const { ctx, messages } = ctxOf();
  const a = x();
  const b = w();
  const ref = await conv2d(a, b, { padding: 1 });
  const expected = await ref.data();
  ref.dispose();
  await synchronize('cpu');
  const live0 = memoryInfo('cpu').liveBytes;
  // The first call is the attempt on the model's device: no kernel there.
  const { f, calls } = stub('conv2d', conv2d, (_, n) => (n === 1 ? noKernel('conv2d') : null));
  const y1 = await op(ctx, f, a, b, opts(ctx, { padding: 1, bias: null }));
  assert.is(calls.length, 2, 'the device attempt, then the CPU run');
  assert.is(y1.device, 'cpu');
  assert.equal(await y1.data(), expected, 'same numbers as the op called directly');
  assert.equal([...ctx.fallbacks], ['conv2d']);
  assert.is(messages.length, 1);
  assert.match(messages[0], /'conv2d'.*cpu/);
  assert.equal(calls[1][2], { precision: 'fp32', padding: 1 }, 'options: precision added, nulls dropped');
  const y2 = await op(ctx, f, a, b, opts(ctx, { padding: 1 }));
  assert.is(calls.length, 3, 'no second attempt on the device');
  assert.equal(await y2.data(), expected);
  assert.is(messages.length, 1, 'recorded once');
  y1.dispose();
  y2.dispose();
  await synchronize('cpu');
  assert.is(memoryInfo('cpu').liveBytes, live0, 'nothing left behind');
  a.dispose();
  b.dispose();
});

test('other errors propagate and record nothing; an aborted signal stops before the op', async () => {
  const { ctx, messages } = ctxOf();
  const a = x();
  const b = w();
  const shape = stub('conv2d', conv2d, () => new ShapeError('conv2d: stub'));
  await rejects(() => op(ctx, shape.f, a, b, {}), (e) => e instanceof ShapeError);
  assert.is(shape.calls.length, 1);
  const dev = stub('conv2d', conv2d, () => new DeviceUnavailableError('cuda', 'CUDA driver version is insufficient'));
  await rejects(() => op(ctx, dev.f, a, b, {}), (e) => e instanceof DeviceUnavailableError && !isMissingKernelError(e));
  assert.is(dev.calls.length, 1);
  // A real op's own error (weight channels do not match x).
  await rejects(() => op(ctx, conv2d, a, Tensor.from(new Float32Array(8), [1, 2, 2, 2]), opts(ctx, {})), (e) => e instanceof ShapeError);
  assert.equal([...ctx.fallbacks], []);
  assert.is(messages.length, 0);
  const ac = new AbortController();
  ac.abort();
  const never = stub('conv2d', conv2d, () => null);
  await rejects(() => op({ ...ctx, signal: ac.signal }, never.f, a, b, {}), (e) => e instanceof AbortError);
  assert.is(never.calls.length, 0);
  a.dispose();
  b.dispose();
});

if (backendInfo().cuda.available) {
  test('CUDA: inputs are copied to the CPU and the result back to the device; host-input ops run on the CPU', async () => {
    const { ctx, messages } = ctxOf('cuda:0');
    const a = x();
    const b = w();
    const ref = await conv2d(a, b, { padding: 1 });
    const ga = await a.to('cuda:0');
    const gb = await b.to('cuda:0');
    await synchronize('cpu');
    const cpu0 = memoryInfo('cpu').liveBytes;
    // Like the registry: no kernel unless the tensors are on the CPU.
    const { f, calls } = stub('conv2d', conv2d, ([t]) => (t.device === 'cpu' ? null : noKernel('conv2d')));
    const y = await op(ctx, f, ga, gb, opts(ctx, { padding: 1 }));
    assert.is(calls.length, 2);
    assert.is(y.device, 'cuda:0');
    assert.equal(await y.data(), await ref.data());
    assert.equal([...ctx.fallbacks], ['conv2d']);
    await synchronize('cpu');
    assert.is(memoryInfo('cpu').liveBytes, cpu0, 'the CPU copies are freed');
    // matrixNms on host BitMasks runs where options.device says: the model's device, then the CPU.
    const data = new Uint32Array(4);
    data[0] = 0b1111;
    data[2] = 0b111100;
    const m = new BitMasks({ count: 2, height: 1, width: 8, data });
    const nms = stub('matrixNms', matrixNms, ([, , , o]) => (o.device === 'cpu' ? null : noKernel('matrix_nms')));
    const d = await op(ctx, nms.f, m, Int32Array.from([0, 0]), Float32Array.from([0.9, 0.8]), { device: ctx.device });
    assert.equal(Array.from(d), Array.from(await matrixNms(m, [0, 0], [0.9, 0.8])));
    assert.equal([...ctx.fallbacks], ['conv2d', 'matrixNms']);
    assert.is(messages.length, 2);
    for (const t of [a, b, ga, gb, ref, y]) t.dispose();
  });
}

test.run();
