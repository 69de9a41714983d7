// The CPU pool's default thread count follows a container's CPU quota (native/runtime/cgroup_limits.h): a process
// limited to 1 CPU by its cgroup (cgroup v1 cpu.cfs_quota_us or v2 cpu.max) on a machine of several cores makes a
// pool of 1 thread, says so in backendInfo() and `sotr info`, and SOTR_NUM_THREADS still wins. The parsing of every
// layout (namespaced v2, nested v2 with the limit on an ancestor, v1 mounted at the container's own cgroup, hybrid,
// damaged files) is checked natively on fake trees in tests/native/test_thread_pool.cpp; here a real cgroup, made
// for the test, when this process may make one (root, a writable cpu controller), else the cases are skipped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = path.join(root, 'dist', 'index.js');
const cli = path.join(root, 'dist', 'cli', 'main.js');

// A cgroup with a quota of `cpus` this test may create and put a child in: v1's cpu hierarchy, or v2 where the cpu
// controller is enabled for children. Returns { dir, procs, quotaFile, set(cpus) } or a reason to skip.
function makeCgroup() {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return { skip: 'not root on Linux' };
  const name = `sotr-quota-test-${process.pid}`;
  const v1 = '/sys/fs/cgroup/cpu';
  if (existsSync(path.join(v1, 'cpu.cfs_quota_us'))) {
    const dir = path.join(v1, name);
    try {
      mkdirSync(dir);
      const set = (cpus) => {
        writeFileSync(path.join(dir, 'cpu.cfs_period_us'), '100000');
        writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(Math.round(cpus * 100000)));
      };
      set(1);
      return { dir, set, source: path.join(dir, 'cpu.cfs_quota_us') };
    } catch (e) {
      return { skip: `cannot make a cgroup v1 cpu group (${e.code ?? e.message})` };
    }
  }
  for (const v2 of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) {
    let controllers = '';
    try {
      controllers = readFileSync(path.join(v2, 'cgroup.subtree_control'), 'utf8');
    } catch {
      continue;
    }
    if (!controllers.split(/\s+/).includes('cpu')) continue;
    const dir = path.join(v2, name);
    try {
      mkdirSync(dir);
      const set = (cpus) => writeFileSync(path.join(dir, 'cpu.max'), `${Math.round(cpus * 100000)} 100000`);
      set(1);
      return { dir, set, source: path.join(dir, 'cpu.max') };
    } catch (e) {
      return { skip: `cannot make a cgroup v2 group with cpu.max (${e.code ?? e.message})` };
    }
  }
  return { skip: 'no writable cpu controller' };
}

// A group made but that this process may not move a child into (a delegated or read-only hierarchy): skipped too.
function usable(g) {
  if (g.skip) return g;
  const r = spawnSync('sh', ['-c', 'echo $$ > "$0/cgroup.procs"', g.dir], { encoding: 'utf8' });
  if (r.status === 0) return g;
  try {
    rmdirSync(g.dir);
  } catch {
    // left for the system
  }
  return { skip: `cannot move a process into ${g.dir} (${r.stderr.trim()})` };
}

const group = usable(makeCgroup());
const cores = os.availableParallelism?.() ?? os.cpus().length;
const skip = group.skip ?? (cores < 2 ? 'fewer than 2 cores: a 1-CPU quota changes nothing' : undefined);
if (skip) console.log(`  (cpu_quota: skipped: ${skip})`);

// Runs `args` (node's) with the child moved into the test's cgroup first.
function inGroup(args, env = {}) {
  const r = spawnSync('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', group.dir, process.execPath, ...args], {
    encoding: 'utf8',
    env: { ...process.env, SOTR_NUM_THREADS: '', ...env },
    timeout: 60_000,
  });
  assert.is(r.status, 0, `child failed: ${r.stderr}`);
  return r.stdout;
}

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
  if (group.dir) {
    try {
      rmdirSync(group.dir);
    } catch {
      // a child still inside (a killed run): the group is empty soon after; nothing else to do
    }
  }
});

test.run();
