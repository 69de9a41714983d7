// `sotr bench` on the tiny random model (and on an example image): the report's fields, JSON on stdout with nothing
// on stderr, the human-readable lines otherwise, and usage errors (exit 1) for bad options.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sotr, root } from './helpers/run.mjs';

const cache = mkdtempSync(path.join(tmpdir(), 'sotr-bench-test-'));
const base = ['bench', '--model', 'tiny', '--device', 'cpu', '--runs', '2', '--cache', cache];

test('bench --json: load, first prediction, latency by stage, throughput and memory, as JSON on stdout', async () => {
  const r = await sotr([...base, '--throughput', '3', '--size', '320x240', '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '', 'nothing but the JSON');
  const j = JSON.parse(r.stdout);
  assert.is(j.device, 'cpu');
  assert.is(j.model, 'tiny');
  assert.is(j.randomWeights, true);
  assert.equal([j.width, j.height], [320, 240]);
  assert.ok(j.loadMs > 0 && j.firstMs > 0);
  assert.is(j.latency.runs, 2);
  assert.ok(j.latency.minMs <= j.latency.medianMs && j.latency.medianMs <= j.latency.p90Ms);
  for (const s of ['decode', 'resize', 'backbone', 'transformer', 'heads', 'maskBranch', 'postprocess']) assert.type(j.latency.stagesMs[s], 'number', s);
  assert.is(j.throughput.images, 3);
  assert.ok(j.throughput.imagesPerS > 0);
  assert.ok(j.hostPeakRssMiB > 0);
  assert.is(j.deviceMemory, null, 'no device allocator on the CPU');
  assert.equal(j.warnings, []);
  assert.equal(readdirSync(cache).filter((f) => f.endsWith('.safetensors')).length, 1, 'the random model is written once to --cache');
});

test('bench on an image file, in words on stderr; the random model is reused', async () => {
  const r = await sotr([...base, '--image', path.join(root, 'examples', 'images', 'street.jpg'), '--throughput', '0']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /on cpu \(CPU, \d+ threads/);
  assert.match(r.stderr, /street\.jpg 480x360; first prediction/);
  assert.match(r.stderr, /latency, batch 1, 2 runs: median/);
  assert.match(r.stderr, /backbone [\d.]+ m?s/);
  assert.not.match(r.stderr, /throughput/, '--throughput 0 skips it');
  assert.not.match(r.stderr, /generated the tiny random-weight model/, 'already in the cache');
});

test("bench prints the model's load warnings, with --json too (and lists them in the report); 1 run", async () => {
  const lib = createRequire(import.meta.url)(path.join(root, 'dist', 'index.js'));
  const tensors = await lib.readCheckpoint(path.join(root, 'tests', 'fixtures', 'model', 'tiny_sotr.pth'));
  tensors.set('extra.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
  const extra = path.join(cache, 'extra.safetensors');
  await lib.writeSafetensors(extra, tensors);
  const args = ['bench', '--model', extra, '--device', 'cpu', '--runs', '1', '--throughput', '0', '--size', '32x32'];
  let r = await sotr([...args, '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /^warning: the checkpoint has 1 unexpected key.*extra\.weight$/m);
  const j = JSON.parse(r.stdout);
  assert.is(j.warnings.length, 1);
  assert.match(j.warnings[0], /extra\.weight/);
  r = await sotr(args);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /^warning: the checkpoint has 1 unexpected key/m);
  assert.match(r.stderr, /latency, batch 1, 1 run: median/);
});

test('bench: bad options are usage errors (exit 1) naming the option', async () => {
  for (const [args, re] of [
    [['--size', '12x'], /--size must be WIDTHxHEIGHT/],
    [['--size', '10x10', '--image', 'x.jpg'], /alternatives/],
    [['--precision', 'fp64'], /--precision must be/],
    [['--runs', '0'], /--runs must be >= 1/],
    [['--model', 'no-such.pth'], /no such file 'no-such.pth'/],
    [['--bogus'], /Unknown option '--bogus'/],
  ]) {
    const r = await sotr(['bench', ...args]);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  const h = await sotr(['help', 'bench']);
  assert.is(h.code, 0);
  assert.match(h.stdout, /usage: sotr bench/);
  const main = await sotr(['--help']);
  assert.match(main.stdout, /bench {6}time this machine/);
});

test.run();
