/**
 * Turns `--input` values into an ordered, de-duplicated list of image files:
 * files as given, folders searched recursively for image extensions, globs
 * (`*`, `?`, `**`, `[...]`, `{a,b}`; Node 20 has no fs.glob) and list files
 * (.txt/.lst/.list, one path a line, relative to the list's folder, # comments: a name that starts with '#' is
 * listed as ./#name.jpg, which the path join makes #name.jpg again). `-` reads such a list from stdin,
 * and a pipe (`-i <(find photos -name '*.jpg')`) is read as one; their paths are relative to the working folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from './args';
import { realOutPath } from './out_files';

// .heic and .bmp are searched although sharp's libvips reads neither: each becomes an error line that says so (and what
// to do), rather than being passed over in silence.
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif', '.heic', '.heif', '.bmp']);
const LIST_EXTENSIONS = new Set(['.txt', '.lst', '.list']);

const isImageName = (name: string) => IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());
const hasGlob = (s: string) => /[*?[\]{}]/.test(s);

/** What expandInputs passed over (each also given to its `warn`): a folder it cannot read, a name it cannot pass on. */
export interface InputSkips {
  folders: number;
  names: number;
}

// A folder's entries as names Node can open. Linux names are bytes: one that is not valid UTF-8 would come back
// with U+FFFD in it (two such files under one name, neither openable by it); it is skipped, with a warning.
function readFolder(dir: string, warn: (m: string) => void, skips: InputSkips): Array<{ name: string; entry: fs.Dirent<Buffer> }> | null {
  let entries: Array<fs.Dirent<Buffer>>;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true, encoding: 'buffer' });
  } catch (e) {
    // One folder that cannot be read (no permission, lost+found) does not stop the rest.
    warn(`skipping folder ${dir}: ${(e as Error).message}`);
    skips.folders++;
    return null;
  }
  return utf8Entries(dir, entries, warn, skips);
}

// The entries whose names are valid UTF-8, sorted by name; the others are warned about (dot-files quietly left out)
// and counted, unless `wanted` (the name as Node would decode it) says the caller would not have taken them anyway.
function utf8Entries(
  dir: string,
  entries: Array<fs.Dirent<Buffer>>,
  warn: (m: string) => void,
  skips: InputSkips,
  wanted: (lossyName: string, entry: fs.Dirent<Buffer>) => boolean = () => true,
): Array<{ name: string; entry: fs.Dirent<Buffer> }> {
  const out: Array<{ name: string; entry: fs.Dirent<Buffer> }> = [];
  for (const entry of entries) {
    const bytes = entry.name;
    const name = bytes.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(bytes)) {
      if (!name.startsWith('.') && wanted(name, entry)) {
        warn(`skipping ${path.join(dir, name)}: its name is not valid UTF-8 (bytes ${bytes.toString('hex')}), which Node cannot open by name; rename it`);
        skips.names++;
      }
      continue;
    }
    out.push({ name, entry });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A real folder path ending in the separator, so that a file's real path is it plus the file's name. */
const folderPrefix = (real: string): string => (real.endsWith(path.sep) ? real : real + path.sep);

/**
 * A plain file's key: its folder's real path (looked up once per folder, through folder links) and its name. A linked
 * file keeps its own name (realOutPath follows it); a missing folder is made absolute. expandInputs deduplicates by it,
 * and a resume matches earlier lines by it (journal.ts, doneLookup).
 */
export function folderRealKeys(): (p: string) => string {
  const prefixes = new Map<string, string>();
  return (p) => {
    const dir = path.dirname(p);
    let prefix = prefixes.get(dir);
    if (prefix === undefined) prefixes.set(dir, (prefix = folderPrefix(realOutPath(dir))));
    return prefix + path.basename(p);
  };
}

// Folders are walked through symbolic links too (photos/2023 -> ../archive/2023), each real folder once: a link
// back up the tree (a loop) is not followed again. Each image comes with its real path: a plain file's is its real
// folder's joined to its name (no system call per file in a folder of 100k images), a linked file's is looked up.
function walk(dir: string, out: Array<[string, string]>, warn: (m: string) => void, skips: InputSkips, visited: Set<string>): void {
  let real: string;
  try {
    real = fs.realpathSync.native(dir); // as realOutPath's, so that a file's key is the same whichever way it came
  } catch (e) {
    warn(`skipping folder ${dir}: ${(e as Error).message}`);
    skips.folders++;
    return;
  }
  if (visited.has(real)) return;
  visited.add(real);
  const entries = readFolder(dir, warn, skips);
  if (!entries) return;
  const realPrefix = folderPrefix(real); // canonical already: no path.join needed
  for (const { name, entry: e } of entries) {
    if (name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (e.isDirectory()) walk(p, out, warn, skips, visited);
    else if (e.isSymbolicLink()) {
      let st: fs.Stats | undefined;
      try {
        st = fs.statSync(p);
      } catch {
        st = undefined; // a dangling or looping link: an image name becomes an error line, as a missing file
      }
      if (st?.isDirectory() && !isImageName(name)) walk(p, out, warn, skips, visited);
      else if (isImageName(name)) out.push([p, realOutPath(p)]);
    } else if (e.isFile() && isImageName(name)) out.push([p, realPrefix + name]);
  }
}

/** One glob segment (no '/') as a regular expression. */
function segmentRegex(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const j = seg.indexOf(']', i + 1);
      if (j < 0) re += '\\[';
      else {
        let body = seg.slice(i + 1, j).replace(/\\/g, '\\\\');
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body}]`;
        i = j;
      }
    } else if (c === '{') {
      const j = seg.indexOf('}', i + 1);
      if (j < 0) re += '\\{';
      else {
        re += '(?:' + seg.slice(i + 1, j).split(',').map((a) => a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|') + ')';
        i = j;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** A folder, or a symbolic link to one (followed, as a shell's glob does). */
function isFolder(dir: string, name: string, e: fs.Dirent<Buffer>): boolean {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  try {
    return fs.statSync(path.join(dir, name)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Expands a glob pattern (relative to cwd or absolute) to the files it matches, sorted. A matching file whose name is
 * not valid UTF-8 (Node could not open it by name) is passed over, given to `warn` and counted in `skips`.
 */
export function globFiles(pattern: string, warn: (m: string) => void = () => {}, skips: InputSkips = { folders: 0, names: 0 }): string[] {
  return globMatches(pattern, warn, skips).map(([p]) => p);
}

/** globFiles' matches, each with whether it is a plain file (not a link: its folder's real path gives its own). */
function globMatches(pattern: string, warn: (m: string) => void, skips: InputSkips, keep: (file: string) => boolean = () => true): Array<[string, boolean]> {
  const norm = pattern.split(path.sep).join('/');
  const absolute = norm.startsWith('/');
  const segs = norm.split('/').filter((s, i) => s !== '' || i === 0);
  let base = absolute ? '/' : '.';
  let k = absolute ? 1 : 0;
  // Literal leading segments are walked into directly.
  while (k < segs.length - 1 && !hasGlob(segs[k]!)) base = path.join(base, segs[k++]!);
  const rest = segs.slice(k);
  const out: Array<[string, boolean]> = [];
  const visited = new Set<string>(); // real folders a '**' has walked (a link loop is walked once)
  const visit = (dir: string, i: number): void => {
    if (i === rest.length) return;
    if (rest[i] === '**') {
      let real: string;
      try {
        real = fs.realpathSync(dir);
      } catch {
        return;
      }
      const key = `${i}:${real}`;
      if (visited.has(key)) return;
      visited.add(key);
    }
    const seg = rest[i]!;
    const last = i === rest.length - 1;
    const re = seg === '**' ? null : segmentRegex(seg);
    let raw: Array<fs.Dirent<Buffer>>;
    try {
      raw = fs.readdirSync(dir, { withFileTypes: true, encoding: 'buffer' });
    } catch {
      return;
    }
    // Names as bytes: one that is not UTF-8 would come back with U+FFFD (and could not be opened by that name). It is
    // warned about where it would be a match (a file the pattern's last part takes), as a folder input does.
    const wouldMatch = (name: string, e: fs.Dirent<Buffer>) =>
      (seg === '**' ? last : last && re!.test(name)) && !e.isDirectory() && keep(path.join(dir, name));
    const entries = utf8Entries(dir, raw, warn, skips, wouldMatch);
    if (seg === '**') {
      visit(dir, i + 1); // zero folders
      for (const { name, entry: e } of entries) if (isFolder(dir, name, e) && !name.startsWith('.')) visit(path.join(dir, name), i);
      // A trailing '**': the files below, dot-files left out as '*' and folder inputs leave them (._IMG.jpg, .DS_Store).
      if (last) for (const { name, entry: e } of entries) if (!isFolder(dir, name, e) && !name.startsWith('.')) out.push([path.join(dir, name), e.isFile()]);
      return;
    }
    for (const { name, entry: e } of entries) {
      if (name.startsWith('.') && !seg.startsWith('.')) continue;
      if (!re!.test(name)) continue;
      const p = path.join(dir, name);
      if (last) {
        if (!e.isDirectory()) out.push([p, e.isFile()]);
      } else if (e.isDirectory() || e.isSymbolicLink()) visit(p, i + 1);
    }
  };
  visit(base, 0);
  return out;
}

// `dir`: the folder a list file's relative paths are relative to; null for stdin and pipes, whose paths are kept as
// given (relative to the working folder, like paths on the command line, and so written to the results that way).
// Spaces around a line are trimmed (a hand-written list's stray ones), unless the line as written names a file: a name
// that begins or ends with a space is listed as it is (one lookup, only for lines that have such spaces).
function readList(file: string | 0, dir: string | null): string[] {
  const out: string[] = [];
  const at = (name: string) => (dir === null || path.isAbsolute(name) ? name : path.join(dir, name));
  for (const raw of fs.readFileSync(file, 'utf8').split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    out.push(line !== raw && fs.existsSync(at(raw)) ? at(raw) : at(line));
  }
  return out;
}

/**
 * The image files named by the inputs, in the order given (folders and globs sorted by name), each once: a file
 * reached by two spellings (a/x.jpg and link/x.jpg, link -> a) is kept under the first.
 * A missing path, or a folder or glob without images, is a UsageError. Folders are searched through symbolic links;
 * a folder that cannot be read, or a file whose name is not valid UTF-8, is passed over with a warning (counted in
 * `skips`).
 */
export function expandInputs(inputs: string[], warn: (m: string) => void = () => {}, skips: InputSkips = { folders: 0, names: 0 }): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  // Keyed by the real path, found once per entry: a folder's files get it from the walk, other plain files (not
  // links) from their folder's, looked up once per folder (a list or glob of 100k images in a few folders).
  const plainKey = folderRealKeys();
  const add = (p: string, key: string = realOutPath(p)) => {
    if (seen.has(key)) return;
    seen.add(key);
    out.push(path.normalize(p));
  };
  const one = (input: string, fromList: boolean): void => {
    if (input === '-' && !fromList) {
      for (const p of readList(0, null)) one(p, true);
      return;
    }
    // lstat first: a plain file's key then comes from its folder's real path; a link is followed (stat) and looked up.
    let lst: fs.Stats | undefined;
    try {
      lst = fs.lstatSync(input);
    } catch {
      lst = undefined;
    }
    let st = lst;
    if (lst?.isSymbolicLink()) {
      try {
        st = fs.statSync(input);
      } catch {
        st = undefined; // dangling: as a missing path
      }
    }
    if (st?.isDirectory()) {
      const found: Array<[string, string]> = [];
      walk(input, found, warn, skips, new Set());
      if (!found.length && !fromList) throw new UsageError(`no images (${[...IMAGE_EXTENSIONS].join(' ')}) in folder ${input}`);
      for (const [p, real] of found) add(p, real);
    } else if (st) {
      if (!fromList && LIST_EXTENSIONS.has(path.extname(input).toLowerCase())) {
        for (const p of readList(input, path.dirname(input))) one(p, true);
      } else if (!fromList && (st.isFIFO() || st.isCharacterDevice())) {
        for (const p of readList(input, null)) one(p, true);
      } else add(input, lst!.isSymbolicLink() ? realOutPath(input) : plainKey(input));
    } else if (hasGlob(input)) {
      // A pattern ending in '*' or '**' takes image names only (the folder's other files are not meant).
      const keep = (f: string) => isImageName(f) || !/\*\*?$/.test(input);
      const found = globMatches(input, warn, skips, keep).filter(([f]) => keep(f));
      if (!found.length) throw new UsageError(`no files match ${input}`);
      for (const [p, plain] of found) add(p, plain ? plainKey(p) : realOutPath(p));
    } else if (fromList) {
      add(input); // listed but missing: it becomes a result line with an error, like any unreadable image
    } else {
      throw new UsageError(`input not found: ${input}`);
    }
  };
  for (const input of inputs) one(input, false);
  return out;
}
