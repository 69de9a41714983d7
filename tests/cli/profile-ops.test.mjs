// `sotr predict --profile ops`: the stage profile plus an op table (top ops by time, the device's busy and idle
// time) at the end; `--profile` alone keeps printing only the stages; -q keeps the profile asked for.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sotr, root } from './helpers/run.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'sotr-cli-prof-'));
const image = path.join(root, 'examples', 'images', 'street.jpg');
const args = (name, ...more) => ['predict', '--model', 'tiny', '--input', image, '--out', path.join(dir, `${name}.jsonl`), '--device', 'cpu', '--min-size', '96', '--workers', '1', ...more];

test('--profile ops (and --profile=ops): stages and the op table', async () => {
  for (const [name, flagArgs] of [
    ['a', ['--profile', 'ops']],
    ['b', ['--profile=ops']],
  ]) {
    const r = await sotr(args(name, ...flagArgs));
    assert.is(r.code, 0, r.stderr);
    assert.ok(existsSync(path.join(dir, `${name}.jsonl`)));
    assert.match(r.stderr, /model profile, summed over the images/);
    assert.match(r.stderr, /op profile, summed over the images/);
    assert.match(r.stderr, /op\s+device\s+calls\s+inline\s+total ms/);
    assert.match(r.stderr, /conv2d\s+cpu\s+\d+/);
    assert.match(r.stderr, /cpu: \d+ ops, busy [\d.]+ ms, idle between ops [\d.]+ ms/);
  }
});

test('--profile alone: stages only; "ops" is not taken for an input', async () => {
  const r = await sotr(args('c', '--profile'));
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /model profile, summed over the images/);
  assert.not.match(r.stderr, /op profile/);
});

test('--profile with -q: the profile asked for is printed, the progress and summary are not', async () => {
  const r = await sotr(args('d', '--profile', 'ops', '-q'));
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /model profile, summed over the images/);
  assert.match(r.stderr, /op profile, summed over the images/);
  assert.not.match(r.stderr, /images\/s|loading|loaded/);
});

test.run();
