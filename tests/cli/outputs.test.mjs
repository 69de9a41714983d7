// `sotr predict`'s output files (stand-in model, helpers/fake-cli.mjs): what --out may be, what is modified when,
// and that no output of a run can destroy another file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fakeSotr, imageFolder, readLines } from './helpers/run.mjs';

test('--out naming a file that is not a results file: refused, the file left as it was', async () => {
  const { dir, images } = imageFolder();
  const img = path.join(images, 'street.jpg');
  const files = {
    'instances.json': JSON.stringify({ images: [{ id: 1, file_name: 'x.jpg' }], annotations: [], categories: [] }, null, 1) + '\n',
    'one-line.json': JSON.stringify({ images: [] }),
    'notes.txt': 'my notes\nline two\n',
    'no-newline.txt': 'my notes',
  };
  for (const [name, text] of Object.entries(files)) {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    for (const extra of [[], ['--overwrite']]) {
      const r = await fakeSotr(['predict', '-m', 'fake', '-i', img, '-o', f, '-q', ...extra]);
      assert.is(r.code, 1, `${name} ${extra}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`--out .*${name.replace('.', '\\.')} is not a results file`));
      assert.is(readFileSync(f, 'utf8'), text, `${name} untouched`);
      assert.not.ok(existsSync(`${f}.settings.json`));
    }
  }
  // An empty file, or a lone torn line of ours, is a results file to start.
  const empty = path.join(dir, 'empty.jsonl');
  writeFileSync(empty, '');
  assert.is((await fakeSotr(['predict', '-m', 'fake', '-i', img, '-o', empty, '-q'])).code, 0);
  const torn = path.join(dir, 'torn.jsonl');
  writeFileSync(torn, `{"file":"${img}","wid`);
  const r = await fakeSotr(['predict', '-m', 'fake', '-i', img, '-o', torn]);
  assert.is(r.code, 0, r.stderr);
  assert.is(readLines(torn).length, 1);
});

test('a refused resume leaves the torn last line and bad lines as they were; only the torn last line is ever cut', async () => {
  const { dir, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const list = path.join(dir, 'list.txt');
  writeFileSync(list, 'images/street.jpg\nimages/table.jpg\n');
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '-q']);
  assert.is(r.code, 0, r.stderr);
  appendFileSync(out, 'a note someone added\n{"file":"x');
  const before = readFileSync(out, 'utf8');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--score-threshold', '0.5']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /other settings/);
  assert.not.match(r.stderr, /removed a torn/);
  assert.is(readFileSync(out, 'utf8'), before, 'nothing modified by a refused run');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /removed a torn last line \(10 bytes\)/);
  assert.match(r.stderr, /ignoring 1 line that is not a valid result \(line 3\)/);
  const text = readFileSync(out, 'utf8');
  assert.ok(text.startsWith(before.slice(0, -10)), 'the complete lines kept, the bad one included');
  assert.is(text.split('\n').filter(Boolean).length, 7);
});


test('--overwrite that fails at the model load, or is killed while it loads: the record still describes the results', async () => {
  const { dir, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const list = path.join(dir, 'list.txt');
  writeFileSync(list, 'images/street.jpg\nimages/table.jpg\n');
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '-q', '--min-score', '0.5']);
  assert.is(r.code, 0, r.stderr);
  const results = readFileSync(out, 'utf8');
  const record = readFileSync(`${out}.settings.json`, 'utf8');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '-q', '--overwrite', '--classes', 'bogus']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /no class bogus/);
  assert.is(readFileSync(out, 'utf8'), results);
  assert.is(readFileSync(`${out}.settings.json`, 'utf8'), record);
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '-q', '--overwrite'], {
    env: { FAKE_LOAD_MS: '3000' },
    onSpawn: (child) => setTimeout(() => child.kill('SIGKILL'), 1000),
  });
  assert.is(r.signal, 'SIGKILL');
  assert.is(readFileSync(out, 'utf8'), results);
  assert.is(readFileSync(`${out}.settings.json`, 'utf8'), record);
  // Resuming with the new settings is still refused.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '-q']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /--min-score 0 \(the file: 0\.5\)/);
});


test('two outputs on one path (or an output over --image-ids or an input image): refused, nothing written', async () => {
  const { dir, images } = imageFolder();
  const img = path.join(images, 'street.jpg');
  const out = path.join(dir, 'r.jsonl');
  const ids = path.join(dir, 'ids.json');
  writeFileSync(ids, JSON.stringify({ 'street.jpg': 1 }));
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', img, '-o', out, '-q']);
  assert.is(r.code, 0, r.stderr);
  const results = readFileSync(out, 'utf8');
  const cases = [
    [['--coco', out], /--out and --coco are the same path/],
    [['--coco', path.join(dir, '.', 'sub', '..', 'r.jsonl')], /--out and --coco are the same path/],
    [['--coco', `${out}.settings.json`], /--out's settings record and --coco are the same path/],
    [['--coco', ids, '--image-ids', ids], /--coco and --image-ids are the same path/],
    [['--viz', path.join(dir, 'v'), '--label-maps', path.join(dir, 'v')], /--viz and --label-maps are the same path/],
    [['--coco', img], /--coco is one of the input images/],
  ];
  for (const [args, re] of cases) {
    r = await fakeSotr(['predict', '-m', 'fake', '-i', img, '-o', out, '-q', ...args]);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  assert.is(readFileSync(out, 'utf8'), results);
  assert.equal(JSON.parse(readFileSync(ids, 'utf8')), { 'street.jpg': 1 });
  assert.not.ok(existsSync(path.join(dir, 'v')));
  // Relative and absolute names of one file are one path.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', img, '-o', 'r.jsonl', '--coco', out, '-q'], { cwd: dir });
  assert.is(r.code, 1);
  assert.match(r.stderr, /--out and --coco are the same path/);
});


test('resuming from another working folder: the lines are matched (relative to the first run\'s folder), nothing twice', async () => {
  const { dir, images } = imageFolder();
  const { mkdirSync } = await import('node:fs');
  const sub = path.join(dir, 'work');
  mkdirSync(sub);
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', 'images/street.jpg', 'images/table.jpg', '-o', 'r.jsonl', '-q'], { cwd: dir });
  assert.is(r.code, 0, r.stderr);
  assert.is(JSON.parse(readFileSync(path.join(dir, 'r.jsonl.settings.json'), 'utf8')).base, dir);
  r = await fakeSotr(['predict', '-m', 'fake', '-i', '../images/street.jpg', '../images/table.jpg', '../images/grey.jpg', '-o', '../r.jsonl', '--coco', 'c.json'], { cwd: sub });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /2 of 3 images already in/);
  const lines = readLines(path.join(dir, 'r.jsonl'));
  assert.equal(lines.map((l) => l.file), ['images/street.jpg', 'images/table.jpg', 'images/grey.jpg'], 'relative to the first folder');
  assert.is(new Set(JSON.parse(readFileSync(path.join(sub, 'c.json'), 'utf8')).map((d) => d.image_id)).size, 3);
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(images, 'grey.jpg'), '-o', path.join(dir, 'r.jsonl')], { cwd: images });
  assert.match(r.stderr, /nothing to do/);
  // A record from before `base` (an older version's): relative to the working folder, as then.
  const rec = JSON.parse(readFileSync(path.join(dir, 'r.jsonl.settings.json'), 'utf8'));
  delete rec.base;
  writeFileSync(path.join(dir, 'r.jsonl.settings.json'), JSON.stringify(rec));
  r = await fakeSotr(['predict', '-m', 'fake', '-i', 'images/grey.jpg', '-o', 'r.jsonl'], { cwd: dir });
  assert.match(r.stderr, /nothing to do/);
});


test('resuming a results file moved with its images (a renamed or copied project folder): matched where they are now, nothing twice', async () => {
  const { dir } = imageFolder();
  const { mkdirSync, renameSync, cpSync } = await import('node:fs');
  mkdirSync(path.join(dir, 'project', 'out'), { recursive: true });
  renameSync(path.join(dir, 'images'), path.join(dir, 'project', 'images'));
  const first = path.join(dir, 'project');
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', 'images/street.jpg', 'images/table.jpg', '-o', 'out/r.jsonl', '-q'], { cwd: first });
  assert.is(r.code, 0, r.stderr);
  const rec = JSON.parse(readFileSync(path.join(first, 'out', 'r.jsonl.settings.json'), 'utf8'));
  assert.is(rec.base, first);
  assert.is(rec.baseFromOut, '..');
  // Renamed: the record's base is gone; from the new folder and from a folder beside the results file.
  const moved = path.join(dir, 'moved');
  renameSync(first, moved);
  mkdirSync(path.join(moved, 'work'));
  r = await fakeSotr(['predict', '-m', 'fake', '-i', '../images/street.jpg', '../images/table.jpg', '../images/grey.jpg', '-o', '../out/r.jsonl'], { cwd: path.join(moved, 'work') });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /2 of 3 images already in/);
  assert.match(r.stderr, new RegExp(`reading its images' paths relative to ${moved.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.equal(readLines(path.join(moved, 'out', 'r.jsonl')).map((l) => l.file), ['images/street.jpg', 'images/table.jpg', 'images/grey.jpg'], 'relative to the same folder, moved');
  assert.is(JSON.parse(readFileSync(path.join(moved, 'out', 'r.jsonl.settings.json'), 'utf8')).base, moved, 'the record follows');
  // Copied: the record's folder still exists but does not hold the inputs given; the copy's own images are matched.
  const copy = path.join(dir, 'copy');
  cpSync(moved, copy, { recursive: true });
  r = await fakeSotr(['predict', '-m', 'fake', '-i', 'images/street.jpg', 'images/table.jpg', 'images/grey.jpg', '-o', 'out/r.jsonl'], { cwd: copy });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /nothing to do/);
  // A record from before `baseFromOut`, moved: the working folder is tried too.
  const rec2 = JSON.parse(readFileSync(path.join(copy, 'out', 'r.jsonl.settings.json'), 'utf8'));
  delete rec2.baseFromOut;
  rec2.base = path.join(dir, 'gone');
  writeFileSync(path.join(copy, 'out', 'r.jsonl.settings.json'), JSON.stringify(rec2));
  r = await fakeSotr(['predict', '-m', 'fake', '-i', 'images/grey.jpg', '-o', 'out/r.jsonl'], { cwd: copy });
  assert.match(r.stderr, /nothing to do/);
});


test('--coco takes each image\'s last line (a retried failure written again)', async () => {
  const { dir, images } = imageFolder();
  const bad = path.join(images, 'truncated.jpg');
  const out = path.join(dir, 'r.jsonl');
  const coco = path.join(dir, 'c.json');
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--coco', coco, '-q']);
  assert.is(r.code, 2, r.stderr);
  const firstIds = new Set(JSON.parse(readFileSync(coco, 'utf8')).map((d) => d.image_id));
  // The truncated image repaired, then retried: its second line has instances, its first an error.
  writeFileSync(bad, readFileSync(path.join(images, 'street.jpg')));
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--coco', coco, '--retry-errors', '-q']);
  const lines = readLines(out);
  assert.is(lines.filter((l) => l.file.endsWith('truncated.jpg')).length, 2);
  const dets = JSON.parse(readFileSync(coco, 'utf8'));
  const ids = new Set(dets.map((d) => d.image_id));
  assert.is(ids.size, firstIds.size + 1, 'the retried image counted once, with its instances');
  const last = lines.filter((l) => l.file.endsWith('truncated.jpg')).at(-1);
  assert.ok(last.instances.length > 0);
  assert.is(dets.length, lines.filter((l, i) => !l.error && lines.findLastIndex((m) => m.file === l.file) === i).reduce((a, l) => a + l.instances.length, 0));
});


test('--coco reads the results once: an image written again has its earlier records cut out (the first ones too)', async () => {
  const { mkdtempSync, readdirSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { writeCocoResults } = await import('../../dist/cli/coco.js');
  const dir = mkdtempSync(path.join(tmpdir(), 'sotr-coco-'));
  let k = 0;
  const inst = (n) => Array.from({ length: n }, () => ({ label: 0, class: 'person', category_id: 1, score: (++k % 7) / 8, bbox: [k, 0, 1, 1], area: 1, segmentation: { size: [2, 2], counts: `${k}` } }));
  const lines = [
    { file: 'a/1.jpg', instances: inst(2) }, // replaced below: the first records written are cut
    { file: 'b/2.jpg', instances: inst(3) }, // replaced by an error line: none of it kept
    'not json',
    { file: 'c/3.jpg', instances: inst(1) },
    { file: 'a/1.jpg', instances: inst(1) },
    { file: 'b/2.jpg', error: 'inference failed', error_kind: 'model' },
    { file: 'd/4.jpg', instances: [] }, // an image without instances
    { file: './e/5.jpg', instances: inst(2) }, // the same image as e/5.jpg
    { file: 'z/26.jpg', instances: inst(1) }, // not in the ids map below
    { file: 'e/5.jpg', instances: inst(2) },
  ];
  const results = path.join(dir, 'r.jsonl');
  const write = (ls) => writeFileSync(results, ls.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  // What it must give: each image's last line, in the order of those lines.
  const want = (ls, keep = () => true) => {
    const last = new Map();
    for (const l of ls) if (typeof l !== 'string') last.delete(path.resolve(dir, l.file)), last.set(path.resolve(dir, l.file), l);
    return [...last.values()]
      .filter((l) => l.instances && keep(l))
      .flatMap((l) => l.instances.map((i) => ({ image_id: Number(/(\d+)\.jpg$/.exec(l.file)[1]), category_id: i.category_id, segmentation: i.segmentation, score: i.score, bbox: i.bbox })));
  };
  const coco = path.join(dir, 'c.json');
  write(lines);
  const parse = JSON.parse;
  let parses = 0;
  JSON.parse = (...a) => (parses++, parse(...a));
  let r;
  try {
    r = await writeCocoResults(results, coco, undefined, { base: dir });
  } finally {
    JSON.parse = parse;
  }
  assert.is(parses, lines.length, 'each line parsed once (the two-pass reading parsed each twice)');
  assert.equal(JSON.parse(readFileSync(coco, 'utf8')), want(lines));
  assert.equal(r, { images: 5, detections: 5, unmapped: [] });
  assert.ok(readFileSync(coco, 'utf8').startsWith('[\n{"image_id":3,'), 'the first record kept follows the [ without a comma');
  const ids = new Map([['1.jpg', 1], ['3.jpg', 3], ['4.jpg', 4], ['5.jpg', 5]]);
  r = await writeCocoResults(results, coco, ids, { base: dir });
  assert.equal(JSON.parse(readFileSync(coco, 'utf8')), want(lines, (l) => !l.file.startsWith('z/')));
  assert.equal(r, { images: 4, detections: 4, unmapped: ['z/26.jpg'] });
  // Nothing to cut: the file as written in the one pass.
  write(lines.slice(2, 5));
  r = await writeCocoResults(results, coco, undefined, { base: dir });
  assert.is(readFileSync(coco, 'utf8'), `[\n${want(lines.slice(2, 5)).map((d) => JSON.stringify(d)).join(',\n')}\n]\n`);
  assert.equal(r, { images: 2, detections: 2, unmapped: [] });
  write(lines.slice(0, 2).concat([{ file: 'a/1.jpg', instances: [] }, lines[5]])); // every record cut
  r = await writeCocoResults(results, coco, undefined, { base: dir });
  assert.is(readFileSync(coco, 'utf8'), '[\n]\n');
  assert.equal(r, { images: 1, detections: 0, unmapped: [] });
  assert.equal(readdirSync(dir).sort(), ['c.json', 'r.jsonl'], 'no temporary file left');
});


test('--viz / --label-maps names never collide: same stem with other extensions, the same path under ../ and ../../', async () => {
  const { dir, images } = imageFolder();
  const { mkdirSync, copyFileSync, readdirSync } = await import('node:fs');
  for (const d of ['d', 'x/data', 'data', 'x/work']) mkdirSync(path.join(dir, d), { recursive: true });
  const cp = (from, to) => copyFileSync(path.join(images, from), path.join(dir, to));
  cp('street.jpg', 'd/a.jpg');
  cp('table.jpg', 'd/a.jpeg'); // both overlays would be a.jpg
  cp('grey.jpg', 'd/b.jpg');
  cp('portrait.png', 'd/b.png'); // both label maps would be b.png
  cp('street.jpg', 'x/data/c.jpg');
  cp('table.jpg', 'data/c.jpg'); // ../data/c.jpg and ../../data/c.jpg were both data__c
  const r = await fakeSotr(['predict', '-m', 'fake', '-i', '../../d', '../data/c.jpg', '../../data/c.jpg', '-o', 'r.jsonl', '--viz', 'viz', '--label-maps', 'lm', '-q'], {
    cwd: path.join(dir, 'x', 'work'),
  });
  assert.is(r.code, 0, r.stderr);
  const viz = readdirSync(path.join(dir, 'x', 'work', 'viz')).sort();
  const lm = readdirSync(path.join(dir, 'x', 'work', 'lm')).sort();
  assert.equal(viz, ['a.jpeg.jpg', 'a.jpg', 'b.jpg', 'b.png', 'up__data__c.jpg', 'up__up__data__c.jpg'].map((n) => (n.startsWith('a.') ? `up__up__d__${n}` : n)).sort());
  assert.equal(lm, ['up__up__d__a.jpeg.png', 'up__up__d__a.jpg.png', 'up__up__d__b.jpg.png', 'up__up__d__b.png', 'up__data__c.jpg.png', 'up__up__data__c.jpg.png'].sort());
});


test('an image keeps the output names its line records: a later run given more images (both folders) finds its overlay', async () => {
  const { dir, images } = imageFolder();
  const { mkdirSync, copyFileSync, readdirSync } = await import('node:fs');
  for (const d of ['a', 'b', 'c']) mkdirSync(path.join(dir, d));
  copyFileSync(path.join(images, 'street.jpg'), path.join(dir, 'a', 'x.jpg'));
  copyFileSync(path.join(images, 'table.jpg'), path.join(dir, 'b', 'x.jpg'));
  copyFileSync(path.join(images, 'grey.jpg'), path.join(dir, 'c', 'x.jpg'));
  const run = (...inputs) => fakeSotr(['predict', '-m', 'fake', '-i', ...inputs, '-o', 'r.jsonl', '--viz', 'viz', '--label-maps', 'lm'], { cwd: dir });
  let r = await run('a');
  assert.is(r.code, 0, r.stderr);
  assert.equal(readLines(path.join(dir, 'r.jsonl')).map((l) => [l.viz, l.label_map]), [['x.jpg', 'x.png']]);
  r = await run('b'); // meets a/x.jpg: named by path, a's left as it is
  assert.is(r.code, 0, r.stderr);
  // Both folders: a/x.jpg keeps x.jpg (it was redone once here before: the names were worked out over both anew).
  r = await run('a', 'b');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /nothing to do/);
  assert.not.match(r.stderr, /redone/);
  r = await run('a', 'b', 'c');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /2 of 3 images already in/);
  assert.equal(readdirSync(path.join(dir, 'viz')).sort(), ['b__x.jpg', 'c__x.jpg', 'x.jpg']);
  assert.equal(readdirSync(path.join(dir, 'lm')).sort(), ['b__x.jpg.png', 'c__x.jpg.png', 'x.png']);
  const lines = readLines(path.join(dir, 'r.jsonl'));
  assert.equal(lines.map((l) => [l.file, l.viz, l.label_map]), [
    ['a/x.jpg', 'x.jpg', 'x.png'],
    ['b/x.jpg', 'b__x.jpg', 'b__x.jpg.png'],
    ['c/x.jpg', 'c__x.jpg', 'c__x.jpg.png'],
  ]);
  // A deleted overlay is made again under its recorded name; a line naming a path (edited by hand) is not trusted.
  const { rmSync } = await import('node:fs');
  rmSync(path.join(dir, 'viz', 'b__x.jpg'));
  writeFileSync(path.join(dir, 'r.jsonl'), readFileSync(path.join(dir, 'r.jsonl'), 'utf8').replace('"viz":"c__x.jpg"', '"viz":"../c__x.jpg"'));
  r = await run('a', 'b', 'c');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /1 image of r\.jsonl redone/);
  assert.equal(readdirSync(path.join(dir, 'viz')).sort(), ['b__x.jpg', 'c__x.jpg', 'x.jpg']);
  assert.not.ok(readdirSync(dir).includes('c__x.jpg'));
});

test('--coco image ids: a clash (with an image already in the file too) or an image --image-ids lacks is refused before the run', async () => {
  const { dir, images } = imageFolder();
  const { mkdirSync, copyFileSync, readdirSync } = await import('node:fs');
  mkdirSync(path.join(dir, 'in', 'x'), { recursive: true });
  mkdirSync(path.join(dir, 'in', 'y'));
  copyFileSync(path.join(images, 'street.jpg'), path.join(dir, 'in', 'x', '1.jpg'));
  copyFileSync(path.join(images, 'table.jpg'), path.join(dir, 'in', 'y', '1.jpg'));
  copyFileSync(path.join(images, 'grey.jpg'), path.join(dir, 'in', 'frame5.jpg'));
  const out = path.join(dir, 'r.jsonl');
  const coco = path.join(dir, 'c.json');
  const ids = path.join(dir, 'ids.json');
  writeFileSync(ids, JSON.stringify({ '1.jpg': 7 }));
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'in', 'x'), path.join(dir, 'in', 'y'), '-o', out, '--coco', coco, '-q']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /image id 1 is shared by .*x\/1\.jpg and .*y\/1\.jpg; pass --image-ids/);
  assert.not.ok(existsSync(out), 'refused before the run');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'in', 'x'), path.join(dir, 'in', 'y'), '-o', out, '--coco', coco, '--image-ids', ids, '-q']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /image id 7 is shared by .*; --image-ids .*ids\.json gives both the same id/);
  assert.not.match(r.stderr, /pass --image-ids/);
  // With a map, an image not in it gets no guessed id (frame5 would be image 5).
  writeFileSync(ids, JSON.stringify({ images: [{ id: 5, file_name: 'street.jpg' }, { id: 9, file_name: '1.jpg' }] }));
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'in', 'x'), path.join(dir, 'in', 'frame5.jpg'), '-o', out, '--coco', coco, '--image-ids', ids, '-q']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /1 image is not in --image-ids .*: .*frame5\.jpg/);
  assert.not.ok(existsSync(out));
  // An earlier run's image in the file (another folder) counts too: refused before the run, nothing written, no
  // temporary file, no stack.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'in', 'x'), path.join(dir, 'in', 'frame5.jpg'), '-o', out, '-q']);
  assert.is(r.code, 0, r.stderr);
  const before = readFileSync(out, 'utf8');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'in', 'y'), '-o', out, '--coco', coco, '-q']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /image id 1 is shared by .*x\/1\.jpg \(in the results file already\) and .*y\/1\.jpg/);
  assert.not.match(r.stderr, /ERR_STREAM|unexpected error|\n {4}at /);
  assert.is(readFileSync(out, 'utf8'), before, 'refused before the run');
  assert.equal(readdirSync(dir).filter((f) => f.startsWith('c.json')), []);
  // The same image again (resumed, or redone as a retried failure) is no clash with itself.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'in', 'x'), '-o', out, '--coco', coco, '-q']);
  assert.is(r.code, 0, r.stderr);
  // ... and an earlier image --image-ids lacks is left out of --coco, with a warning and exit 1.
  const out2 = path.join(dir, 'r2.jsonl');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'in', 'frame5.jpg'), '-o', out2, '-q']);
  assert.is(r.code, 0, r.stderr);
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, 'in', 'x'), '-o', out2, '--coco', coco, '--image-ids', ids, '-q']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /left out 1 image of .* that is not in --image-ids: .*frame5\.jpg/);
  assert.equal([...new Set(JSON.parse(readFileSync(coco, 'utf8')).map((d) => d.image_id))], [9]);
});


test('stdout closed by its reader (| head): predict --out - stops quietly, eval ends quietly', async () => {
  const { dir, images } = imageFolder();
  const closeEarly = (child) => child.stdout.once('data', () => child.stdout.destroy());
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', '-', '--batch', '1'], { cwd: dir, env: { FAKE_DELAY_MS: '300' }, onSpawn: closeEarly });
  assert.is(r.code, 130, r.stderr);
  assert.not.match(r.stderr, /EPIPE|Unhandled|\n {4}at /);
  const done = Number(/(\d+) images? in /.exec(r.stderr)?.[1]);
  assert.ok(done < 6, `stopped early: ${done} images\n${r.stderr}`);
  const { sotr } = await import('./helpers/run.mjs');
  const gt = path.join(dir, 'gt.json');
  writeFileSync(gt, JSON.stringify({ images: [{ id: 1, file_name: 'a.jpg', width: 4, height: 4 }], annotations: [], categories: [{ id: 1, name: 'a' }] }));
  const res = path.join(dir, 'res.json');
  writeFileSync(res, JSON.stringify([{ image_id: 1, category_id: 1, score: 0.5, bbox: [0, 0, 2, 2] }]));
  r = await sotr(['eval', '--gt', gt, '--results', res, '--iou', 'bbox'], { onSpawn: closeEarly });
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /EPIPE|Unhandled|\n {4}at /);
});


test('outputs that cannot be written: usage errors before the run naming the option; a failed overlay makes the exit code 2', async () => {
  const { dir, images } = imageFolder();
  const { mkdirSync } = await import('node:fs');
  const img = path.join(images, 'street.jpg');
  const afile = path.join(dir, 'afile');
  writeFileSync(afile, 'x');
  const out = path.join(dir, 'r.jsonl');
  const cases = [
    [['-o', path.join(afile, 'r.jsonl')], /--out .*afile\/r\.jsonl: .*afile is not a folder/],
    [['-o', out, '--coco', path.join(afile, 'sub', 'c.json')], /--coco .*: .*afile is not a folder/],
    [['-o', out, '--viz', path.join(afile, 'viz')], /--viz .*: .*afile is not a folder/],
    [['-o', out, '--label-maps', path.join(afile, 'lm')], /--label-maps .*: .*afile is not a folder/],
  ];
  if (process.platform === 'linux') {
    cases.push([['-o', '/proc/sotr-test.jsonl'], /--out \/proc\/sotr-test\.jsonl: cannot write in \/proc/]);
    cases.push([['-o', out, '--viz', '/proc/sotr-viz'], /--viz \/proc\/sotr-viz: cannot write in \/proc/]);
  }
  for (const [args, re] of cases) {
    const r = await fakeSotr(['predict', '-m', 'fake', '-i', img, '-q', ...args]);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.not.match(r.stderr, /EEXIST|partial|\.tmp/);
  }
  assert.not.ok(existsSync(out));
  // An overlay that fails (its name taken by a folder): the image's line is fine, the exit code is not 0.
  mkdirSync(path.join(dir, 'viz', 'street.jpg'), { recursive: true });
  const r = await fakeSotr(['predict', '-m', 'fake', '-i', img, path.join(images, 'table.jpg'), '-o', out, '--viz', path.join(dir, 'viz')]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /--viz .*street\.jpg: /);
  assert.match(r.stderr, /1 overlay or label map could not be written/);
  assert.ok(existsSync(path.join(dir, 'viz', 'table.jpg')));
  assert.is(readLines(out).length, 2);
});


test('--limit-input-pixels: an image above it is an error line naming the limit, not decoded; 0 is no limit; bad values are usage errors', async () => {
  const { dir, images, good } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  // street.jpg is the largest example; a limit just below it refuses it alone.
  const sharp = (await import('sharp')).default;
  const sizes = Object.fromEntries(await Promise.all(good.map(async (f) => [f, await sharp(path.join(images, f)).metadata()])));
  const pixels = (f) => sizes[f].width * sizes[f].height;
  const biggest = good.reduce((a, f) => (pixels(f) > pixels(a) ? f : a));
  const limit = pixels(biggest) - 1;
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', ...good.map((f) => path.join(images, f)), '-o', out, '-q', '--limit-input-pixels', String(limit)]);
  assert.is(r.code, 2, r.stderr);
  const lines = readLines(out);
  assert.is(lines.length, good.length);
  for (const l of lines) {
    if (l.file.endsWith(biggest)) {
      assert.is(l.error_kind, 'image');
      assert.match(l.error, new RegExp(`exceeds limitInputPixels \\(${limit} pixels\\)`));
    } else assert.is(l.error, undefined, l.file);
  }
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(images, biggest), '-o', out, '-q', '--overwrite', '--limit-input-pixels', '0']);
  assert.is(r.code, 0, r.stderr);
  for (const bad of ['-1', '1.5', 'lots']) {
    r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, `--limit-input-pixels=${bad}`]);
    assert.is(r.code, 1, bad);
    assert.match(r.stderr, /--limit-input-pixels must be/);
  }
});

test('SIGTERM / Ctrl-C while the model loads: exit 130 at once, nothing written', async () => {
  const { dir, images } = imageFolder();
  for (const signal of ['SIGTERM', 'SIGINT']) {
    const out = path.join(dir, `${signal}.jsonl`);
    const t0 = Date.now();
    const r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out], {
      env: { FAKE_LOAD_MS: '5000' },
      onSpawn: (child) => setTimeout(() => child.kill(signal), 800),
    });
    assert.is(r.code, 130, `${signal}: ${r.code} ${r.signal} ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`interrupted \\(${signal}\\) while the model loaded`));
    assert.ok(Date.now() - t0 < 4000, 'at once');
    assert.not.ok(existsSync(out));
    assert.not.ok(existsSync(`${out}.settings.json`));
  }
});

test('a --model file that is not there, on an existing --out: "not found", not a settings difference', async () => {
  const { dir, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(images, 'street.jpg'), '-o', out, '-q']);
  assert.is(r.code, 0, r.stderr);
  const { sotr } = await import('./helpers/run.mjs');
  r = await sotr(['predict', '-m', path.join(dir, 'missing.pth'), '-i', images, '-o', out, '-q']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /checkpoint not found: .*missing\.pth/);
  assert.not.match(r.stderr, /other settings/);
});

test.run();
