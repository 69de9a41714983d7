// `sotr eval`: the COCO evaluation from the command line, on the pycocotools goldens of
// tests/fixtures/eval/coco_eval.json: COCO results (.json) and sotr predict's JSON Lines (.jsonl, images found by
// file name), --iou, --json, and usage errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sotr, root } from './helpers/run.mjs';

const fx = JSON.parse(readFileSync(path.join(root, 'tests', 'fixtures', 'eval', 'coco_eval.json'), 'utf8'));
const tmp = mkdtempSync(path.join(tmpdir(), 'sotr-eval-'));
const gtFile = path.join(tmp, 'gt.json');
writeFileSync(gtFile, JSON.stringify(fx.groundTruth));
const cocoFile = path.join(tmp, 'coco.json');
writeFileSync(cocoFile, JSON.stringify(fx.results.withBbox));

test("COCO results: mask AP with mask areas (detectron2's evaluator), --box-area as loadRes, box AP; --json", async () => {
  const out = path.join(tmp, 'stats.json');
  const r = await sotr(['eval', '--gt', gtFile, '--results', cocoFile, '--json', out]);
  assert.is(r.code, 0, r.stderr);
  // Boxes dropped for segm: what pycocotools gives the same results without bbox.
  for (const line of fx.expected['segmOnly.segm'].lines) assert.ok(r.stdout.includes(line), `segm: ${line}`);
  for (const line of fx.expected['withBbox.bbox'].lines) assert.ok(r.stdout.includes(line), `bbox: ${line}`);
  const j = JSON.parse(readFileSync(out, 'utf8'));
  j.segm.stats.forEach((v, i) => assert.ok(Math.abs(v - fx.expected['segmOnly.segm'].stats[i]) < 1e-12));
  j.segm.perCategory.forEach((c, k) => assert.ok(Math.abs(c.ap - fx.expected['segmOnly.segm'].perCategory[k]) < 1e-12, c.name));
  const b = await sotr(['eval', '--gt', gtFile, '--results', cocoFile, '--iou', 'segm', '--box-area', '--per-category']);
  assert.match(b.stdout, /per-category segm AP/);
  assert.match(b.stdout, /^ {2}c12 +-$/m, 'the category without ground truth shows -');
  for (const line of fx.expected['withBbox.segm'].lines) assert.ok(b.stdout.includes(line), `segm --box-area: ${line}`);
});

test('JSON Lines results: images matched by file name, the same numbers', async () => {
  const byImage = new Map();
  for (const d of fx.results.withBbox) {
    if (!byImage.has(d.image_id)) byImage.set(d.image_id, []);
    byImage.get(d.image_id).push({ label: 0, class: 'x', category_id: d.category_id, score: d.score, bbox: d.bbox, area: 0, segmentation: d.segmentation });
  }
  const lines = fx.groundTruth.images.map((im) => JSON.stringify({ file: path.join('/data', im.file_name), width: im.width, height: im.height, instances: byImage.get(im.id) ?? [] }));
  lines.push(JSON.stringify({ file: '/data/other.png', error: 'cannot decode', error_kind: 'image' }));
  const jsonl = path.join(tmp, 'results.jsonl');
  writeFileSync(jsonl, lines.join('\n') + '\n');
  const r = await sotr(['eval', '--gt', gtFile, '--results', jsonl, '--iou', 'segm']);
  assert.is(r.code, 0, r.stderr);
  for (const line of fx.expected['segmOnly.segm'].lines) assert.ok(r.stdout.includes(line), line);
  assert.not.match(r.stdout, /^bbox:/m);
  // Each image also under another path before its line (a resume from another folder, or an older run): the last
  // line of an image id is scored, once.
  const stale = fx.groundTruth.images.map((im) =>
    JSON.stringify({ file: path.join('/elsewhere', im.file_name), width: im.width, height: im.height, instances: (byImage.get(im.id) ?? []).map((i) => ({ ...i, score: 1 - i.score })) }),
  );
  writeFileSync(jsonl, [...stale, ...lines].join('\n') + '\n');
  const d = await sotr(['eval', '--gt', gtFile, '--results', jsonl, '--iou', 'segm']);
  assert.is(d.code, 0, d.stderr);
  for (const line of fx.expected['segmOnly.segm'].lines) assert.ok(d.stdout.includes(line), `twice: ${line}`);
  assert.match(d.stderr, new RegExp(`${stale.length} line\\(s\\) of .* have the image id of a later line under another path`));
});

test('--categories: only those (names or ids), each with the AP pycocotools gives it; unknown ones are usage errors', async () => {
  const out = path.join(tmp, 'cats.json');
  const r = await sotr(['eval', '--gt', gtFile, '--results', cocoFile, '--iou', 'bbox', '--categories', 'c3, 10', '--per-category', '--json', out]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^bbox: \d+ images, 2 categories/m);
  const j = JSON.parse(readFileSync(out, 'utf8'));
  assert.is(j.categories, 'c3, 10');
  const ids = fx.groundTruth.categories.map((c) => c.id);
  assert.equal(j.bbox.perCategory.map((c) => [c.categoryId, c.ap]), [3, 10].map((id) => [id, fx.expected['withBbox.bbox'].perCategory[ids.indexOf(id)]]));
  for (const [arg, re] of [['c99', /no category named "c99"$/m], ['C3', /did you mean "c3"/], ['4242', /no category with id 4242/], ['c3,,c1', /--categories takes category names or ids/]]) {
    const e = await sotr(['eval', '--gt', gtFile, '--results', cocoFile, '--categories', arg]);
    assert.is(e.code, 1, arg);
    assert.match(e.stderr, re);
  }
});

test('usage errors: missing options, a bad --iou, a non-COCO file, results on unknown images', async () => {
  const bad = path.join(tmp, 'bad.json');
  writeFileSync(bad, JSON.stringify([{ image_id: 424242, category_id: 1, score: 0.5, bbox: [0, 0, 2, 2] }]));
  const cases = [
    [['eval', '--results', cocoFile], /--gt <annotations.json> is required/],
    [['eval', '--gt', gtFile], /--results .* is required/],
    [['eval', '--gt', gtFile, '--results', cocoFile, '--iou', 'keypoints'], /--iou/],
    [['eval', '--gt', cocoFile, '--results', cocoFile], /not a COCO annotation file/],
    [['eval', '--gt', gtFile, '--results', bad], /image_id 424242/],
    [['eval', '--gt', path.join(tmp, 'nope.json'), '--results', cocoFile], /not found/],
  ];
  for (const [args, re] of cases) {
    const r = await sotr(args);
    assert.is(r.code, 1, args.join(' '));
    assert.match(r.stderr, re);
  }
  const h = await sotr(['help', 'eval']);
  assert.match(h.stdout, /pycocotools/);
});

test.run();
