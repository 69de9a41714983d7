// `sotr predict`'s pipeline with a stand-in model (helpers/fake-cli.mjs): one line per image, unreadable images
// as error lines, exit codes, resume after a killed run with a torn last line, Ctrl-C, COCO output, overlays.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fakeSotr, imageFolder, readLines, checkInstance } from './helpers/run.mjs';

const byFile = (lines) => new Map(lines.map((l) => [path.basename(l.file), l]));

test('one line per image; unreadable images are error lines; exit 2; overlays and COCO written', async () => {
  const { dir, images, good, bad } = imageFolder();
  const out = path.join(dir, 'out', 'r.jsonl');
  const coco = path.join(dir, 'out', 'coco.json');
  const viz = path.join(dir, 'out', 'viz');
  const r = await fakeSotr(['predict', '--model', 'fake', '--input', images, '--out', out, '--coco', coco, '--viz', viz]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /2 images failed; their lines/);
  const lines = readLines(out);
  assert.is(lines.length, good.length + bad.length);
  const m = byFile(lines);
  for (const f of bad) {
    assert.type(m.get(f).error, 'string', f);
    assert.match(m.get(f).error, /cannot decode/);
  }
  for (const f of good) {
    const l = m.get(f);
    assert.is(l.error, undefined, `${f}: ${l.error}`);
    assert.ok(l.width > 0 && l.height > 0);
    assert.is(l.instances.length, 2);
    for (const inst of l.instances) checkInstance(assert, inst, l.width, l.height);
  }
  // Overlays: one per good image, decodable, the image's size.
  const sharp = (await import('sharp')).default;
  const vizFiles = readdirSync(viz).sort();
  assert.equal(vizFiles, ['grey.jpg', 'portrait.png', 'street.jpg', 'table.jpg']);
  const meta = await sharp(path.join(viz, 'portrait.png')).metadata();
  assert.is(meta.width, m.get('portrait.png').width);
  // COCO results: an array of {image_id, category_id, segmentation, score, bbox}.
  const res = JSON.parse(readFileSync(coco, 'utf8'));
  assert.is(res.length, 2 * good.length);
  for (const d of res) {
    assert.equal(Object.keys(d).sort(), ['bbox', 'category_id', 'image_id', 'score', 'segmentation']);
    assert.type(d.image_id, 'string'); // no number in these names
    assert.ok(Number.isInteger(d.category_id) && d.category_id >= 1);
    assert.type(d.segmentation.counts, 'string');
    assert.is(d.segmentation.size.length, 2);
    assert.is(d.bbox.length, 4);
  }
});

test('a rerun skips what is done (exit code from the whole set); --overwrite starts again', async () => {
  const { dir, images, good } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const list = path.join(dir, 'list.txt');
  writeFileSync(list, `# good images only\n${good.map((f) => path.join('images', f)).join('\n')}\n`);
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '-q']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '', 'quiet');
  const size = statSync(out).size;
  r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out]);
  assert.is(r.code, 0);
  assert.match(r.stderr, /nothing to do: all 4 images/);
  assert.is(statSync(out).size, size, 'nothing appended');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out]);
  assert.is(r.code, 2, 'the two bad images of the folder fail');
  assert.is(readLines(out).length, 6);
  r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out]);
  assert.is(r.code, 0, 'the list holds good images only');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '--overwrite', '-q']);
  assert.is(r.code, 0);
  assert.is(readLines(out).length, 4);
});

test('resuming with other settings is refused (they are recorded beside the results); --allow-mixed-settings, --overwrite', async () => {
  const { dir, images, good } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const list = path.join(dir, 'list.txt');
  writeFileSync(list, `${good.slice(0, 2).map((f) => path.join('images', f)).join('\n')}\n`);
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '-q']);
  assert.is(r.code, 0, r.stderr);
  const record = JSON.parse(readFileSync(`${out}.settings.json`, 'utf8'));
  assert.is(record.scoreThreshold, 0.1);
  assert.is(record.polygons, false);
  // The defaults given explicitly are the same settings.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '--score-threshold', '0.1', '--max-size', '1333']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /nothing to do/);
  // More images, other settings: refused before anything runs, naming each difference.
  const size = statSync(out).size;
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--score-threshold', '0.3', '--polygons']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /holds results made with other settings: --score-threshold 0\.3 \(the file: 0\.1\); --polygons true \(the file: false\)\. Resuming/, 'the epsilon goes with --polygons, not named apart');
  assert.match(r.stderr, /--overwrite starts it again/);
  assert.is(statSync(out).size, size, 'nothing written');
  // Allowed: it resumes, says so, and the record becomes this run's.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--score-threshold', '0.3', '--allow-mixed-settings']);
  assert.is(r.code, 2, r.stderr); // the folder's two unreadable images
  assert.match(r.stderr, /resuming .* with other settings \(--allow-mixed-settings\): --score-threshold 0\.3 \(the file: 0\.1\)/);
  assert.is(readLines(out).length, 6);
  assert.is(JSON.parse(readFileSync(`${out}.settings.json`, 'utf8')).scoreThreshold, 0.3);
  // A results file without a record (an older version's): resumed, with a warning.
  rmSync(`${out}.settings.json`);
  r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /no record of the settings its results were made with/);
  // --overwrite: a new file and a new record.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '--overwrite', '-q', '--polygons']);
  assert.is(r.code, 0, r.stderr);
  assert.is(readLines(out).length, 2);
  assert.is(JSON.parse(readFileSync(`${out}.settings.json`, 'utf8')).polygons, true);
});

test('--nms-kernel / --nms-sigma are recorded; a record from before them reads as the official gaussian, sigma 2', async () => {
  const { dir, good, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const one = path.join(images, good[0]);
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', one, '-o', out, '-q']);
  assert.is(r.code, 0, r.stderr);
  const record = JSON.parse(readFileSync(`${out}.settings.json`, 'utf8'));
  assert.equal([record.nmsKernel, record.nmsSigma], ['gaussian', 2]);
  // An older version's record has neither key: the same settings as the defaults, given or not.
  delete record.nmsKernel;
  delete record.nmsSigma;
  writeFileSync(`${out}.settings.json`, JSON.stringify(record));
  r = await fakeSotr(['predict', '-m', 'fake', '-i', one, '-o', out, '--nms-kernel', 'gaussian', '--nms-sigma', '2']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /nothing to do/);
  // The linear kernel has no sigma: only the kernel is named as differing.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--nms-kernel', 'linear']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /other settings: --nms-kernel linear \(the file: gaussian\)\. Resuming/);
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--nms-sigma', '3']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /other settings: --nms-sigma 3 \(the file: 2\)\. Resuming/);
});

test('--classes is recorded with the settings (sorted, names and labels as given); a record without it means every class', async () => {
  const { dir, good } = imageFolder();
  const out = path.join(dir, 'c.jsonl');
  const list = path.join(dir, 'list.txt');
  writeFileSync(list, `${good.slice(0, 2).map((f) => path.join('images', f)).join('\n')}\n`);
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '-q', '--classes', 'person, car,3,car']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(`${out}.settings.json`, 'utf8')).classes, [3, 'car', 'person']);
  r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '--classes', 'car,person,3']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /nothing to do/, 'the same set in another order');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '--classes', '2,person,3']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /nothing to do/, 'the same set with car as its label (COCO: 2)');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '--classes', 'class_2,class_0,class_3']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /nothing to do/, 'the same set as class_N names');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /--classes \(every class\) \(the file: 3,car,person\)/);
  // A record from before the option: every class.
  const record = JSON.parse(readFileSync(`${out}.settings.json`, 'utf8'));
  delete record.classes;
  writeFileSync(`${out}.settings.json`, JSON.stringify(record));
  r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /nothing to do/);
  for (const bad of ['', 'person,,car', ',']) {
    r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', path.join(dir, 'x.jsonl'), '--classes', bad]);
    assert.is(r.code, 1, bad);
    assert.match(r.stderr, /--classes takes class names or labels separated by commas/);
  }
});

test('--label-maps usage errors: --label-map-values / --label-map-depth alone or unknown, 8 bits for more than 255 instances, a file for the folder', async () => {
  const { dir, good } = imageFolder();
  const img = path.join(dir, 'images', good[0]);
  const o = path.join(dir, 'lm.jsonl');
  const file = path.join(dir, 'a-file');
  writeFileSync(file, 'x');
  const cases = [
    [['--label-map-values', 'label'], /--label-map-values is only used with --label-maps/],
    [['--label-map-depth', '16'], /--label-map-depth is only used with --label-maps/],
    [['--label-maps', path.join(dir, 'm'), '--label-map-values', 'class'], /--label-map-values: 'instance' or 'label'/],
    [['--label-maps', path.join(dir, 'm'), '--label-map-depth', '12'], /--label-map-depth: 8 or 16 \(bits per pixel\), received '12'/],
    [['--label-maps', path.join(dir, 'm'), '--label-map-depth', '8', '--max-per-image', '300'], /--max-per-image 300 needs --label-map-depth 16/],
    [['--label-maps', path.join(dir, 'm'), '--label-map-depth', '8', '--max-per-image', '256'], /--max-per-image 256 needs --label-map-depth 16/],
    [['--label-maps', path.join(dir, 'm'), '--max-per-image', '70000'], /--max-per-image must be 65535 or less/],
    [['--label-maps', file], /--label-maps .* is not a folder/],
  ];
  for (const [args, re] of cases) {
    const r = await fakeSotr(['predict', '-m', 'fake', '-i', img, '-o', o, ...args]);
    assert.is(r.code, 1, args.join(' '));
    assert.match(r.stderr, re);
  }
  // The PNG's bit depth (IHDR byte 24) and colour type (byte 25: 0, grey).
  const ihdr = (png) => { const b = readFileSync(png); return [b[24], b[25]]; };
  const map = path.join(dir, 'm', good[0].replace(/\.[^.]+$/, '.png'));
  // More than 255 instances an image: 16 bits by default; by label, 8 bits hold them.
  for (const [args, want] of [[['--max-per-image', '300'], [16, 0]], [['--max-per-image', '256'], [16, 0]], [['--max-per-image', '255'], [8, 0]], [['--label-map-values', 'label', '--max-per-image', '300'], [8, 0]], [[], [8, 0]]]) {
    const r = await fakeSotr(['predict', '-m', 'fake', '-i', img, '-o', o, '-q', '--overwrite', '--label-maps', path.join(dir, 'm'), ...args]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(ihdr(map), want, args.join(' '));
  }
});

test('--input - reads the paths from stdin (relative to the working folder, written as given); a listed missing file is an error line', async () => {
  const { dir, good } = imageFolder();
  const out = path.join(dir, 'stdin.jsonl');
  const names = [...good.map((f) => path.join('images', f)), path.join('images', good[0]), '# a comment', 'images/missing.jpg'];
  const r = await fakeSotr(['predict', '-m', 'fake', '-i', '-', '-o', out, '-q'], {
    cwd: dir,
    onSpawn: (child) => child.stdin.end(names.join('\n') + '\n'),
  });
  assert.is(r.code, 2, r.stderr); // the missing file
  const lines = readLines(out);
  // As the same paths given on the command line are written (they were made absolute until 2026-11-28).
  assert.equal(lines.map((l) => l.file).sort(), [...good, 'missing.jpg'].map((f) => path.join('images', f)).sort(), 'each once, as given');
  assert.is(lines.find((l) => l.file.endsWith('missing.jpg')).error_kind, 'image');
  // A pipe given as an input (-i <(...); here a named pipe a shell writes) is read the same way; an absolute line
  // stays absolute.
  const fifo = path.join(dir, 'list.fifo');
  assert.is(spawnSync('mkfifo', [fifo]).status, 0);
  const text = `images/${good[1]}\n./images/${good[2]}\n${path.join(dir, 'images', good[3])}\n`;
  const writer = spawn('sh', ['-c', 'printf "%s" "$0" > "$1"', text, fifo]);
  const piped = path.join(dir, 'pipe.jsonl');
  const p = await fakeSotr(['predict', '-m', 'fake', '-i', fifo, '-o', piped, '-q'], { cwd: dir });
  writer.kill();
  assert.is(p.code, 0, p.stderr);
  assert.equal(readLines(piped).map((l) => l.file), [`images/${good[1]}`, `images/${good[2]}`, path.join(dir, 'images', good[3])]);
});

test('--out - writes the JSON Lines to stdout (progress stays on stderr; no file, no record); --coco needs a file', async () => {
  const { dir, images, good, bad } = imageFolder();
  const r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', '-'], { cwd: dir });
  assert.is(r.code, 2, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.is(lines.length, good.length + bad.length);
  assert.is(lines.filter((l) => l.instances).length, good.length);
  assert.match(r.stderr, /images\/s/);
  assert.not.ok(existsSync(path.join(dir, '-')), 'no file named -');
  assert.not.ok(existsSync(path.join(dir, '-.settings.json')));
  const c = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', '-', '--coco', 'c.json'], { cwd: dir });
  assert.is(c.code, 1);
  assert.match(c.stderr, /--coco reads the results back from --out: give --out a file/);
});

test('resume after a killed run: a torn last line is cut off and that image redone, nothing twice', async () => {
  const { dir, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  // Kill -9 once the first line is on disk (the stand-in model takes 400 ms a batch).
  const r1 = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--batch', '1'], {
    env: { FAKE_DELAY_MS: '400' },
    onSpawn: (child) => {
      const t = setInterval(() => {
        if (existsSync(out) && readFileSync(out, 'utf8').includes('\n')) {
          clearInterval(t);
          child.kill('SIGKILL');
        }
      }, 20);
    },
  });
  assert.is(r1.signal, 'SIGKILL');
  const done = readLines(out);
  assert.ok(done.length >= 1 && done.length < 6, `${done.length} lines before the kill`);
  // The crash left half a line behind.
  const next = done.length < 6 ? 'table.jpg' : null;
  appendFileSync(out, `{"file":"${path.join(images, next)}","width":400,"height":30`);
  const r2 = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out]);
  assert.is(r2.code, 2, r2.stderr);
  assert.match(r2.stderr, /removed a torn last line \(\d+ bytes\)/);
  assert.match(r2.stderr, new RegExp(`${done.length} of 6 images already in`));
  const lines = readLines(out);
  assert.is(lines.length, 6, 'every image exactly once');
  assert.is(new Set(lines.map((l) => l.file)).size, 6);
  assert.equal(lines.slice(0, done.length), done, 'earlier lines untouched');
});

for (const signal of ['SIGINT', 'SIGTERM']) {
test(`${signal === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM (docker stop)'} finishes the batch in flight, flushes and exits 130; the rerun completes the set`, async () => {
  const { dir, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const r1 = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--batch', '1', '--coco', path.join(dir, 'c.json')], {
    env: { FAKE_DELAY_MS: '500' },
    onSpawn: (child) => {
      const t = setInterval(() => {
        if (existsSync(out) && readFileSync(out, 'utf8').includes('\n')) {
          clearInterval(t);
          child.kill(signal);
        }
      }, 20);
    },
  });
  assert.is(r1.code, 130, r1.stderr);
  assert.match(r1.stderr, new RegExp(`interrupted \\(${signal}\\)`));
  assert.not.ok(existsSync(path.join(dir, 'c.json')), 'no COCO file from an interrupted run');
  const text = readFileSync(out, 'utf8');
  assert.ok(text.endsWith('\n'), 'no torn line after Ctrl-C');
  const n = readLines(out).length;
  assert.ok(n >= 1 && n < 6, `${n} lines`);
  const r2 = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--coco', path.join(dir, 'c.json'), '-q']);
  assert.is(r2.code, 2);
  assert.is(readLines(out).length, 6);
  assert.ok(existsSync(path.join(dir, 'c.json')));
});
}

test('a second signal exits 130 at once (past process.exit, which can hang: ts/cli/exit_now.ts); --out - lines whole', async () => {
  const { images } = imageFolder();
  let stdout = '';
  let second = 0;
  const r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '--out', '-', '--batch', '1'], {
    env: { FAKE_DELAY_MS: '2000' },
    onSpawn: (child) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        if (stdout.includes('\n') && !child.signalled) {
          child.signalled = true;
          child.kill('SIGINT');
          setTimeout(() => {
            second = Date.now();
            child.kill('SIGINT');
          }, 100);
        }
      });
    },
  });
  assert.is(r.code, 130, r.stderr);
  assert.ok(Date.now() - second < 1500, `exited ${Date.now() - second} ms after the second signal (a model call takes 2000)`);
  assert.match(r.stderr, /interrupted \(SIGINT\): finishing the batch in flight/);
  assert.ok(r.stdout.endsWith('\n'), 'no torn line');
  const n = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).length;
  assert.ok(n >= 1 && n < 6, `${n} lines`);
});

test('COCO image ids: numbers from COCO-style names, or from --image-ids', async () => {
  const { dir, images } = imageFolder();
  const { copyFileSync } = await import('node:fs');
  copyFileSync(path.join(images, 'street.jpg'), path.join(dir, '000000397133.jpg'));
  const out = path.join(dir, 'r.jsonl');
  const coco = path.join(dir, 'c.json');
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, '000000397133.jpg'), path.join(images, 'table.jpg'), '-o', out, '--coco', coco, '-q']);
  assert.is(r.code, 0, r.stderr);
  let ids = new Set(JSON.parse(readFileSync(coco, 'utf8')).map((d) => d.image_id));
  assert.equal([...ids].sort(), [397133, 'table'].sort());
  const map = path.join(dir, 'instances.json');
  writeFileSync(map, JSON.stringify({ images: [{ id: 7, file_name: '000000397133.jpg' }, { id: 8, file_name: 'table.jpg' }] }));
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(dir, '000000397133.jpg'), path.join(images, 'table.jpg'), '-o', out, '--coco', coco, '--image-ids', map, '-q']);
  assert.is(r.code, 0, r.stderr);
  ids = JSON.parse(readFileSync(coco, 'utf8')).map((d) => d.image_id);
  assert.equal([...new Set(ids)].sort(), [7, 8]);
});

test('globs and plain progress lines when stderr is not a terminal', async () => {
  const { dir, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(images, '*.{jpg,png}'), '-o', out]);
  assert.is(r.code, 2);
  assert.is(readLines(out).length, 6);
  assert.match(r.stderr, /images\/s/);
  assert.not.match(r.stderr, /\r|\x1b\[/, 'no bar control codes in a log');
});

test('the results reader: lines across read chunks, a bad line in the middle, garbage after a crash', async () => {
  const { loadJournal, cutTornLine } = await import('../../dist/cli/journal.js');
  const { dir } = imageFolder();
  const f = path.join(dir, 'big.jsonl');
  let text = '';
  for (let i = 0; i < 3000; i++) text += JSON.stringify({ file: `img${i}.jpg`, width: 1, height: 1, instances: [], pad: 'x'.repeat(i % 997) }) + '\n';
  writeFileSync(f, text + '{"file":"torn.jpg","wid');
  let r = loadJournal(f);
  assert.is(r.done.size, 3000);
  assert.is(r.truncatedBytes, 23);
  assert.is(statSync(f).size, Buffer.byteLength(text) + 23, 'reading modifies nothing');
  cutTornLine(f, r);
  assert.is(statSync(f).size, Buffer.byteLength(text));
  writeFileSync(f, text.replace('"img5.jpg",', '"img5.jpg",,') + '\0'.repeat(4096));
  r = loadJournal(f);
  assert.is(r.done.size, 2999);
  assert.equal(r.badLines, [6]);
  assert.is(r.truncatedBytes, 4096);
});

test.run();
