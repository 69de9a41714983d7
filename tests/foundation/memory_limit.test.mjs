// The derived-weight cache's default budget follows a container's memory limit (native/runtime/cgroup_limits.h):
// a quarter of it, up to the usual 2048 MiB. A full cache beside an R50's own memory does not fit a 1 GiB container:
// the kernel's OOM killer ended such a process (exit 137, session 23), which no error can report. The parsing of the
// layouts (v2 with the limit on an ancestor, v1 mounted at the container's cgroup, unlimited and damaged files) is
// checked natively on fake trees in tests/native/test_thread_pool.cpp; here a real cgroup, made for the test, when
// this process may make one (root, a writable memory controller), else the cases are skipped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testCgroup } from '../helpers/cgroup.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = path.join(root, 'dist', 'index.js');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const MiB = 2 ** 20;

// A cgroup with a memory limit, made for the test (tests/helpers/cgroup.mjs).
const group = testCgroup({
  controller: 'memory',
  v1File: 'memory.limit_in_bytes',
  v2File: 'memory.max',
  set: (dir, v2, bytes) => writeFileSync(path.join(dir, v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(bytes)),
  initial: 8 * 1024 * MiB,
});
if (group.skip) console.log(`  (memory_limit: skipped: ${group.skip})`);

// Runs `args` (node's) with the child moved into the test's cgroup first.
const inGroup = (args, env = {}) => group.run(args, { SOTR_WEIGHT_CACHE_MB: '', SOTR_CONV_WEIGHT_CACHE_MB: '', ...env });

const probe = `const s = require(${JSON.stringify(entry)}); const w = s.weightCacheInfo(), c = s.backendInfo().cpu;
  console.log(JSON.stringify({ limit: w.limitBytes, from: w.limitFrom, memoryLimit: c.memoryLimit, budget: c.weightCacheBudget }));`;

const maybe = group.skip ? test.skip : test;

maybe('a 1 GiB container: the weight cache budget is a quarter of it, and says why', () => {
  group.set(1024 * MiB);
  const r = JSON.parse(inGroup(['-e', probe]));
  assert.equal(r, {
    limit: 256 * MiB,
    from: 'memory limit',
    memoryLimit: { bytes: 1024 * MiB, source: group.source },
    budget: { bytes: 256 * MiB, from: 'memory limit' },
  });
  const info = inGroup([cli, 'info']);
  assert.match(info, `memory: weight cache up to 256 MiB (a quarter of the memory limit, 1.00 GiB (${group.source}))`);
});

maybe('a limit whose quarter exceeds 2048 MiB leaves the default; SOTR_WEIGHT_CACHE_MB wins over a limit', () => {
  group.set(16 * 1024 * MiB);
  const big = JSON.parse(inGroup(['-e', probe]));
  assert.equal([big.limit, big.from, big.memoryLimit.bytes], [2048 * MiB, 'default', 16 * 1024 * MiB]);
  assert.match(inGroup([cli, 'info']), `memory: weight cache up to 2048 MiB (default); memory limit 16.00 GiB (${group.source})`);
  group.set(1024 * MiB);
  const env = JSON.parse(inGroup(['-e', probe], { SOTR_WEIGHT_CACHE_MB: '100' }));
  assert.equal([env.limit, env.from], [100 * MiB, 'SOTR_WEIGHT_CACHE_MB']);
  const old = JSON.parse(inGroup(['-e', probe], { SOTR_CONV_WEIGHT_CACHE_MB: '0' }));
  assert.equal([old.limit, old.from], [0, 'SOTR_CONV_WEIGHT_CACHE_MB']);
});

test('outside a limited group: a budget and its reason are reported', () => {
  const r = JSON.parse(
    spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', env: { ...process.env, SOTR_WEIGHT_CACHE_MB: '', SOTR_CONV_WEIGHT_CACHE_MB: '' } }).stdout,
  );
  assert.ok(['default', 'memory limit'].includes(r.from), r.from);
  assert.equal(r.budget, { bytes: r.limit, from: r.from });
  assert.ok(r.memoryLimit === null || r.memoryLimit.bytes > 0);
});

test.after(() => {
  if (!group.skip) group.remove();
});

test.run();
