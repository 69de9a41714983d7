// `sotr predict` stopped at awkward moments and on full disks (stand-in model, helpers/fake-cli.mjs): a resume
// makes the overlays and label maps a killed run did not, one process per --out (a lock), Ctrl-C during the COCO
// write or the model's generation, write errors naming the option and the file, temporaries never left behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fakeCli, fakeSotr, imageFolder, readLines } from './helpers/run.mjs';

/** The id of a process that has ended (no process has it now, short of a reuse). */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid;
const partials = (dir) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.includes('.partial-')) : []);

/** Calls `fn` once `file` exists (polled), e.g. to signal the child then. */
function whenExists(file, fn) {
  const t = setInterval(() => {
    if (existsSync(file)) {
      clearInterval(t);
      fn();
    }
  }, 5);
  return t.unref(); // a file that never comes does not hold the test up once the child has ended
}

test('a resume redoes an image whose line was written but not its overlay or label map (a killed run); dead processes\' temporaries go', async () => {
  const { dir, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const viz = path.join(dir, 'viz');
  const lm = path.join(dir, 'lm');
  const coco = path.join(dir, 'c.json');
  const inputs = ['street.jpg', 'table.jpg', 'grey.jpg'].map((f) => path.join(images, f));
  const args = ['predict', '-m', 'fake', '-i', ...inputs, '-o', out, '--viz', viz, '--label-maps', lm, '--coco', coco];
  let r = await fakeSotr([...args, '-q']);
  assert.is(r.code, 0, r.stderr);
  // What a SIGKILL between an image's line and its outputs leaves: the line, no overlay (street), no label map
  // (table), and the killed process's temporaries; a live process's temporary (this one's) is not touched.
  rmSync(path.join(viz, 'street.jpg'));
  rmSync(path.join(lm, 'table.png'));
  const dead = deadPid();
  writeFileSync(path.join(viz, `street.jpg.partial-${dead}`), 'half');
  writeFileSync(path.join(lm, `table.png.partial-${dead}`), 'half');
  writeFileSync(`${coco}.partial-${dead}`, 'half');
  const live = path.join(viz, `other.jpg.partial-${process.pid}`);
  writeFileSync(live, 'being written');
  r = await fakeSotr(args);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /2 images of .*r\.jsonl redone: their --viz \/ --label-maps output was missing/);
  assert.ok(existsSync(path.join(viz, 'street.jpg')) && existsSync(path.join(lm, 'table.png')), 'every output made');
  assert.equal(partials(viz), [path.basename(live)]);
  assert.equal(partials(lm), []);
  assert.equal(partials(dir), []);
  const lines = readLines(out);
  assert.is(lines.length, 5, 'the two redone images have a second line');
  assert.equal(lines.slice(3).map((l) => path.basename(l.file)), ['street.jpg', 'table.jpg']);
  assert.is(JSON.parse(readFileSync(coco, 'utf8')).length, 2 * 3, 'COCO takes each image\'s last line');
  r = await fakeSotr(args);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /nothing to do/);
  assert.not.match(r.stderr, /redone/);
});

test('one process per --out: a second run is refused naming the other\'s pid and the lock; a stale lock is taken over; the lock goes on every exit', async () => {
  const { dir, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const lock = `${out}.lock`;
  let second;
  const r1 = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--batch', '1'], {
    env: { FAKE_DELAY_MS: '300' },
    onSpawn: (child) =>
      whenExists(lock, async () => {
        second = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--score-threshold', '0.5']);
        child.kill('SIGINT');
      }),
  });
  assert.is(second.code, 1, second.stderr);
  assert.match(second.stderr, new RegExp(`--out .*r\\.jsonl is in use by process \\d+ \\(lock file .*r\\.jsonl\\.lock\\)`));
  assert.is(r1.code, 130, r1.stderr);
  assert.not.ok(existsSync(lock), 'removed after Ctrl-C');
  assert.not.match(readFileSync(`${out}.settings.json`, 'utf8'), /"scoreThreshold": 0\.5/);
  // A lock whose process has ended (a SIGKILL) is stale: taken over; the run's end (exit 2) removes it.
  writeFileSync(lock, JSON.stringify({ pid: deadPid(), host: os.hostname(), started: new Date().toISOString() }) + '\n');
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '-q']);
  assert.is(r.code, 2, r.stderr);
  assert.not.ok(existsSync(lock));
  // Another machine's lock (a job restarted in a new container: new host name): refused while it is renewed (the
  // holder touches it every 10 s), taken over once a minute old, so the restarted job is not blocked for good.
  writeFileSync(lock, JSON.stringify({ pid: 4242, host: 'some-other-host', started: new Date().toISOString() }) + '\n');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '-q']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /in use by process 4242 on some-other-host/);
  assert.not.match(r.stderr, /--help' for usage/, 'no usage hint: the options are not the problem');
  const old = new Date(Date.now() - 120_000);
  utimesSync(lock, old, old);
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '-q', '--overwrite']);
  assert.is(r.code, 2, r.stderr);
  assert.not.ok(existsSync(lock));
  // A load that fails (exit 1), and a second signal's immediate exit: no lock left.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '-q', '--overwrite', '--classes', 'bogus']);
  assert.is(r.code, 1, r.stderr);
  assert.not.ok(existsSync(lock));
  const r2 = path.join(dir, 'r2.jsonl');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', r2, '--batch', '1'], {
    env: { FAKE_DELAY_MS: '1500' },
    onSpawn: (child) => {
      // Once the first line is written, the next batch is in flight for 1.5 s: the second signal comes first.
      const t = setInterval(() => {
        if (existsSync(r2) && readFileSync(r2, 'utf8').includes('\n')) {
          clearInterval(t);
          child.kill('SIGINT');
          setTimeout(() => child.kill('SIGINT'), 200);
        }
      }, 20).unref();
    },
  });
  assert.is(r.code, 130, r.stderr);
  assert.not.ok(existsSync(path.join(dir, 'r2.jsonl.lock')));
  // --out -: no file, no lock.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', path.join(images, 'street.jpg'), '-o', '-'], { cwd: dir });
  assert.is(r.code, 0, r.stderr);
  assert.not.ok(readdirSync(dir).some((f) => f.endsWith('.lock')));
});

test('the lock and the settings record go by the file --out names: a link to it (or through a linked folder) finds them', async () => {
  const { dir, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const link = path.join(dir, 'link.jsonl');
  symlinkSync('r.jsonl', link); // dangling until the first run writes r.jsonl through it
  mkdirSync(path.join(dir, 'sub'));
  symlinkSync(dir, path.join(dir, 'sub', 'up'));
  const viaFolder = path.join(dir, 'sub', 'up', 'r.jsonl');
  let second;
  const r1 = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', link, '--batch', '1'], {
    env: { FAKE_DELAY_MS: '300' },
    onSpawn: (child) =>
      whenExists(`${out}.lock`, async () => {
        second = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '-q']);
        const third = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', viaFolder, '-q']);
        assert.is(third.code, 1, third.stderr);
        child.kill('SIGINT');
      }),
  });
  assert.is(r1.code, 130, r1.stderr);
  assert.is(second.code, 1, second.stderr);
  assert.match(second.stderr, /is in use by process \d+ \(lock file .*[/\\]r\.jsonl\.lock\)/);
  assert.ok(lstatSync(link).isSymbolicLink(), 'the link is still a link');
  assert.ok(existsSync(`${out}.settings.json`), 'the record beside the target');
  assert.not.ok(existsSync(`${link}.settings.json`));
  assert.not.ok(existsSync(`${out}.lock`) || existsSync(`${link}.lock`));
  // The record is found through the other name: another --score-threshold is refused there.
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', viaFolder, '-q', '--score-threshold', '0.5']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /other settings: --score-threshold 0\.5/);
  // A record beside the link from before records went by the target: still read (the target's removed).
  renameSync(`${out}.settings.json`, `${link}.settings.json`);
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', link, '-q', '--score-threshold', '0.5']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /other settings: --score-threshold 0\.5/);
});

test('--min-size given on one side only: the same as the checkpoint default resumes; another is refused after the load, nothing written', async () => {
  const { dir, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const list = path.join(dir, 'list.txt');
  writeFileSync(list, 'images/street.jpg\n');
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', list, '-o', out, '-q'], { cwd: dir });
  assert.is(r.code, 0, r.stderr);
  const before = readFileSync(out, 'utf8');
  // The fake model's default short side is 800.
  // (Images to do: a resume with nothing to do loads no model, and writes nothing.)
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--min-size', '640'], { cwd: dir });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /other settings: --min-size 640 \(the file: checkpoint default, 800\)/);
  assert.is(readFileSync(out, 'utf8'), before, 'nothing written');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--min-size', '800', '-q']);
  assert.is(r.code, 2, r.stderr); // the folder's unreadable images
  assert.not.match(r.stderr, /other settings/);
  assert.ok(readLines(out).length > 1);
  // And the other way: a file made with --min-size 800 resumed without it.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '-q', '--retry-errors']);
  assert.is(r.code, 2, r.stderr);
  assert.not.match(r.stderr, /other settings/);
  // --allow-mixed-settings: resumed, with the difference said.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out, '--min-size', '700', '--retry-errors', '--allow-mixed-settings']);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /resuming .* with other settings \(--allow-mixed-settings\): --min-size 700 \(the file: checkpoint default, 800\)/);
});

test('Ctrl-C during the final --coco write: exit 130 with a message, no temporary, the earlier COCO file as it was', async () => {
  const { dir, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const coco = path.join(dir, 'c.json');
  const img = path.join(images, 'street.jpg');
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', img, '-o', out, '-q']);
  assert.is(r.code, 0, r.stderr);
  // ~40 MB of earlier results (the COCO file holds every image of --out): a write long enough to interrupt.
  const counts = 'x'.repeat(20_000);
  const inst = { label: 0, class: 'person', category_id: 1, score: 0.5, bbox: [0, 0, 1, 1], area: 1, segmentation: { size: [10, 10], counts } };
  const chunk = [];
  for (let i = 0; i < 2000; i++) chunk.push(JSON.stringify({ file: `/elsewhere/img${i}.jpg`, width: 10, height: 10, instances: [inst] }));
  appendFileSync(out, chunk.join('\n') + '\n');
  writeFileSync(coco, 'the earlier COCO file\n');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', img, '-o', out, '--coco', coco], {
    onSpawn: (child) => whenExists(`${coco}.partial-${child.pid}`, () => child.kill('SIGINT')),
  });
  assert.is(r.signal, null, 'not ended by the signal');
  assert.is(r.code, 130, r.stderr);
  assert.match(r.stderr, /interrupted \(SIGINT\) while writing .*c\.json/);
  assert.match(r.stderr, /c\.json not written \(the earlier one left as it was\)/);
  assert.equal(partials(dir), []);
  assert.is(readFileSync(coco, 'utf8'), 'the earlier COCO file\n');
  assert.not.ok(existsSync(`${out}.lock`));
});

test('Ctrl-C while the model is written into the cache (--model tiny\'s first use): its temporary goes, exit 130', async () => {
  const { dir, images } = imageFolder();
  const out = path.join(dir, 'r.jsonl');
  const cache = path.join(dir, '.sotr-cache');
  const r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', out], {
    env: { FAKE_LOAD_MS: '5000', FAKE_CACHE_PARTIAL: '1' },
    onSpawn: (child) => whenExists(cache, () => setTimeout(() => child.kill('SIGINT'), 100)),
  });
  assert.is(r.code, 130, r.stderr);
  assert.match(r.stderr, /interrupted \(SIGINT\) while the model loaded/);
  assert.equal(readdirSync(cache), []);
  assert.not.ok(existsSync(`${out}.lock`));
});

test('write errors (a full disk: /dev/full) name the option, the file and the reason; no temporary left; --out naming a folder', async () => {
  const { dir, images } = imageFolder();
  const street = path.join(images, 'street.jpg');
  const table = path.join(images, 'table.jpg');
  let r;
  if (existsSync('/dev/full')) {
    // --out: its writes fail.
    const full = path.join(dir, 'full.jsonl');
    symlinkSync('/dev/full', full);
    r = await fakeSotr(['predict', '-m', 'fake', '-i', street, '-o', full, '-q']);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /sotr predict: --out .*full\.jsonl: no space left on device \(ENOSPC\)\n/);
    assert.not.ok(existsSync(`${full}.lock`));
    // The settings record's temporary on the full device: named with the reason, removed, the lock released.
    const rec = path.join(dir, 'rec.jsonl');
    r = await fakeSotr(['predict', '-m', 'fake', '-i', street, '-o', rec, '-q'], {
      onSpawn: (child) => symlinkSync('/dev/full', `${rec}.settings.json.partial-${child.pid}`),
    });
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /sotr predict: --out .*rec\.jsonl\.settings\.json: no space left on device \(ENOSPC\)\n/);
    assert.equal(readdirSync(dir).filter((n) => n.startsWith('rec.')).filter((n) => n !== 'rec.jsonl'), []);
    // An overlay and a label map whose temporaries land on the full device; the COCO file's too.
    const out = path.join(dir, 'r.jsonl');
    const viz = path.join(dir, 'viz');
    const lm = path.join(dir, 'lm');
    const coco = path.join(dir, 'c.json');
    mkdirSync(viz);
    mkdirSync(lm);
    writeFileSync(coco, 'the earlier COCO file\n');
    r = await fakeSotr(['predict', '-m', 'fake', '-i', street, table, '-o', out, '--viz', viz, '--label-maps', lm, '--coco', coco], {
      onSpawn: (child) => {
        symlinkSync('/dev/full', path.join(viz, `street.jpg.partial-${child.pid}`));
        symlinkSync('/dev/full', path.join(lm, `table.png.partial-${child.pid}`));
        symlinkSync('/dev/full', `${coco}.partial-${child.pid}`);
      },
    });
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`--viz ${viz}/street\\.jpg: no space left on device \\(ENOSPC\\)`));
    assert.match(r.stderr, new RegExp(`--label-maps ${lm}/table\\.png: no space left on device \\(ENOSPC\\)`));
    assert.match(r.stderr, new RegExp(`sotr predict: --coco ${coco}: no space left on device \\(ENOSPC\\)\\n`));
    assert.not.match(r.stderr, /partial|write error|\[ENOSPC\]/);
    assert.equal([...partials(viz), ...partials(lm), ...partials(dir)], []);
    assert.equal(readdirSync(viz), ['table.jpg']);
    assert.equal(readdirSync(lm), ['street.png']);
    assert.is(readFileSync(coco, 'utf8'), 'the earlier COCO file\n');
    // The rerun makes the missing ones.
    r = await fakeSotr(['predict', '-m', 'fake', '-i', street, table, '-o', out, '--viz', viz, '--label-maps', lm, '--coco', coco, '-q']);
    assert.is(r.code, 0, r.stderr);
    assert.equal(readdirSync(viz).sort(), ['street.jpg', 'table.jpg']);
    assert.equal(readdirSync(lm).sort(), ['street.png', 'table.png']);
  }
  // --out ending in a slash names a folder, made or not: a usage error before the model loads, nothing made.
  r = await fakeSotr(['predict', '-m', 'fake', '-i', street, '-o', path.join(dir, 'eo') + '/']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /--out .*eo\/ is a folder; give a file name such as .*eo\/results\.jsonl/);
  assert.not.ok(existsSync(path.join(dir, 'eo')));
});

test('resuming with another folder: an image with the same name as an earlier run\'s keeps that one\'s overlay and label map', async () => {
  const { dir, images } = imageFolder();
  mkdirSync(path.join(dir, 'a'));
  mkdirSync(path.join(dir, 'b'));
  cpSync(path.join(images, 'street.jpg'), path.join(dir, 'a', 'x.jpg'));
  cpSync(path.join(images, 'table.jpg'), path.join(dir, 'b', 'x.jpg'));
  const args = ['-o', 'r.jsonl', '--viz', 'viz', '--label-maps', 'lm', '-q'];
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', 'a', ...args], { cwd: dir });
  assert.is(r.code, 0, r.stderr);
  const first = { viz: readFileSync(path.join(dir, 'viz', 'x.jpg')), lm: readFileSync(path.join(dir, 'lm', 'x.png')) };
  r = await fakeSotr(['predict', '-m', 'fake', '-i', 'b', ...args], { cwd: dir });
  assert.is(r.code, 0, r.stderr);
  assert.ok(readFileSync(path.join(dir, 'viz', 'x.jpg')).equals(first.viz), 'a/x.jpg\'s overlay kept');
  assert.ok(readFileSync(path.join(dir, 'lm', 'x.png')).equals(first.lm), 'a/x.jpg\'s label map kept');
  assert.equal(readdirSync(path.join(dir, 'viz')).sort(), ['b__x.jpg', 'x.jpg']);
  assert.equal(readdirSync(path.join(dir, 'lm')).sort(), ['b__x.jpg.png', 'x.png']);
  // The second run again, from the parent folder: found done, its overlay included (a by-path name is relative to the
  // folder of the file's first run, not to this one: it was redone under a second name).
  const name = path.basename(dir);
  const up = ['-o', `${name}/r.jsonl`, '--viz', `${name}/viz`, '--label-maps', `${name}/lm`];
  r = await fakeSotr(['predict', '-m', 'fake', '-i', `${name}/b`, ...up], { cwd: path.dirname(dir) });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /nothing to do/, r.stderr);
  assert.is(readLines(path.join(dir, 'r.jsonl')).length, 2);
  assert.equal(readdirSync(path.join(dir, 'viz')).sort(), ['b__x.jpg', 'x.jpg']);
});

test('an output folder that is, or is inside, an input folder: its files are left out of the inputs (the images are never overwritten, overlays never read back)', async () => {
  const { dir, images, good } = imageFolder();
  const before = readFileSync(path.join(images, 'street.jpg'));
  let r = await fakeSotr(['predict', '-m', 'fake', '-i', images, '-o', path.join(dir, 'a.jsonl'), '--viz', images]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /left out 6 input files in the output folder .*--viz/);
  assert.ok(readFileSync(path.join(images, 'street.jpg')).equals(before), 'the input image is intact');
  const args = ['predict', '-m', 'fake', '-i', images, '-o', path.join(dir, 'b.jsonl'), '--viz', path.join(images, 'viz'), '-q'];
  r = await fakeSotr(args);
  assert.is(r.code, 2, r.stderr); // the unreadable images of the folder
  r = await fakeSotr(args);
  assert.match(r.stderr, /left out 4 input files in the output folder/);
  assert.is(readLines(path.join(dir, 'b.jsonl')).length, good.length + 2);
  // a trailing ** leaves dot-files out, as folders and * do
  writeFileSync(path.join(images, '._street.jpg'), 'AppleDouble');
  r = await fakeSotr(['predict', '-m', 'fake', '-i', `${images}/**`, '-o', path.join(dir, 'c.jsonl'), '-q']);
  assert.not.ok(readLines(path.join(dir, 'c.jsonl')).some((l) => l.file.includes('._street')), 'no dot-file');
});

test('a reader of the messages that goes away (2>&1 | head) does not end the run: every line written, the usual exit code', async () => {
  const { dir, good, bad } = imageFolder();
  const out = path.join(dir, 'p.jsonl');
  const child = spawn(process.execPath, [fakeCli, 'predict', '-m', 'fake', '-i', path.join(dir, 'images'), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.once('data', () => child.stderr.destroy()); // after the first message
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  assert.is(code, 2, 'exit 2: the folder holds images that cannot be read');
  assert.is(readLines(out).length, good.length + bad.length);
});

test.run();
