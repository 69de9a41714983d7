// Runs a standalone native test of build/ (tests/native/check.h: it prints "N checks, M failures") from a uvu test.
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const build = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build');

/** Asserts that build/<name> ran (with `env` added to the environment), made at least `minChecks` checks and none failed. */
export function assertNativeChecks(name, minChecks, env = {}) {
  const bin = path.join(build, name);
  assert.ok(existsSync(bin), `${bin} not built (run npm install / cmake-js compile)`);
  const r = spawnSync(bin, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  const m = /(\d+) checks, (\d+) failures/.exec(r.stdout);
  assert.ok(m, `no summary: ${r.stdout}\n${r.stderr}`);
  assert.ok(Number(m[1]) >= minChecks, `${m[1]} checks`);
  assert.is(Number(m[2]), 0, r.stdout);
  assert.is(r.status, 0);
}
