// A cgroup made for a test, with one controller's limit it may set, and children run inside it: cgroup v1's
// hierarchy of that controller, or v2 where the controller is enabled for children. Used by the tests of the
// defaults that follow a container's limits (tests/foundation/cpu_quota.test.mjs, memory_limit.test.mjs). Each case
// skips where this process may not make such a group (not root, no writable controller, a delegated hierarchy).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import * as assert from 'uvu/assert';

/**
 * controller: 'cpu' | 'memory'; v1File / v2File: the limit's file in each version (its existence under
 * /sys/fs/cgroup/<controller> tells v1); set(dir, v2, value): writes the limit; initial: the value set first.
 * Returns { dir, set(value), source, run(args, env), remove() } or { skip: reason }.
 */
export function testCgroup({ controller, v1File, v2File, set, initial }) {
  const g = make(controller, v1File, v2File, set, initial);
  if (g.skip) return g;
  // A group made but that this process may not move a child into: skipped too.
  const r = spawnSync('sh', ['-c', 'echo $$ > "$0/cgroup.procs"', g.dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    g.remove();
    return { skip: `cannot move a process into ${g.dir} (${r.stderr.trim()})` };
  }
  return g;
}

function make(controller, v1File, v2File, set, initial) {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return { skip: 'not root on Linux' };
  const name = `sotr-${controller}-test-${process.pid}`;
  const v1 = path.join('/sys/fs/cgroup', controller);
  const candidates = existsSync(path.join(v1, v1File))
    ? [{ parent: v1, v2: false }]
    : ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'].map((parent) => ({ parent, v2: true }));
  for (const { parent, v2 } of candidates) {
    if (v2) {
      let controllers = '';
      try {
        controllers = readFileSync(path.join(parent, 'cgroup.subtree_control'), 'utf8');
      } catch {
        continue;
      }
      if (!controllers.split(/\s+/).includes(controller)) continue;
    }
    const dir = path.join(parent, name);
    const g = {
      dir,
      source: path.join(dir, v2 ? v2File : v1File),
      set: (value) => set(dir, v2, value),
      run: (args, env) => runIn(dir, args, env),
      remove: () => {
        try {
          rmdirSync(dir);
        } catch {
          // a child may still be leaving it: left for the system
        }
      },
    };
    try {
      mkdirSync(dir);
      g.set(initial);
      return g;
    } catch (e) {
      g.remove();
      return { skip: `cannot make a cgroup ${v2 ? 'v2' : 'v1'} ${controller} group (${e.code ?? e.message})` };
    }
  }
  return { skip: `no writable ${controller} controller` };
}

// Runs `args` (node's) with the child moved into the group first; returns its stdout (a failure fails the test).
function runIn(dir, args, env) {
  const r = spawnSync('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, process.execPath, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  assert.is(r.status, 0, `child failed: ${r.stderr}`);
  return r.stdout;
}
