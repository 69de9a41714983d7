// predict({ profile: 'ops' }): the op profile of one prediction on the tiny model (CPU, or CUDA where available).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sotr, AbortError, SotrTypeError, decodeImage, startOpProfile, stopOpProfile, formatOpProfile, resolveDevice, resetPeakMemory, memoryInfo } from '../../dist/index.js';
import { native } from '../../dist/native.js';
import { fixturePath, rejects } from './helpers.mjs';

const DEV = resolveDevice('auto').device;
const quiet = { onWarning: () => {} };
const load = () => Sotr.load(fixturePath('tiny_sotr.pth'), { ...quiet, minSize: 40, maxSize: 400 });
const open = () => native()._opProfileOpen();
const counts = (p) => Object.fromEntries(p.ops.map((o) => [`${o.op}@${o.device}`, o.calls]));

let m;
let raw;
test.before(async () => {
  m = await load();
  const img = await decodeImage(fixturePath('img_ratio3.png'));
  raw = { data: img.bgr, width: img.width, height: img.height, channels: 3, format: 'bgr' };
  await m.predict(raw); // warm-up: packed weights, inline-run signatures
});
test.after(async () => {
  await m.dispose();
});

test("profile: 'ops' adds result.opProfile: the prediction's ops, the same as a profile around the call", async () => {
  startOpProfile({ thisThreadOnly: true });
  const r = await m.predict(raw, { profile: 'ops' });
  const outer = stopOpProfile();
  assert.is(open(), 0);
  const p = r.opProfile;
  assert.ok(p, 'opProfile present');
  assert.is(r.profile, undefined, 'no stage times with ops');
  assert.ok(p.calls > 50, `calls ${p.calls}`);
  // The session opens after decoding and closes with the result: the outer one saw the same ops.
  assert.equal(counts(p), counts(outer));
  const names = new Set(p.ops.map((o) => o.op));
  for (const op of ['conv2d', 'twinAttention', 'selectCandidates']) assert.ok(names.has(op), `${op} in ${[...names].join(', ')}`);
  assert.ok(p.ops.some((o) => o.device === DEV));
  const dev = p.devices.find((d) => d.device === DEV);
  assert.ok(dev.busyMs > 0 && dev.idleMs >= 0);
  assert.ok(p.busyMs <= p.wallMs + 1e-6 || DEV !== 'cpu');
  assert.ok(p.ops.some((o) => o.inlineCalls > 0) || DEV !== 'cpu', 'some small CPU ops ran inline');
  const text = formatOpProfile(p, { top: 5 });
  assert.match(text, /conv2d/);
  assert.match(text, /idle between ops/);
});

test("profile: true keeps the stage times (no op profile); other values are a SotrTypeError", async () => {
  resetPeakMemory(m.device);
  const r = await m.predict(raw, { profile: true });
  assert.ok(r.profile && r.profile.total > 0);
  assert.is(r.opProfile, undefined);
  // The allocator's peak after each stage: never falling, reached by the end, above what the weights alone hold.
  const peaks = Object.values(r.profilePeakBytes);
  assert.equal(Object.keys(r.profilePeakBytes), ['resize', 'backbone', 'transformer', 'heads', 'maskBranch', 'postprocess']);
  for (let i = 1; i < peaks.length; i++) assert.ok(peaks[i] >= peaks[i - 1], `peaks rise: ${peaks}`);
  assert.ok(peaks.at(-1) <= memoryInfo(m.device).peakBytes);
  assert.ok(peaks.at(-1) > memoryInfo(m.device).liveBytes, 'a prediction needs more than what stays live');
  const r2 = await m.predict(raw);
  assert.is(r2.opProfile, undefined);
  assert.is(r2.profilePeakBytes, undefined);
  await rejects(() => m.predict(raw, { profile: 'stages' }), (e) => e instanceof SotrTypeError);
  assert.is(open(), 0);
});

test("profile: 'ops' on a batch: one profile per image; an aborted prediction closes its session", async () => {
  const rs = await m.predict([raw, raw], { profile: 'ops' });
  assert.is(rs.length, 2);
  assert.equal(counts(rs[0].opProfile), counts(rs[1].opProfile));
  const ac = new AbortController();
  const p = m.predict(raw, { profile: 'ops', signal: ac.signal });
  ac.abort();
  await rejects(() => p, (e) => e instanceof AbortError);
  assert.is(open(), 0);
});

test.run();
