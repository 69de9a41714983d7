/**
 * Where `sotr predict`'s outputs go: the checks made on their paths before a run (writable, distinct, never an input,
 * never read back as one) and the names of the per-image outputs (--viz overlays, --label-maps), unique and kept
 * from run to run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from './args';
import { folderRealKeys } from './inputs';
import type { LineStatus } from './journal';
import { realOutPath } from './out_files';
import { settingsFile } from './run_settings';

/** The output options these checks read (predict's settings). */
export interface OutputOptions {
  out: string;
  /** The file --out names, links followed (realOutPath): the lock and the settings record go by it; '-' for stdout. */
  outFile: string;
  coco?: string;
  viz?: string;
  labelMaps?: string;
}

/** `--out -`: the JSON Lines go to stdout (nothing to resume, no settings record, no file to read back). */
export const toStdout = (s: Pick<OutputOptions, 'out'>): boolean => s.out === '-';

// An output that cannot be written would fail only at the end (--coco), once per image (--viz), or with a raw
// EEXIST: checked before the run. Made folders are made later, at the first write.
export function writableOption(flagName: string, p: string, kind: 'file' | 'folder'): void {
  const abs = path.resolve(p);
  let at = abs;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(at);
    } catch {
      st = undefined;
    }
    if (st) {
      if (at === abs && kind === 'file') {
        if (st.isDirectory()) return; // --out's own message says what to give
        try {
          fs.accessSync(at, fs.constants.W_OK);
        } catch {
          throw new UsageError(`${flagName} ${p}: the file is not writable`);
        }
        return;
      }
      if (!st.isDirectory()) throw new UsageError(`${flagName} ${p}: ${at} is not a folder`);
      // A real write, removed at once (access() says yes to root on file systems that refuse it, such as /sys).
      try {
        fs.rmdirSync(fs.mkdtempSync(path.join(at, '.sotr-probe-')));
      } catch (e) {
        throw new UsageError(`${flagName} ${p}: cannot write in ${at} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      return;
    }
    const up = path.dirname(at);
    if (up === at) return;
    at = up;
  }
}

// Two outputs on one path would overwrite each other (--coco over --out: the results are gone at the rerun),
// and an output over --image-ids or --class-names destroys the annotations: refused before the run.
export function distinctPaths(s: OutputOptions, inputFiles: Array<[string, string]>): void {
  const named: Array<[string, string]> = [];
  if (!toStdout(s)) named.push(['--out', s.out], [`--out's settings record`, settingsFile(s.outFile)]);
  if (s.coco !== undefined) named.push(['--coco', s.coco]);
  if (s.viz !== undefined) named.push(['--viz', s.viz]);
  if (s.labelMaps !== undefined) named.push(['--label-maps', s.labelMaps]);
  const seen = new Map<string, string>();
  for (const [what, p] of named) {
    const key = realOutPath(p);
    const other = seen.get(key);
    if (other !== undefined) throw new UsageError(`${other} and ${what} are the same path (${p}): give each its own`);
    seen.set(key, what);
  }
  // Files read (--image-ids, --class-names) may be one file, a dataset's annotations; never an output's path.
  for (const [what, p] of inputFiles) {
    const other = seen.get(realOutPath(p));
    if (other !== undefined) throw new UsageError(`${other} and ${what} are the same path (${p}): give each its own`);
  }
}

// An output over one of the images would replace it.
export function outputsNotInputs(s: OutputOptions, files: string[]): void {
  const outs = new Map<string, string>();
  if (!toStdout(s)) outs.set(s.outFile, '--out').set(realOutPath(settingsFile(s.outFile)), `--out's settings record`);
  if (s.coco !== undefined) outs.set(realOutPath(s.coco), '--coco');
  const names = new Set([...outs.keys()].map((k) => path.basename(k)));
  for (const f of files) {
    if (!names.has(path.basename(f))) continue; // no file system call for most images
    const what = outs.get(realOutPath(f));
    if (what) throw new UsageError(`${what} is one of the input images (${f}): give another path`);
  }
}

// Files in the --viz / --label-maps folders (or below them) are this command's outputs, not inputs: given an input
// folder as the output folder, the overlays would replace the images; an output folder inside an input folder would
// be read back as new images by the next run. Left out with a warning.
export function notInOutputFolders(s: OutputOptions, files: string[], warn: (m: string) => void): string[] {
  const outDirs = [s.viz, s.labelMaps].filter((d): d is string => d !== undefined).map((d) => [d, realOutPath(d).replace(/[/\\]*$/, path.sep)] as const);
  if (!outDirs.length) return files;
  const realKey = folderRealKeys(); // one realpath per folder
  const left = new Map<string, number>();
  const kept = files.filter((f) => {
    const key = realKey(path.resolve(f));
    const hit = outDirs.find(([, prefix]) => key.startsWith(prefix));
    if (hit) left.set(hit[0], (left.get(hit[0]) ?? 0) + 1);
    return !hit;
  });
  for (const [d, n] of left) warn(`left out ${n} input ${n === 1 ? 'file' : 'files'} in the output folder ${d} (--viz / --label-maps write there)`);
  return kept;
}

// An output folder's option: a file there (not a folder) would fail every image's output one by one, so it is
// refused before the run instead; a missing folder is made at the first output.
export function folderOption(flagName: string, dir: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch {
    st = undefined;
  }
  if (st && !st.isDirectory()) throw new UsageError(`${flagName} ${dir} is not a folder`);
}

/**
 * Output file names, unique by construction (no image's output overwrites another's): the image's name with the
 * output's extension (.jpg for JPEGs, else .png, unless `ext` is given); where two images would get one name, their
 * paths from the working folder instead, separators as `__`, `..` as `up`, their own extension kept; a clash left
 * after that (or between the two kinds) gets `~2`, `~3`... Names compare case-insensitively (macOS, Windows).
 * `fixed` (absolute path → name): names an earlier run gave, kept as they are; the others avoid them.
 */
export function outputNames(files: string[], dir: string, ext?: string, base = process.cwd(), fixed: ReadonlyMap<string, string> = new Map()): Map<string, string> {
  const extOf = (f: string) => ext ?? (/\.(jpe?g)$/i.test(f) ? '.jpg' : '.png');
  const plain = (f: string) => path.basename(f, path.extname(f)) + extOf(f);
  const count = new Map<string, number>();
  for (const f of files) count.set(plain(f).toLowerCase(), (count.get(plain(f).toLowerCase()) ?? 0) + 1);
  const byPath = (f: string) => {
    // Relative to the folder --out's lines are relative to (recorded at its first run), so a resume from another
    // folder finds the overlays it wrote.
    const rel = path.relative(base, path.resolve(f));
    const flat = rel.split(/[/\\]+/).map((seg) => (seg === '..' ? 'up' : seg.replace(/:/g, '_'))).join('__');
    return path.extname(flat).toLowerCase() === extOf(f) ? flat : flat + extOf(f);
  };
  // `fixed`: names given earlier (an earlier run's, recorded in its lines), kept, each by its first image.
  const used = new Set<string>();
  const keeps = new Map<string, string>();
  for (const f of files) {
    const n = fixed.get(f);
    if (n !== undefined && !used.has(n.toLowerCase())) {
      used.add(n.toLowerCase());
      keeps.set(f, n);
    }
  }
  const wanted = files.map((f) => keeps.get(f) ?? (count.get(plain(f).toLowerCase())! > 1 ? byPath(f) : plain(f)));
  // Taken first by the names that need no suffix, so a suffix never takes another image's plain name.
  const taken = new Map<string, number>();
  for (const n of wanted) taken.set(n.toLowerCase(), (taken.get(n.toLowerCase()) ?? 0) + 1);
  const out = new Map<string, string>();
  files.forEach((f, i) => {
    let name = wanted[i]!;
    if (keeps.has(f)) {
      out.set(f, path.join(dir, name));
      return;
    }
    if (used.has(name.toLowerCase())) {
      const e = path.extname(name);
      const stem = name.slice(0, name.length - e.length);
      for (let k = 2; used.has(name.toLowerCase()) || taken.has(name.toLowerCase()); k++) name = `${stem}~${k}${e}`;
    }
    used.add(name.toLowerCase());
    out.set(f, path.join(dir, name));
  });
  return out;
}

/**
 * outputNames for this run's `files`, made unique over the images already in --out too (`done`: by absolute path,
 * earlier images first), so a resume with another folder does not give its x.jpg the name an earlier run's x.jpg
 * has. An image whose line records its output's name (`kind`: 'viz' or 'label_map') keeps it, so a later run given
 * more images (both folders) still finds its output. One image reached by two paths (a linked folder) counts once,
 * under this run's path.
 */
export function runOutputNames(files: string[], done: ReadonlyMap<string, LineStatus>, kind: 'viz' | 'label_map', dir: string, base: string, ext?: string): Map<string, string> {
  const realKey = folderRealKeys();
  const mine = new Map(files.map((f) => [realKey(path.resolve(f)), path.resolve(f)]));
  const all = new Map<string, string>(); // real key → absolute path, earlier images first
  const fixed = new Map<string, string>(); // absolute path → recorded name
  for (const [k, st] of done) {
    const rk = realKey(k);
    if (all.has(rk)) continue;
    const abs = mine.get(rk) ?? k;
    all.set(rk, abs);
    const recorded = st[kind];
    if (recorded !== undefined) fixed.set(abs, recorded);
  }
  for (const [rk, abs] of mine) if (!all.has(rk)) all.set(rk, abs);
  const names = outputNames([...all.values()], dir, ext, base, fixed);
  return new Map(files.map((f) => [f, names.get(path.resolve(f))!]));
}
