/**
 * `sotr predict`'s files around its outputs: the lock that keeps a second process off one --out, the temporaries
 * (`<name>.partial-<pid>`) a killed process leaves, and how a failed write reads (the option, the file, the reason).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from './args';

/** Whether a process with this id runs on this machine (EPERM: it runs, as another user). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `--viz out/viz/x.jpg: no space left on device (ENOSPC)`: Node's "ENOSPC: no space left on device, write" without the syscall and paths. */
export function ioReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const msg = String(err?.message ?? e).split('\n')[0]!;
  const m = err?.code ? new RegExp(`^${err.code}: ([^,]+)`).exec(msg) : null;
  return m ? `${m[1]} (${err.code})` : msg;
}

/** An error writing an output: its message names the option and the final file (not a temporary), its code kept. */
export function outputError(option: string, file: string, e: unknown): Error {
  if (e instanceof UsageError) return e;
  const err = new Error(`${option} ${file}: ${ioReason(e)}`) as NodeJS.ErrnoException;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code) err.code = code;
  return err;
}

/**
 * Removes the temporaries (`<name>.partial-<pid>`, `<name>.partial-<pid>-<tag>`) that processes no longer running
 * left in `dir` (killed while they wrote); `prefix` limits it to one file's. A live process's are its own business
 * (another run may share the folder). Returns how many went.
 */
export function removeStalePartials(dir: string, prefix = ''): number {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0; // no folder yet
  }
  let removed = 0;
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /\.partial-(\d+)(?:-[0-9a-z]+)?$/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    try {
      fs.rmSync(path.join(dir, name), { force: true });
      removed++;
    } catch {
      // Not ours to remove (permissions): left.
    }
  }
  return removed;
}

/**
 * This process's temporaries in `dir` (`<name>.partial-<pid>` or `<name>.partial-<pid>-<tag>`), removed: an interrupted
 * write, such as `--model tiny` being generated into the cache.
 */
export function removeOwnPartials(dir: string): void {
  const mine = new RegExp(`\\.partial-${process.pid}(?:-[0-9a-z]+)?$`);
  try {
    for (const f of fs.readdirSync(dir)) if (mine.test(f)) fs.rmSync(path.join(dir, f), { force: true });
  } catch {
    // No folder, or no way to remove it.
  }
}

export const lockFile = (out: string): string => `${out}.lock`;

/**
 * The file `out` names, through symbolic links (the file's own, a dangling one included, and its folders'), whether
 * it exists yet or not: the lock and the settings record go by it, so two names of one results file (a link, a
 * linked folder) are one file to them.
 */
export function realOutPath(out: string): string {
  let p = path.resolve(out);
  for (let hops = 0; hops < 40; hops++) {
    try {
      return fs.realpathSync.native(p);
    } catch {
      // Not there yet, or a dangling link.
    }
    let target: string | undefined;
    try {
      target = fs.readlinkSync(p);
    } catch {
      target = undefined;
    }
    if (target === undefined) {
      let dir = path.dirname(p);
      try {
        dir = fs.realpathSync.native(dir);
      } catch {
        // The folder is not there either: it is made as named.
      }
      return path.join(dir, path.basename(p));
    }
    p = path.resolve(path.dirname(p), target); // the file a write through the link creates
  }
  return p;
}

interface LockRecord {
  pid: number;
  host: string;
  started: string;
}

/** How often a held lock's modification time is renewed, and how old one must be to count as abandoned. */
const LOCK_HEARTBEAT_MS = 10_000;
const LOCK_ABANDONED_MS = 60_000;

/**
 * Takes `<out>.lock` (created exclusively) for this process: two runs appending to one results file would mix their
 * lines and settings. A lock held by a live process is a UsageError naming it. It is stale, and taken over, when its
 * process is gone (this machine), names this very process (a container restarted with the same pid), or has not been
 * renewed for a minute: the holder touches it every 10 s, so a lock from another machine or a killed container (new
 * host name, other pid namespace) does not block the restarted job for good. `key` is the file the lock goes by
 * (realOutPath(out): one lock for every name of the file); `out` is the name messages give. Returns its release.
 */
export function takeLock(out: string, key: string = out): () => void {
  const file = lockFile(key);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const me: LockRecord = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      try {
        fs.writeSync(fd, JSON.stringify(me) + '\n');
      } catch (e) {
        // Created but its record not written (a full disk): ours to remove, or the next run would wait for it.
        fs.closeSync(fd);
        fs.rmSync(file, { force: true });
        throw e; // named by the catch below
      }
      fs.closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw outputError('--out', file, e);
    }
    let text = '';
    let held: Partial<LockRecord> | undefined;
    try {
      text = fs.readFileSync(file, 'utf8');
      held = JSON.parse(text) as Partial<LockRecord>;
    } catch {
      held = undefined; // gone meanwhile, or not written yet
    }
    const sameHost = held?.host === me.host;
    // A lock with no record: a process killed between creating and writing it, once it is a few seconds old.
    // Milliseconds since the lock was last written or renewed (gone meanwhile: as old as can be).
    let age = Infinity;
    try {
      age = Date.now() - fs.statSync(file).mtimeMs;
    } catch {
      /* gone */
    }
    // A lock with no record is a process killed between creating and writing it, once it is a few seconds old.
    const stale =
      (held && sameHost && (Number(held.pid) === process.pid || !pidAlive(Number(held.pid)))) ||
      (!held && age > 5000) ||
      age > LOCK_ABANDONED_MS;
    if (!stale || attempt >= 2) {
      const who = held?.pid !== undefined ? `process ${held.pid}${sameHost ? '' : ` on ${held.host}`}` : 'another process';
      throw new UsageError(
        `--out ${out} is in use by ${who} (lock file ${file}): two runs on one results file would mix their lines; ` +
          `wait for it, give another --out, or delete ${file} if no such run is going on`,
        undefined,
        false,
      );
    }
    // Stale: removed if it still holds what was read (another process may have taken it over meanwhile).
    try {
      if (fs.readFileSync(file, 'utf8') === text) fs.rmSync(file, { force: true });
    } catch {
      /* gone already */
    }
  }
  let released = false;
  const heartbeat = setInterval(() => {
    try {
      const now = new Date();
      fs.utimesSync(file, now, now);
    } catch {
      // Gone (deleted by hand): nothing to renew.
    }
  }, LOCK_HEARTBEAT_MS);
  heartbeat.unref();
  return () => {
    if (released) return;
    released = true;
    clearInterval(heartbeat);
    try {
      const held = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockRecord>;
      if (held.pid === me.pid && held.host === me.host) fs.rmSync(file, { force: true });
    } catch {
      // Gone, or no longer ours.
    }
  };
}
