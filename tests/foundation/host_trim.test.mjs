// The C heap's free pages handed back: trimHostMemory() on demand, a model's idle trim (SOTR_HOST_TRIM_IDLE_MS),
// releaseCached() trimming too, and the idle timer never keeping a process alive. Each case runs in a child process,
// so the heap it measures holds only its own garbage.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { idleTrimInfo, trimHostMemory } from '../../dist/index.js';
import { fixturePath } from '../model/helpers.mjs';

const entry = pathToFileURL(new URL('../../dist/index.js', import.meta.url).pathname).href;
const glibc = !!process.report?.getReport?.().header?.glibcVersionRuntime;

const child = (code, env = {}) => {
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60000,
  });
  assert.is(r.status, 0, `child failed (${r.status} ${r.signal}): ${r.stderr}`);
  return r;
};
const lastJson = (r) => JSON.parse(r.stdout.trim().split('\n').pop());

// Frees 160 MB of 1 MB blocks that glibc keeps: one 4 MB block freed first raises its mmap threshold above 1 MB (so
// the blocks come from the heap), and every other block stays live, pinning the freed ones inside the heap where
// glibc's own trim of the heap's top cannot reach them.
const LITTER = `
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const collect = async () => { for (let i = 0; i < 3; i++) { gc(); await sleep(20); } };
  { let big = Buffer.allocUnsafeSlow(4 << 20); big.fill(1); big = null; await collect(); }
  const blocks = Array.from({ length: 320 }, () => Buffer.allocUnsafeSlow(1 << 20).fill(7));
  globalThis.keep = blocks.filter((_, i) => i % 2 === 1);
  blocks.length = 0;
  await collect();
`;

test('trimHostMemory: what it did, in numbers (resident bytes before and after, time)', async () => {
  const r = await trimHostMemory();
  assert.is(typeof r.supported, 'boolean');
  assert.is(r.supported, glibc, 'supported exactly on glibc');
  assert.ok(r.ms >= 0 && r.ms < 10000, `ms ${r.ms}`);
  if (process.platform === 'linux') {
    assert.ok(r.residentBytesBefore > 0 && r.residentBytesAfter > 0, JSON.stringify(r));
    assert.is(r.releasedBytes, Math.max(0, r.residentBytesBefore - r.residentBytesAfter));
  }
});

test('trimHostMemory hands freed heap pages back (glibc)', () => {
  if (!glibc) return;
  const r = lastJson(child(`
    import { trimHostMemory } from ${JSON.stringify(entry)};
    ${LITTER}
    const t = await trimHostMemory();
    console.log(JSON.stringify(t));
  `));
  assert.ok(r.releasedBytes > 100 * 2 ** 20, `released ${Math.round(r.releasedBytes / 2 ** 20)} MB of 160 MB freed: ${JSON.stringify(r)}`);
});

test('releaseCached trims the C heap too', () => {
  if (!glibc) return;
  const r = lastJson(child(`
    import { releaseCached } from ${JSON.stringify(entry)};
    const rss = () => process.memoryUsage().rss;
    ${LITTER}
    const before = rss();
    await releaseCached('cpu');
    console.log(JSON.stringify({ before, after: rss() }));
  `));
  assert.ok(r.before - r.after > 100 * 2 ** 20, `resident ${r.before} -> ${r.after}`);
});

test('idle trim: a model trims once nothing has run for SOTR_HOST_TRIM_IDLE_MS, not while it works', () => {
  if (!glibc) return;
  const r = lastJson(child(`
    import { Sotr, idleTrimInfo } from ${JSON.stringify(entry)};
    const m = await Sotr.load(${JSON.stringify(fixturePath('tiny_sotr.pth'))}, { device: 'cpu', minSize: 40, maxSize: 400, onWarning() {} });
    const img = { data: new Uint8Array(64 * 48 * 3).fill(90), width: 64, height: 48, channels: 3 };
    // The garbage first: the idle clock starts when the prediction ends, and must not fire while it is being made.
    ${LITTER}
    await m.predict(img);
    const early = idleTrimInfo();
    await sleep(1000);
    const late = idleTrimInfo();
    await m.predict(img); await m.predict([img, img]);
    const busyAgain = idleTrimInfo();
    await sleep(1000);
    console.log(JSON.stringify({ early, late, busyAgain, last: idleTrimInfo() }));
  `, { SOTR_HOST_TRIM_IDLE_MS: '150' }));
  assert.is(r.early.delayMs, 150);
  assert.is(r.early.trims, 0, 'no trim right after a prediction');
  assert.ok(r.late.trims >= 1, JSON.stringify(r.late));
  assert.ok(r.late.releasedBytes > 100 * 2 ** 20, `released ${r.late.releasedBytes}`);
  assert.ok(r.late.last.supported && r.late.last.ms >= 0);
  assert.ok(r.last.trims > r.busyAgain.trims, 'idle again after more predictions: another trim');
});

test('SOTR_HOST_TRIM_IDLE_MS=0: no idle trim; a malformed value is an error at Sotr.load naming it', () => {
  const r = lastJson(child(`
    import { Sotr, idleTrimInfo } from ${JSON.stringify(entry)};
    const m = await Sotr.load(${JSON.stringify(fixturePath('tiny_sotr.pth'))}, { device: 'cpu', minSize: 40, maxSize: 400, onWarning() {} });
    await m.predict({ data: new Uint8Array(32 * 32 * 3), width: 32, height: 32, channels: 3 });
    await new Promise((r) => setTimeout(r, 200));
    console.log(JSON.stringify(idleTrimInfo()));
  `, { SOTR_HOST_TRIM_IDLE_MS: '0' }));
  assert.equal(r, { delayMs: 0, trims: 0, releasedBytes: 0 });
  for (const bad of ['-1', '1.5', 'soon']) {
    const e = lastJson(child(`
      import { Sotr } from ${JSON.stringify(entry)};
      try {
        await Sotr.load(${JSON.stringify(fixturePath('tiny_sotr.pth'))}, { device: 'cpu', onWarning() {} });
        console.log(JSON.stringify({ loaded: true }));
      } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }
    `, { SOTR_HOST_TRIM_IDLE_MS: bad }));
    assert.is(e.name, 'SotrRangeError', JSON.stringify(e));
    assert.ok(e.message.includes('SOTR_HOST_TRIM_IDLE_MS') && e.message.includes(`'${bad}'`), e.message);
  }
});

test('the idle timer never keeps a process alive', () => {
  const t0 = Date.now();
  child(`
    import { Sotr } from ${JSON.stringify(entry)};
    const m = await Sotr.load(${JSON.stringify(fixturePath('tiny_sotr.pth'))}, { device: 'cpu', minSize: 40, maxSize: 400, onWarning() {} });
    await m.predict({ data: new Uint8Array(32 * 32 * 3), width: 32, height: 32, channels: 3 });
  `, { SOTR_HOST_TRIM_IDLE_MS: '120000' });
  assert.ok(Date.now() - t0 < 60000, 'the child ended well before its 2-minute idle timer');
});

test('idleTrimInfo in this process: the default delay', () => {
  const i = idleTrimInfo();
  if (process.env.SOTR_HOST_TRIM_IDLE_MS === undefined) assert.is(i.delayMs, 2000);
  assert.ok(i.trims >= 0 && i.releasedBytes >= 0);
});

test.run();
