// A checkpoint trained on another dataset: its class names and category ids from the dataset's COCO annotations
// (cocoCategories, detectron2's numbering: labels by category id), the load options classNames / cocoCategoryIds,
// and `sotr predict --class-names` (an annotations file, a JSON array or a text file), which the results, the COCO
// file and the settings record follow. A model without category ids gives label + 1 in COCO results.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sotr, root, readLines } from './helpers/run.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const lib = await import('../../dist/index.js');
const { Sotr, cocoCategories, toCocoResults, writeRandomSotrCheckpoint, SotrRangeError, SotrTypeError } = lib;

const dir = mkdtempSync(path.join(tmpdir(), 'sotr-classes-'));
const five = path.join(dir, 'five.safetensors');
await writeRandomSotrCheckpoint(five, { preset: 'tiny', numClasses: 5, seed: 1 });
const twelve = path.join(dir, 'twelve.safetensors');
await writeRandomSotrCheckpoint(twelve, { preset: 'tiny', numClasses: 12, seed: 1 });
const images = path.join(root, 'examples', 'images');
const imageNames = ['grey.jpg', 'portrait.png', 'street.jpg', 'table.jpg'];
// Categories listed out of id order, with gaps: labels follow the ids (cat 3, dog 5, hen 9, zebra 12, cow 40).
const annotations = {
  images: imageNames.map((file_name, i) => ({ id: 100 + i, file_name, width: 1, height: 1 })),
  annotations: [],
  categories: [
    { id: 12, name: 'zebra', supercategory: 'animal' },
    { id: 3, name: 'cat' },
    { id: 5, name: 'dog' },
    { id: 40, name: 'cow' },
    { id: 9, name: 'hen' },
  ],
};
const NAMES = ['cat', 'dog', 'hen', 'zebra', 'cow'];
const IDS = [3, 5, 9, 12, 40];
const annFile = path.join(dir, 'instances_val.json');
writeFileSync(annFile, JSON.stringify(annotations));
const SIZE = ['--min-size', '320', '--device', 'cpu', '-q'];
const load = (file, o = {}) => Sotr.load(file, { device: 'cpu', minSize: 320, onWarning: () => {}, ...o });

test('cocoCategories: names and ids by label, sorted by id as detectron2 numbers them', async () => {
  assert.equal(cocoCategories(annotations), { classNames: NAMES, cocoCategoryIds: IDS });
  await expectTypedErrors([
    [() => cocoCategories(null), SotrTypeError, /expected a COCO annotations object with "categories"/],
    [() => cocoCategories({ images: [] }), SotrTypeError, /"categories"/],
    [() => cocoCategories({ categories: [] }), SotrRangeError, /"categories" is empty/],
    [() => cocoCategories({ categories: [{ id: 1, name: 'a' }, { id: '2', name: 'b' }] }), SotrTypeError, /categories\[1\]\.id must be an integer, received "2"/],
    [() => cocoCategories({ categories: [{ id: 1 }] }), SotrTypeError, /categories\[0\]\.name must be a string/],
    [() => cocoCategories({ categories: [{ id: 4, name: 'a' }, { id: 4, name: 'b' }] }), SotrRangeError, /category id 4 is listed twice \("a" and "b"\)/],
    // As the text and JSON-array name lists: no empty name.
    [() => cocoCategories({ categories: [{ id: 1, name: 'a' }, { id: 7, name: '' }] }), SotrRangeError, /category id 7 has an empty name \(categories\[1\]\.name is ""\)/],
    [() => cocoCategories({ categories: [{ id: 2, name: ' \t' }] }), SotrRangeError, /category id 2 has an empty name/],
  ]);
});

test('Sotr.load classNames + cocoCategoryIds: instances and COCO results carry them', async () => {
  const m = await load(five, cocoCategories(annotations));
  try {
    assert.equal([m.config.classNames, m.config.cocoCategoryIds], [NAMES, IDS]);
    const p = await m.predict(path.join(images, 'street.jpg'));
    assert.ok(p.instances.length > 0, 'the random model finds something');
    for (const i of p.instances) assert.equal([i.category, i.cocoCategoryId], [NAMES[i.label], IDS[i.label]]);
    assert.equal(toCocoResults(p, 7).map((r) => r.category_id), p.instances.map((i) => IDS[i.label]));
    // `classes` by the new names.
    const only = await m.predict(path.join(images, 'street.jpg'), { classes: ['cow', 'cat'] });
    assert.ok(only.instances.every((i) => i.category === 'cow' || i.category === 'cat'));
  } finally {
    await m.dispose();
  }
});

test('a model without category ids: cocoCategoryId null, COCO results label + 1 (not COCO\'s table)', async () => {
  const m = await load(twelve);
  try {
    assert.is(m.config.cocoCategoryIds, null);
    assert.equal(m.config.classNames.slice(0, 2), ['class_0', 'class_1']);
    const p = await m.predict(path.join(images, 'street.jpg'));
    assert.ok(p.instances.length > 0);
    assert.ok(p.instances.every((i) => i.cocoCategoryId === null));
    // Labels 11 and 0 as COCO results: 12 and 1 (COCO's table would say 13 for label 11).
    const inst = [{ ...p.instances[0], label: 11 }, { ...p.instances[0], label: 0 }];
    assert.equal(toCocoResults(inst, 1).map((r) => r.category_id), [12, 1]);
  } finally {
    await m.dispose();
  }
});

test('Sotr.load: classNames / cocoCategoryIds of the wrong length or with bad ids are typed errors, details saying which', async () => {
  // details: the option, and for a count the checkpoint's and the one given (the CLI's wording reads them).
  const bad = [
    [{ classNames: ['a', 'b'] }, /classNames must be 5 strings \(one per class of the checkpoint\), received 2 entries/, { option: 'classNames', expected: 5, received: 2 }],
    [{ cocoCategoryIds: [1, 2, 3] }, /cocoCategoryIds must be 5 integers \(one per class of the checkpoint\), received 3 entries/, { option: 'cocoCategoryIds', expected: 5, received: 3 }],
    [{ cocoCategoryIds: [1, 2, 3, 4, 4.5] }, /cocoCategoryIds\[4\] must be an integer, received 4\.5/, { option: 'cocoCategoryIds', label: 4 }],
    [{ cocoCategoryIds: [1, 2, 3, 2, 5] }, /cocoCategoryIds gives labels 1 and 3 the same id 2/, { option: 'cocoCategoryIds', labels: [1, 3] }],
    [{ cocoCategoryIds: 'abc' }, /cocoCategoryIds must be 5 integers/, { option: 'cocoCategoryIds', expected: 5 }],
    // An empty name, as cocoCategories and the CLI's name files refuse one.
    [{ classNames: ['a', 'b', ' ', 'd', 'e'] }, /classNames\[2\] is empty: every class needs a name/, { option: 'classNames', label: 2 }],
  ];
  for (const [o, re, details] of bad) {
    const e = await load(five, o).then(() => null, (x) => x);
    assert.instance(e, SotrRangeError, JSON.stringify(o));
    assert.match(e.message, re);
    assert.equal(e.details, details, JSON.stringify(o));
  }
});

test('predict --class-names <annotations.json>: names, category ids, --coco and --classes by the new names', async () => {
  const out = path.join(dir, 'ann.jsonl');
  const coco = path.join(dir, 'ann-coco.json');
  // The same annotations file also gives the image ids.
  const r = await sotr(['predict', '-m', five, '-i', images, '-o', out, '--class-names', annFile, '--coco', coco, '--image-ids', annFile, ...SIZE]);
  assert.is(r.code, 0, r.stderr);
  const lines = readLines(out);
  const instances = lines.flatMap((l) => l.instances);
  assert.ok(instances.length > 0);
  for (const i of instances) assert.equal([i.class, i.category_id], [NAMES[i.label], IDS[i.label]]);
  const records = JSON.parse(readFileSync(coco, 'utf8'));
  assert.is(records.length, instances.length);
  assert.ok(records.every((c) => IDS.includes(c.category_id) && c.image_id >= 100 && c.image_id < 104));
  const record = JSON.parse(readFileSync(`${out}.settings.json`, 'utf8'));
  assert.equal(record.classNames, { file: 'instances_val.json', names: NAMES, categoryIds: IDS });
  // The same instances as the API with the same options.
  const m = await load(five, cocoCategories(annotations));
  try {
    const line = lines.find((l) => path.basename(l.file) === 'street.jpg');
    const p = await m.predict(line.file);
    assert.equal(line.instances.map((i) => [i.label, i.class, Math.fround(i.score)]), p.instances.map((i) => [i.label, i.category, Math.fround(i.score)]));
  } finally {
    await m.dispose();
  }
  // --classes by the file's names.
  const only = path.join(dir, 'only.jsonl');
  const r2 = await sotr(['predict', '-m', five, '-i', images, '-o', only, '--class-names', annFile, '--classes', 'cow,hen', ...SIZE]);
  assert.is(r2.code, 0, r2.stderr);
  assert.ok(readLines(only).flatMap((l) => l.instances).every((i) => i.class === 'cow' || i.class === 'hen'));
  // The same classes by label: the same settings (nothing to redo).
  const r3 = await sotr(['predict', '-m', five, '-i', images, '-o', only, '--class-names', annFile, '--classes', '4,2', '--device', 'cpu', '--min-size', '320']);
  assert.is(r3.code, 0, r3.stderr);
  assert.match(r3.stderr, /nothing to do/);
});

test('predict --class-names: a text file or a JSON array names the classes; ids stay label + 1', async () => {
  const txt = path.join(dir, 'names.txt');
  writeFileSync(txt, '\uFEFFa\r\nb b\n  c  \nd\ne\n\n\n');
  const arr = path.join(dir, 'names.json');
  writeFileSync(arr, JSON.stringify(['a', 'b b', 'c', 'd', 'e']));
  const got = [];
  for (const file of [txt, arr]) {
    const out = path.join(dir, `${path.basename(file)}.jsonl`);
    const r = await sotr(['predict', '-m', five, '-i', path.join(images, 'street.jpg'), '-o', out, '--class-names', file, ...SIZE]);
    assert.is(r.code, 0, r.stderr);
    const inst = readLines(out)[0].instances;
    assert.ok(inst.length > 0);
    for (const i of inst) assert.equal([i.class, i.category_id], [['a', 'b b', 'c', 'd', 'e'][i.label], i.label + 1]);
    got.push(inst);
  }
  assert.equal(got[0], got[1]);
});

test('predict --class-names: resuming with other names is refused; the same names from another file are not', async () => {
  const out = path.join(dir, 'resume.jsonl');
  const first = await sotr(['predict', '-m', five, '-i', path.join(images, 'grey.jpg'), '-o', out, '--class-names', annFile, ...SIZE]);
  assert.is(first.code, 0, first.stderr);
  const other = path.join(dir, 'other.txt');
  writeFileSync(other, 'v\nw\nx\ny\nz\n');
  const refused = await sotr(['predict', '-m', five, '-i', images, '-o', out, '--class-names', other, ...SIZE]);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /--class-names other\.txt: 5 classes, v, w, x, y, … \(the file: instances_val\.json: 5 classes, cat, dog, hen, zebra, … with category ids\)/);
  const none = await sotr(['predict', '-m', five, '-i', images, '-o', out, ...SIZE]);
  assert.is(none.code, 1);
  assert.match(none.stderr, /--class-names \(the checkpoint's\) \(the file: instances_val\.json/);
  // The same categories in another file (another order of the list, another name): the same settings.
  const copy = path.join(dir, 'copy.json');
  writeFileSync(copy, JSON.stringify({ categories: [...annotations.categories].reverse() }));
  const resumed = await sotr(['predict', '-m', five, '-i', images, '-o', out, '--class-names', copy, ...SIZE]);
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is(readLines(out).length, 4);
  // A record from before --class-names (no key) reads as the checkpoint's names.
  const older = path.join(dir, 'older.jsonl');
  assert.is((await sotr(['predict', '-m', five, '-i', path.join(images, 'grey.jpg'), '-o', older, ...SIZE])).code, 0);
  const rec = JSON.parse(readFileSync(`${older}.settings.json`, 'utf8'));
  assert.is(rec.classNames, null);
  delete rec.classNames;
  writeFileSync(`${older}.settings.json`, JSON.stringify(rec));
  const again = await sotr(['predict', '-m', five, '-i', path.join(images, 'grey.jpg'), '-o', older, '--device', 'cpu', '--min-size', '320']);
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stderr, /nothing to do/);
});

test('predict --class-names: usage errors name the file and what is wrong', async () => {
  const write = (name, text) => {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    return f;
  };
  const out = path.join(dir, 'errors.jsonl');
  const cases = [
    [write('two.txt', 'a\nb\n'), /--class-names .*two\.txt: 2 classes for a checkpoint that has 5$/m],
    [write('commas.txt', 'a, b, c, d, e\n'), /--class-names .*commas\.txt: 1 class for a checkpoint that has 5 \(one name a line: the file has one line, with commas\)/],
    [write('gap.txt', 'a\n\nb\nc\nd\ne\n'), /gap\.txt: line 2 is empty \(one class name a line, label 0 first\)/],
    [write('empty.txt', '\n\n'), /empty\.txt: no class names/],
    [write('broken.json', '{"categories": ['), /broken\.json: .*JSON/],
    [write('object.json', '{"names": ["a"]}'), /object\.json: expected a COCO annotations file .* or a JSON array of names/],
    [write('numbers.json', '["a", 2]'), /numbers\.json: entry 1 is not a class name/],
    [write('dup.json', '{"categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}'), /dup\.json: category id 1 is listed twice/],
    [write('noname.json', '{"categories": [{"id": 1, "name": "a"}, {"id": 3, "name": " "}]}'), /noname\.json: category id 3 has an empty name/],
    [path.join(dir, 'missing.txt'), /missing\.txt: ENOENT/],
  ];
  for (const [file, re] of cases) {
    const r = await sotr(['predict', '-m', five, '-i', path.join(images, 'grey.jpg'), '-o', out, '--class-names', file, ...SIZE]);
    assert.is(r.code, 1, `${file}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  // An output over the annotations would destroy them.
  const r = await sotr(['predict', '-m', five, '-i', path.join(images, 'grey.jpg'), '-o', out, '--class-names', annFile, '--coco', annFile, ...SIZE]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /--coco and --class-names are the same path/);
  assert.ok(readFileSync(annFile, 'utf8').includes('"zebra"'));
});

test.run();
