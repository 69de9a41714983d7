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
  // A type named twice is evaluated once.
  // predict's output under any name (--out takes any): told by its first character, not by a lower-case .jsonl.
  for (const name of ['results.JSONL', 'results.ndjson', 'results.txt']) {
    writeFileSync(path.join(tmp, name), lines.join('\n') + '\n');
    const other = await sotr(['eval', '--gt', gtFile, '--results', path.join(tmp, name), '--iou', 'segm']);
    assert.is(other.code, 0, `${name}: ${other.stderr}`);
    assert.ok(other.stdout.includes(fx.expected['segmOnly.segm'].lines[0]), name);
  }
  const twice = await sotr(['eval', '--gt', gtFile, '--results', jsonl, '--iou', 'segm, segm']);
  assert.is(twice.code, 0, twice.stderr);
  assert.is(twice.stdout.match(/^segm:/gm).length, 1);
  // Each image also under another path before its line (a resume from another folder, or an older run): the last
  // line of an image id is scored, once.
  const stale = fx.groundTruth.images.map((im) =>
    JSON.stringify({ file: path.join('/elsewhere', im.file_name), width: im.width, height: im.height, instances: (byImage.get(im.id) ?? []).map((i) => ({ ...i, score: 1 - i.score })) }),
  );
  writeFileSync(jsonl, [...stale, ...lines].join('\n') + '\n');
  const d = await sotr(['eval', '--gt', gtFile, '--results', jsonl, '--iou', 'segm']);
  assert.is(d.code, 0, d.stderr);
  for (const line of fx.expected['segmOnly.segm'].lines) assert.ok(d.stdout.includes(line), `twice: ${line}`);
  assert.match(d.stderr, new RegExp(`${stale.length} lines of .* have the image id of a later line under another path`));
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
  // Counts in words: "1 category", not "1 categories".
  const one = await sotr(['eval', '--gt', gtFile, '--results', cocoFile, '--iou', 'bbox', '--categories', 'c3']);
  assert.match(one.stdout, /^bbox: \d+ images, 1 category, \d+ ground truths, \d+ results/m);
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

test('bad data: a null entry, a bad RLE or segmentation, no result lines: a usage error naming the file and the entry', async () => {
  const write = (name, data) => {
    const f = path.join(tmp, name);
    writeFileSync(f, typeof data === 'string' ? data : JSON.stringify(data));
    return f;
  };
  const gt = fx.groundTruth;
  const withAnn = (j, a) => ({ ...gt, annotations: gt.annotations.map((x, k) => (k === j ? a : x)) });
  const segAnn = gt.annotations.findIndex((a) => a.segmentation !== undefined);
  const res = fx.results.withBbox;
  const withRes = (i, r) => res.map((x, k) => (k === i ? r : x));
  const im = gt.images[0];
  const line = (instances) => JSON.stringify({ file: `/data/${im.file_name}`, width: im.width, height: im.height, instances });
  const inst = { label: 0, class: 'x', category_id: gt.categories[0].id, score: 0.5, bbox: [0, 0, 2, 2], area: 0, segmentation: { size: [im.height, im.width], counts: [im.height * im.width] } };
  const cases = [
    [write('gt-null-ann.json', withAnn(2, null)), cocoFile, /--gt \S+gt-null-ann\.json: annotation 2 is null, not an object/],
    [write('gt-null-image.json', { ...gt, images: [...gt.images, null] }), cocoFile, new RegExp(`--gt \\S+gt-null-image\\.json: image ${gt.images.length} is null`)],
    [write('gt-null-cat.json', { ...gt, categories: [7, ...gt.categories] }), cocoFile, /--gt \S+gt-null-cat\.json: category 0 is 7, not an object/],
    [gtFile, write('res-null.json', withRes(3, null)), /--results \S+res-null\.json: result 3 is null, not an object/],
    [write('gt-bad-rle.json', withAnn(segAnn, { ...gt.annotations[segAnn], segmentation: { size: [im.height, im.width], counts: 'zz' } })), cocoFile, new RegExp(`--gt \\S+gt-bad-rle\\.json: (ground-truth )?annotation ${segAnn} \\(id \\d+\\): decodeRleCounts`)],
    [write('gt-str-seg.json', withAnn(segAnn, { ...gt.annotations[segAnn], segmentation: 'x' })), cocoFile, new RegExp(`gt-str-seg\\.json: (ground-truth )?annotation ${segAnn} .*COCO segmentation: expected polygons or an RLE`)],
    [gtFile, write('res-bad-rle.json', withRes(4, { ...res[4], segmentation: { size: [1, 1], counts: 'zz' } })), /--results \S+res-bad-rle\.json: result 4: decodeRleCounts/],
    [gtFile, write('res-no-score.json', withRes(1, { ...res[1], score: 'high' })), /--results \S+res-no-score\.json: result 1 has no numeric score/],
    [write('gt-no-height.json', { ...gt, images: gt.images.map((x, k) => (k ? x : { ...x, height: undefined })) }), cocoFile, /--gt \S+gt-no-height\.json: image \S+ has height undefined/],
    [gtFile, write('lines-bad-rle.jsonl', `${line([inst, { ...inst, segmentation: { size: [im.height, im.width], counts: 'zz' } }])}\n`), /--results \S+lines-bad-rle\.jsonl: line 1, instance 1: decodeRleCounts/],
    [gtFile, write('lines-null-inst.jsonl', `\n${line([inst, null])}\n`), /--results \S+lines-null-inst\.jsonl: line 2, instance 1: null, not an object/],
    [gtFile, write('lines-garbage.jsonl', 'not json\n{"a":1}\n'), /--results \S+lines-garbage\.jsonl holds no result lines .*: 2 lines that are not results \(the first: line 1\)/],
    [gtFile, write('lines-one-bad.jsonl', '\n\n[]\n'), /lines-one-bad\.jsonl holds no result lines .*: 1 line that is not a result \(line 3\)/],
    [gtFile, write('lines-empty.jsonl', ''), /lines-empty\.jsonl holds no result lines .*it is empty/],
    [gtFile, write('lines-torn.jsonl', line([inst]).slice(0, -12)), /lines-torn\.jsonl holds no result lines .*a torn line/],
  ];
  for (const [g, r, re] of cases) {
    const e = await sotr(['eval', '--gt', g, '--results', r, '--iou', 'segm']);
    assert.is(e.code, 1, `${path.basename(g)} ${path.basename(r)}: ${e.stderr}`);
    assert.match(e.stderr, re);
    assert.not.match(e.stderr, /unexpected error|\n\s+at /);
  }
  // Some lines that are not results among results: scored, with a warning naming them.
  const mixed = write('lines-mixed.jsonl', `garbage\n${line([inst])}\n{"fi`);
  const m = await sotr(['eval', '--gt', gtFile, '--results', mixed, '--iou', 'segm']);
  assert.is(m.code, 0, m.stderr);
  assert.match(m.stderr, /1 line of \S+lines-mixed\.jsonl is not a result line \(line 1\), left out/);
  assert.match(m.stderr, /the last line of \S+lines-mixed\.jsonl has no newline/);
  // A whole result line without the final newline (an editor or a tool dropped it) is a line: scored, as with it.
  const withNl = await sotr(['eval', '--gt', gtFile, '--results', write('lines-nl.jsonl', `${line([inst])}\n`), '--iou', 'segm']);
  const noNl = await sotr(['eval', '--gt', gtFile, '--results', write('lines-no-nl.jsonl', line([inst])), '--iou', 'segm']);
  assert.is(noNl.code, 0, noNl.stderr);
  assert.not.match(noNl.stderr, /torn|no newline/);
  // The same lines but for the time each took ("(0.0 s)", which a loaded machine makes 0.1 s).
  const untimed = (t) => t.replace(/\(\d+\.\d s\)/g, '(… s)');
  assert.is(untimed(noNl.stdout), untimed(withNl.stdout));
  assert.match(noNl.stdout, /IoU=0\.50:0\.95/);
});

test.run();
