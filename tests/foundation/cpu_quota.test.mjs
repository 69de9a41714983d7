// The CPU pool's default thread count follows a container's CPU quota (native/runtime/cgroup_limits.h): a process
// limited to 1 CPU by its cgroup (cgroup v1 cpu.cfs_quota_us or v2 cpu.max) on a machine of several cores makes a
// pool of 1 thread, says so in backendInfo() and `sotr info`, and SOTR_NUM_THREADS still wins. The parsing of every
// layout (namespaced v2, nested v2 with the limit on an ancestor, v1 mounted at the container's own cgroup, hybrid,
// damaged files) is checked natively on fake trees in tests/native/test_thread_pool.cpp; here a real cgroup, made
// for the test, when this process may make one (root, a writable cpu controller), else the cases are skipped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testCgroup } from '../helpers/cgroup.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = path.join(root, 'dist', 'index.js');
const cli = path.join(root, 'dist', 'cli', 'main.js');

// A cgroup with a CPU quota, made for the test (tests/helpers/cgroup.mjs).
const group = testCgroup({
  controller: 'cpu',
  v1File: 'cpu.cfs_quota_us',
  v2File: 'cpu.max',
  set: (dir, v2, cpus) => {
    if (v2) return writeFileSync(path.join(dir, 'cpu.max'), `${Math.round(cpus * 100000)} 100000`);
    writeFileSync(path.join(dir, 'cpu.cfs_period_us'), '100000');
    writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(Math.round(cpus * 100000)));
  },
  initial: 1,
});
const cores = os.availableParallelism?.() ?? os.cpus().length;
const skip = group.skip ?? (cores < 2 ? 'fewer than 2 cores: a 1-CPU quota changes nothing' : undefined);
if (skip) console.log(`  (cpu_quota: skipped: ${skip})`);

// Runs `args` (node's) with the child moved into the test's cgroup first.
const inGroup = (args, env = {}) => group.run(args, { SOTR_NUM_THREADS: '', ...env });

const INFO = `const i = require(${JSON.stringify(entry)}).backendInfo();
  console.log(JSON.stringify({ threads: i.cpu.threads, cores: i.cpu.cores, quota: i.cpu.quota, from: i.threadsFrom,
    defaultThreads: i.cpu.defaultThreads, usable: require(${JSON.stringify(entry)}).usableCpus() }));`;

test('a 1-CPU quota makes a pool of 1 thread, and backendInfo says why', () => {
  if (skip) return;
  const info = JSON.parse(inGroup(['-e', INFO]));
  assert.is(info.threads, 1);
  assert.is(info.defaultThreads, 1);
  assert.is(info.cores, cores);
  assert.equal(info.quota, { cpus: 1, source: group.source });
  assert.is(info.from, 'cpu quota');
  assert.is(info.usable, 1);
  // Outside the group: every core, no quota.
  const outside = JSON.parse(spawnSync(process.execPath, ['-e', INFO], { encoding: 'utf8', env: { ...process.env, SOTR_NUM_THREADS: '' } }).stdout);
  assert.is(outside.from, 'cores');
  assert.is(outside.threads, cores);
});

test('a fractional quota rounds up; a quota above the cores changes nothing', () => {
  if (skip) return;
  group.set(1.5);
  let info = JSON.parse(inGroup(['-e', INFO]));
  assert.is(info.quota.cpus, 1.5);
  assert.is(info.threads, Math.min(2, cores));
  group.set(cores + 3);
  info = JSON.parse(inGroup(['-e', INFO]));
  assert.is(info.quota.cpus, cores + 3);
  assert.is(info.threads, cores);
  assert.is(info.from, 'cores');
  group.set(1);
});

test('SOTR_NUM_THREADS and setNumThreads win over the quota', () => {
  if (skip) return;
  const info = JSON.parse(inGroup(['-e', INFO], { SOTR_NUM_THREADS: '3' }));
  assert.is(info.threads, 3);
  assert.is(info.from, 'SOTR_NUM_THREADS');
  const set = inGroup(['-e', `const s = require(${JSON.stringify(entry)}); s.setNumThreads(2);
    const i = s.backendInfo(); console.log(i.cpu.threads, i.threadsFrom); s.setNumThreads(0);
    const j = s.backendInfo(); console.log(j.cpu.threads, j.threadsFrom);`]);
  assert.equal(set.trim().split('\n'), ['2 option', '1 cpu quota']);
});

test('sotr info names the quota', () => {
  if (skip) return;
  const out = inGroup([cli, 'info']);
  assert.match(out, new RegExp(`CPU: +1 thread \\(cpu quota: 1 CPU of ${cores} cores \\(${group.source.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)\\)`));
});

test.after(() => {
  if (!group.skip) group.remove();
});

test.run();
