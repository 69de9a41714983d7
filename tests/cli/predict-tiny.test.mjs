// `sotr predict --model tiny` end to end with the real model (skipped while this build has no Sotr): the README's
// third command over the examples with unreadable files mixed in, COCO output, overlays, the model cache, and
// resuming after a killed run with a torn last line (the redone image gives the same line).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync, truncateSync, statSync } from 'node:fs';
import path from 'node:path';
import { sotr, imageFolder, readLines, checkInstance } from './helpers/run.mjs';

const lib = await import('../../dist/index.js');
const hasModel = typeof lib.Sotr === 'function' && typeof lib.writeRandomSotrCheckpoint === 'function';
const mtest = hasModel ? test : test.skip;
if (!hasModel) console.log('Sotr is not exported by this build: the model cases are skipped');

const { dir, images, good, bad } = imageFolder();
const outDir = path.join(dir, 'out');
const out = path.join(outDir, 'results.jsonl');
const COCO_IDS = new Set(lib.COCO_CATEGORY_IDS ?? []);
const withoutMs = ({ ms, ...rest }) => rest;
// A 320-pixel short side (instead of the default 800) keeps this file well under a minute on two cores.
const SIZE = ['--min-size', '320'];

mtest('predict --model tiny: a line per image, errors for unreadable files, overlays, COCO, exit 2', async () => {
  const coco = path.join(outDir, 'coco.json');
  const viz = path.join(outDir, 'viz');
  const r = await sotr(['predict', '--model', 'tiny', '--input', images, '--out', out, '--viz', viz, '--coco', coco, '--device', 'cpu', ...SIZE]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /generated the tiny random-weight model/);
  assert.match(r.stderr, /images\/s/);
  assert.match(r.stderr, /the device waited [\d.]+% of the time/);
  const lines = readLines(out);
  assert.is(lines.length, good.length + bad.length);
  let instances = 0;
  for (const l of lines) {
    const name = path.basename(l.file);
    if (bad.includes(name)) {
      assert.type(l.error, 'string', name);
      assert.is(l.error_kind, 'image');
      continue;
    }
    assert.is(l.error, undefined, `${name}: ${l.error}`);
    assert.ok(Array.isArray(l.instances));
    for (const inst of l.instances) checkInstance(assert, inst, l.width, l.height);
    const scores = l.instances.map((i) => i.score);
    assert.equal(scores, [...scores].sort((a, b) => b - a), 'sorted by score');
    instances += l.instances.length;
  }
  assert.ok(instances > 0, 'the calibrated random model finds something');
  assert.equal(readdirSync(viz).sort(), ['grey.jpg', 'portrait.png', 'street.jpg', 'table.jpg']);
  const res = JSON.parse(readFileSync(coco, 'utf8'));
  assert.is(res.length, instances);
  for (const d of res) {
    assert.ok(COCO_IDS.has(d.category_id), `category ${d.category_id}`);
    assert.type(d.image_id, 'string');
    assert.ok(d.score > 0 && d.score <= 1);
    assert.is(d.bbox.length, 4);
    assert.type(d.segmentation.counts, 'string');
  }
  // The cached model is a complete SOTR checkpoint.
  const cache = path.join(outDir, '.sotr-cache');
  const [file] = readdirSync(cache);
  const ins = await sotr(['inspect', path.join(cache, file), '--json']);
  assert.ok(JSON.parse(ins.stdout).loadable);
});

mtest('predict --classes: only those classes, the same instances as without it (caps lifted); an unknown name is exit 1', async () => {
  const lines = readLines(out).filter((l) => l.instances?.length);
  const { labels, names } = (() => {
    const count = new Map();
    for (const l of lines) for (const i of l.instances) count.set(i.label, (count.get(i.label) ?? 0) + 1);
    const top = [...count.keys()].slice(0, 2);
    return { labels: top, names: top.map((t) => lines.flatMap((l) => l.instances).find((i) => i.label === t).class) };
  })();
  const caps = ['--nms-pre', '100000', '--max-per-image', '100000'];
  const all = path.join(outDir, 'classes-all.jsonl');
  const some = path.join(outDir, 'classes-some.jsonl');
  const files = lines.map((l) => l.file);
  let r = await sotr(['predict', '--model', 'tiny', '--out', all, '--device', 'cpu', '-q', ...caps, ...SIZE, ...files]);
  assert.is(r.code, 0, r.stderr);
  r = await sotr(['predict', '--model', 'tiny', '--out', some, '--device', 'cpu', '-q', ...caps, ...SIZE, '--classes', `${names[0]},${labels[1]}`, ...files]);
  assert.is(r.code, 0, r.stderr);
  const strip = (i) => ({ ...i, score: Math.fround(i.score) });
  const byFile = (file, keep) => Object.fromEntries(readLines(file).map((l) => [l.file, l.instances.filter(keep).map(strip)]));
  assert.equal(byFile(some, () => true), byFile(all, (i) => labels.includes(i.label)));
  r = await sotr(['predict', '--model', 'tiny', '--out', path.join(outDir, 'classes-bad.jsonl'), '--device', 'cpu', ...SIZE, '--classes', 'no-such-class', files[0]]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /no class is named "no-such-class"/);
});

mtest('predict --nms-kernel / --nms-sigma: the API\'s nmsKernel / nmsSigma, recorded with the settings', async () => {
  const [line] = readLines(out).filter((l) => l.instances?.length > 1);
  const run = async (name, extra) => {
    const res = path.join(outDir, `nms-${name}.jsonl`);
    const r = await sotr(['predict', '--model', 'tiny', '--out', res, '--device', 'cpu', '-q', ...SIZE, ...extra, line.file]);
    assert.is(r.code, 0, r.stderr);
    return { instances: readLines(res)[0].instances, record: JSON.parse(readFileSync(`${res}.settings.json`, 'utf8')) };
  };
  const sameAsDefault = await run('sigma2', ['--nms-kernel', 'gaussian', '--nms-sigma', '2']);
  assert.equal(sameAsDefault.instances, line.instances, 'the official values given explicitly change nothing');
  assert.equal([sameAsDefault.record.nmsKernel, sameAsDefault.record.nmsSigma], ['gaussian', 2]);
  // The same image through the API with the same options gives the CLI's instances.
  const [file] = readdirSync(path.join(outDir, '.sotr-cache'));
  for (const [name, extra, options] of [['linear', ['--nms-kernel', 'linear'], { nmsKernel: 'linear' }], ['sigma8', ['--nms-sigma', '8'], { nmsSigma: 8 }]]) {
    const { instances, record } = await run(name, extra);
    assert.not.equal(instances.map((i) => i.score), line.instances.map((i) => i.score), `${name}: other scores`);
    assert.equal([record.nmsKernel, record.nmsSigma], name === 'linear' ? ['linear', null] : ['gaussian', 8]);
    const model = await lib.Sotr.load(path.join(outDir, '.sotr-cache', file), { device: 'cpu', minSize: 320, ...options });
    try {
      const p = await model.predict(line.file);
      assert.equal(instances.map((i) => [i.label, Math.fround(i.score)]), p.instances.map((i) => [i.label, Math.fround(i.score)]), name);
    } finally {
      await model.dispose();
    }
  }
});

mtest('predict --label-maps: an 8- or 16-bit PNG per image, equal to labelMap of its line (by instance and by label)', async () => {
  const sharp = (await import('sharp')).default;
  const lines = readLines(out).filter((l) => l.instances?.length).slice(0, 2);
  const files = lines.map((l) => l.file);
  for (const [by, depth] of [['instance', 8], ['label', 8], ['instance', 16]]) {
    const dir = path.join(outDir, `maps-${by}-${depth}`);
    const res = path.join(outDir, `maps-${by}-${depth}.jsonl`);
    const extra = depth === 16 ? ['--label-map-depth', '16'] : [];
    const r = await sotr(['predict', '--model', 'tiny', '--out', res, '--device', 'cpu', '-q', ...SIZE, '--label-maps', dir, '--label-map-values', by, ...extra, ...files]);
    assert.is(r.code, 0, r.stderr);
    for (const l of readLines(res)) {
      const png = path.join(dir, path.basename(l.file, path.extname(l.file)) + '.png');
      const meta = await sharp(png).metadata();
      const want8 = depth === 8 ? 'uchar' : 'ushort';
      assert.equal([meta.width, meta.height, meta.channels, meta.depth], [l.width, l.height, 1, want8], `${png}: one ${depth}-bit channel`);
      const img = depth === 8 ? sharp(png).extractChannel(0).raw() : sharp(png).toColourspace('grey16').raw({ depth: 'ushort' });
      const { data: bytes } = await img.toBuffer({ resolveWithObject: true });
      const data = depth === 8 ? bytes : new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
      const instances = l.instances.map((i) => ({ label: i.label, mask: lib.Mask.fromRLE(i.segmentation) }));
      const want = await lib.labelMap({ width: l.width, height: l.height, instances }, { by });
      assert.is(data.length, want.data.length);
      assert.ok(Array.from(want.data).every((v, k) => v === data[k]), `${png} equals labelMap by ${by}`);
      assert.ok(data.some((v) => v > 0));
    }
  }
});

mtest('predict then eval: the COCO results scored against themselves as ground truth give AP 1 (ids, categories, RLE agree)', async () => {
  // Ground truth made from the JSON Lines (images by file name), results from the --coco file of the first test.
  const lines = readLines(out).filter((l) => l.instances);
  const gt = { images: [], annotations: [], categories: [...COCO_IDS].map((id) => ({ id, name: String(id) })) };
  for (const l of lines) {
    const id = path.basename(l.file, path.extname(l.file));
    gt.images.push({ id, file_name: path.basename(l.file), width: l.width, height: l.height });
    for (const inst of l.instances) {
      if (inst.area === 0) continue;
      gt.annotations.push({ id: gt.annotations.length + 1, image_id: id, category_id: inst.category_id, segmentation: inst.segmentation, area: inst.area, bbox: inst.bbox, iscrowd: 0 });
    }
  }
  const { writeFileSync } = await import('node:fs');
  const gtFile = path.join(outDir, 'self-gt.json');
  writeFileSync(gtFile, JSON.stringify(gt));
  for (const results of [path.join(outDir, 'coco.json'), out]) {
    const r = await sotr(['eval', '--gt', gtFile, '--results', results]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /\(AP\) @\[ IoU=0\.50:0\.95 \| area=   all \| maxDets=100 \] = 1\.000/, `${path.basename(results)}\n${r.stdout}`);
    assert.match(r.stdout, /^bbox: /m);
  }
});

mtest('a killed run with a torn last line: the rerun redoes that image only, with the same result', async () => {
  const before = readLines(out);
  const goodLines = before.filter((l) => !l.error);
  const victim = goodLines[goodLines.length - 1];
  // Move the victim's line to the end, then tear it (a write cut short by the kill).
  const text = before.filter((l) => l !== victim).map((l) => JSON.stringify(l) + '\n').join('') + JSON.stringify(victim) + '\n';
  const { writeFileSync } = await import('node:fs');
  writeFileSync(out, text);
  truncateSync(out, statSync(out).size - Math.floor(JSON.stringify(victim).length / 2));
  const r = await sotr(['predict', '--model', 'tiny', '--input', images, '--out', out, '--device', 'cpu', ...SIZE]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /removed a torn last line/);
  assert.not.match(r.stderr, /generated the tiny/, 'the cached model is reused');
  assert.match(r.stderr, /^sotr: 1 image in /m);
  const after = readLines(out);
  assert.is(after.length, before.length);
  // (The first run had --viz: its line also names the overlay.)
  const { viz, ...victimResult } = victim;
  assert.type(viz, 'string');
  assert.equal(withoutMs(after[after.length - 1]), withoutMs(victimResult), 'deterministic: the redone line equals the first');
  const again = await sotr(['predict', '--model', 'tiny', '--input', images, '--out', out, ...SIZE]);
  assert.is(again.code, 2);
  assert.match(again.stderr, /nothing to do/);
});

mtest('SIGKILL in the middle of a run, then resume: every image once', async () => {
  const out2 = path.join(outDir, 'killed.jsonl');
  const r1 = await sotr(['predict', '--model', 'tiny', '--input', images, '--out', out2, ...SIZE, '-q'], {
    onSpawn: (child) => {
      const t = setInterval(() => {
        if (existsSync(out2) && readFileSync(out2, 'utf8').split('\n').length > 2) {
          clearInterval(t);
          child.kill('SIGKILL');
        }
      }, 10);
    },
  });
  const n = existsSync(out2) ? readLines(out2).length : 0;
  assert.ok(r1.signal === 'SIGKILL' || r1.code === 2, `${r1.signal} ${r1.code}`);
  const r2 = await sotr(['predict', '--model', 'tiny', '--input', images, '--out', out2, ...SIZE, '-q']);
  assert.is(r2.code, 2, r2.stderr);
  const lines = readLines(out2);
  assert.is(lines.length, good.length + bad.length, `${n} lines before the kill`);
  assert.is(new Set(lines.map((l) => l.file)).size, lines.length);
});

mtest('an image too thin for the model is an image error (kept on resume), not a model failure', async () => {
  const sharp = (await import('sharp')).default;
  const thin = path.join(outDir, 'thin', 'thin.png');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(path.dirname(thin), { recursive: true });
  await sharp({ create: { width: 3000, height: 1, channels: 3, background: { r: 90, g: 120, b: 40 } } }).png().toFile(thin);
  const tout = path.join(outDir, 'thin.jsonl');
  const street = path.join(images, 'street.jpg');
  const args = ['predict', '--model', 'tiny', '--input', thin, street, '--out', tout, '--device', 'cpu', '-q', ...SIZE];
  const r = await sotr(args);
  assert.is(r.code, 2, r.stderr);
  const bad = readLines(tout).find((l) => l.file.endsWith('thin.png'));
  assert.is(bad.error_kind, 'image');
  assert.match(bad.error, /the image is 3000×1: .* too thin for the model/);
  assert.ok(readLines(tout).find((l) => l.file.endsWith('street.jpg')).instances.length > 0, 'the other image is done');
  const again = await sotr(args);
  assert.is(again.code, 2);
  assert.is(readLines(tout).length, 2, 'not retried on resume');
});

mtest('--polygons: each instance carries its mask\'s outer contours as COCO polygons', async () => {
  const pout = path.join(outDir, 'polygons.jsonl');
  const street = path.join(images, 'street.jpg');
  const r = await sotr(['predict', '--model', 'tiny', '--input', street, '--out', pout, '--polygons', '--device', 'cpu', '-q', ...SIZE]);
  assert.is(r.code, 0, r.stderr);
  const [line] = readLines(pout);
  assert.ok(line.instances.length > 0);
  const masks = line.instances.map((i) => lib.Mask.fromRLE(i.segmentation));
  const lists = await lib.masksToContours(masks);
  line.instances.forEach((inst, k) => {
    assert.ok(Array.isArray(inst.polygons), `instance ${k} has polygons`);
    assert.equal(inst.polygons, lib.contoursToCocoPolygons(lists[k]), `instance ${k}`);
  });
  assert.ok(line.instances.some((i) => i.polygons.length > 0), 'some polygons');
  // Without the flag the field is absent.
  for (const l of readLines(out)) for (const inst of l.instances ?? []) assert.is(inst.polygons, undefined);
  // --polygon-epsilon simplifies them (approxPolyDP); without --polygons it is a usage error.
  const sout = path.join(outDir, 'polygons-eps.jsonl');
  const r2 = await sotr(['predict', '--model', 'tiny', '--input', street, '--out', sout, '--polygons', '--polygon-epsilon', '2', '--device', 'cpu', '-q', ...SIZE]);
  assert.is(r2.code, 0, r2.stderr);
  const [line2] = readLines(sout);
  line2.instances.forEach((inst, k) => assert.equal(inst.polygons, lib.contoursToCocoPolygons(lists[k], { epsilon: 2 }), `instance ${k}`));
  const points = (l) => l.instances.reduce((a, i) => a + i.polygons.reduce((b, q) => b + q.length, 0), 0);
  assert.ok(points(line2) < points(line), `simplified: ${points(line2)} < ${points(line)} numbers`);
  const r3 = await sotr(['predict', '--model', 'tiny', '--input', street, '--out', path.join(outDir, 'x.jsonl'), '--polygon-epsilon', '2']);
  assert.is(r3.code, 1);
  assert.match(r3.stderr, /--polygon-epsilon is only used with --polygons/);
});

mtest('predict --threads 1: the load line says so, and the results are those of every core', async () => {
  const one = path.join(outDir, 'threads1.jsonl');
  const all = path.join(outDir, 'threads-all.jsonl');
  const files = good.map((g) => path.join(images, g));
  const r1 = await sotr(['predict', '--model', 'tiny', '--out', one, '--device', 'cpu', '--threads', '1', ...SIZE, ...files]);
  assert.is(r1.code, 0, r1.stderr);
  assert.match(r1.stderr, / on cpu \(1 thread\), loaded in /);
  const r2 = await sotr(['predict', '--model', 'tiny', '--out', all, '--device', 'cpu', ...SIZE, ...files]);
  assert.is(r2.code, 0, r2.stderr);
  assert.match(r2.stderr, / on cpu \(\d+ threads?\), loaded in /);
  const byFile = (f) => new Map(readLines(f).map((l) => [l.file, withoutMs(l)]));
  assert.equal(byFile(one), byFile(all), 'the same lines with 1 thread and with every core');
});

test.run();
