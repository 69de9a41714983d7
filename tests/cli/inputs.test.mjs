// `sotr predict`'s inputs: folders are searched through symbolic links (photos/2023 -> ../archive/2023 was passed
// over in silence), each real folder once (a link loop ends); a folder that cannot be read is skipped with a warning
// instead of stopping the run; a file whose name is not valid UTF-8 (Linux names are bytes; Node would give it, and
// any other such name, one U+FFFD spelling and could open neither) is skipped with a warning naming its bytes. A run
// that skipped something exits 2.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expandInputs } from '../../dist/cli/inputs.js';
import { fakeSotr, readLines, root } from './helpers/run.mjs';

const jpg = path.join(root, 'examples', 'images', 'grey.jpg');

function tree() {
  const dir = mkdtempSync(path.join(tmpdir(), 'sotr-inputs-'));
  for (const d of ['photos/2024', 'archive/2023/deep']) mkdirSync(path.join(dir, d), { recursive: true });
  copyFileSync(jpg, path.join(dir, 'photos/2024/a.jpg'));
  copyFileSync(jpg, path.join(dir, 'archive/2023/b.jpg'));
  copyFileSync(jpg, path.join(dir, 'archive/2023/deep/c.jpg'));
  symlinkSync('../archive/2023', path.join(dir, 'photos/2023')); // a linked folder
  symlinkSync('..', path.join(dir, 'archive/2023/deep/up')); // a loop back up
  symlinkSync('nowhere', path.join(dir, 'photos/dangling')); // a link to nothing, no image name: passed over
  return dir;
}

test('folders are walked through symbolic links, each real folder once; globs follow them too', () => {
  const dir = tree();
  const rel = (files) => files.map((f) => path.relative(dir, f));
  assert.equal(rel(expandInputs([path.join(dir, 'photos')])), ['photos/2023/b.jpg', 'photos/2023/deep/c.jpg', 'photos/2024/a.jpg']);
  assert.equal(rel(expandInputs([path.join(dir, 'photos/**/*.jpg')])), ['photos/2023/b.jpg', 'photos/2023/deep/c.jpg', 'photos/2024/a.jpg']);
});

test('an unreadable folder and a name that is not UTF-8 are skipped with a warning; the rest runs; exit 2', async () => {
  const dir = tree();
  const locked = path.join(dir, 'photos/locked');
  mkdirSync(locked);
  copyFileSync(jpg, path.join(locked, 'd.jpg'));
  chmodSync(locked, 0o000);
  // Two names that are not UTF-8 (both would read as "\uFFFD.jpg").
  const { spawnSync } = await import('node:child_process');
  const made = spawnSync('/bin/sh', ['-c', `cp "${jpg}" "$(printf '${dir}/photos/2024/\\377.jpg')" && cp "${jpg}" "$(printf '${dir}/photos/2024/\\376.jpg')"`]);
  assert.is(made.status, 0, String(made.stderr));
  const warnings = [];
  const skips = { folders: 0, names: 0 };
  // Root reads any folder: there, the folder's read is made to fail as it would for another user.
  const root_ = process.getuid?.() === 0;
  const fs = (await import('node:fs')).default;
  const readdirSync = fs.readdirSync;
  if (root_) {
    fs.readdirSync = function (p, ...rest) {
      if (p === locked) throw Object.assign(new Error(`EACCES: permission denied, scandir '${p}'`), { code: 'EACCES' });
      return readdirSync.call(this, p, ...rest);
    };
  }
  let files;
  try {
    files = expandInputs([path.join(dir, 'photos')], (m) => warnings.push(m), skips);
  } finally {
    fs.readdirSync = readdirSync;
  }
  assert.equal(files.map((f) => path.basename(f)).sort(), ['a.jpg', 'b.jpg', 'c.jpg']);
  assert.equal(skips, { folders: 1, names: 2 });
  assert.ok(warnings.some((w) => /not valid UTF-8 \(bytes ff2e6a7067\)/.test(w)), warnings.join('\n'));
  assert.ok(warnings.some((w) => /bytes fe2e6a7067/.test(w)), warnings.join('\n'));
  assert.ok(warnings.some((w) => w.startsWith(`skipping folder ${locked}: EACCES`)), warnings.join('\n'));
  const out = path.join(dir, 'r.jsonl');
  const r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'photos'), '-o', out, '-q']);
  chmodSync(locked, 0o755);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /skipping .*not valid UTF-8/);
  assert.match(r.stderr, /skipped (1 folder that could not be read and )?2 files whose name is not valid UTF-8 \(see above\): not in /);
  assert.equal(readLines(out).map((l) => path.basename(l.file)).sort(), ['a.jpg', 'b.jpg', 'c.jpg', ...(root_ ? ['d.jpg'] : [])].sort());
  // Through a glob the same: skipped with the warning (not a "file not found" line under a mangled name).
  for (const pattern of ['photos/2024/*.jpg', 'photos/2024/*', 'photos/**', 'photos/*/?.jpg']) {
    const w = [];
    const sk = { folders: 0, names: 0 };
    const got = expandInputs([path.join(dir, pattern)], (m) => w.push(m), sk);
    assert.ok(got.every((f) => !f.includes('\uFFFD')), `${pattern}: ${got}`);
    assert.ok(got.some((f) => path.basename(f) === 'a.jpg'), pattern);
    assert.is(sk.names, 2, `${pattern}: ${w.join('\n')}`);
    assert.ok(w.some((m) => /not valid UTF-8 \(bytes ff2e6a7067\)/.test(m)), w.join('\n'));
  }
  // A pattern the names would not match says nothing about them.
  const w = [];
  const sk = { folders: 0, names: 0 };
  expandInputs([path.join(dir, 'photos/2024/a*')], (m) => w.push(m), sk);
  assert.equal([w, sk.names], [[], 0]);
  const r2 = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'photos/2024/*.jpg'), '-o', path.join(dir, 'r2.jsonl'), '-q']);
  assert.is(r2.code, 2, r2.stderr);
  assert.match(r2.stderr, /skipped 2 files whose name is not valid UTF-8/);
  assert.equal(readLines(path.join(dir, 'r2.jsonl')).map((l) => path.basename(l.file)), ['a.jpg']);
});

test('one image reached by two spellings (through a linked folder or file) is kept once, under the first', async () => {
  const dir = tree();
  const rel = (files) => files.map((f) => path.relative(dir, f));
  const at = (p) => path.join(dir, p);
  symlinkSync('a.jpg', at('photos/2024/alias.jpg')); // a linked file beside its target
  assert.equal(rel(expandInputs([at('archive/2023/b.jpg'), at('photos/2023/b.jpg')])), ['archive/2023/b.jpg']);
  assert.equal(rel(expandInputs([at('photos/2023/b.jpg'), at('archive/2023/b.jpg')])), ['photos/2023/b.jpg']);
  // A folder walk, a glob and a list file over the same files: photos/2023 is archive/2023.
  assert.equal(rel(expandInputs([at('photos'), at('archive')])), ['photos/2023/b.jpg', 'photos/2023/deep/c.jpg', 'photos/2024/a.jpg']);
  assert.equal(rel(expandInputs([at('archive/**/*.jpg'), at('photos/2023/*.jpg'), at('photos/2024/alias.jpg')])), ['archive/2023/b.jpg', 'archive/2023/deep/c.jpg', 'photos/2024/alias.jpg']);
  writeFileSync(at('list.txt'), 'photos/2024/alias.jpg\narchive/2023/deep/c.jpg\nphotos/./2023/deep/../deep/c.jpg\nphotos/missing.jpg\n');
  assert.equal(rel(expandInputs([at('list.txt'), at('photos')])), ['photos/2024/alias.jpg', 'archive/2023/deep/c.jpg', 'photos/missing.jpg', 'photos/2023/b.jpg']);
  // One result line, under the spelling given first.
  const out = at('r.jsonl');
  const r = await fakeSotr(['predict', '-m', 'fake', '-i', 'archive/2023/b.jpg', 'photos/2023/b.jpg', '-o', out, '-q'], { cwd: dir });
  assert.is(r.code, 0, r.stderr);
  assert.equal(readLines(out).map((l) => l.file), ['archive/2023/b.jpg']);
  // A resume that names it the other way (through the linked folder) skips it; a new image is done.
  const r2 = await fakeSotr(['predict', '-m', 'fake', '-i', 'photos/2023/b.jpg', 'photos/2023/deep/c.jpg', '-o', out, '-q'], { cwd: dir });
  assert.is(r2.code, 0, r2.stderr);
  assert.equal(readLines(out).map((l) => l.file), ['archive/2023/b.jpg', 'photos/2023/deep/c.jpg']);
});

test("a list's '#' lines are comments; a file named '#...' is listed as ./#name.jpg (or any path not starting with '#')", async () => {
  const dir = tree();
  copyFileSync(jpg, path.join(dir, 'photos/2024/#tagged.jpg'));
  const list = path.join(dir, 'photos', 'list.txt');
  writeFileSync(list, '# a comment\n#2024/a.jpg\n  # indented comment\n./2024/#tagged.jpg\n2024/a.jpg\n');
  assert.equal(expandInputs([list]).map((f) => path.relative(dir, f)), ['photos/2024/#tagged.jpg', 'photos/2024/a.jpg']);
  // From stdin, relative to the working folder: './#tagged.jpg' there.
  const out = path.join(dir, 'r.jsonl');
  const r = await fakeSotr(['predict', '-m', 'fake', '-i', '-', '-o', out, '-q'], {
    cwd: path.join(dir, 'photos/2024'),
    onSpawn: (child) => child.stdin.end('#tagged.jpg\n./#tagged.jpg\n'),
  });
  assert.is(r.code, 0, r.stderr);
  assert.equal(readLines(out).map((l) => path.basename(l.file)), ['#tagged.jpg']);
});

test("a list's lines are trimmed, unless the line as written names a file (a name that begins or ends with a space)", () => {
  const dir = tree();
  copyFileSync(jpg, path.join(dir, 'photos/2024/ spaced .jpg'));
  const list = path.join(dir, 'photos', 'list.txt');
  // A stray space after a.jpg, a tab before it; the spaced name as it is; and trimmed, which names nothing.
  writeFileSync(list, '2024/a.jpg \n\t2024/a.jpg\n2024/ spaced .jpg\r\n2024/b.jpg\n');
  const got = expandInputs([list]).map((f) => path.relative(dir, f));
  assert.equal(got, ['photos/2024/a.jpg', 'photos/2024/ spaced .jpg', 'photos/2024/b.jpg']);
});

test('a resume with everything done says only "nothing to do"; one failure "carries"', async () => {
  const dir = tree();
  writeFileSync(path.join(dir, 'photos/2024/bad.jpg'), 'not a jpeg');
  const out = path.join(dir, 'r.jsonl');
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'photos'), '-o', out]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /1 image failed; its line in \S+ carries "error"/);
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'photos'), '-o', out]);
  assert.match(r.stderr, /nothing to do/);
  assert.not.match(r.stderr, /resuming/);
  // The same through the linked folder's target: nothing to do, and the failure (found by its real path) still counts.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'archive'), path.join(dir, 'photos/2024'), '-o', out]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /nothing to do/);
});

test.run();
