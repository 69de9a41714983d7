// `sotr predict --config`: the detectron2 config a checkpoint was trained with. Its post-processing and sizes fill in
// what no flag gives (a flag wins) and are recorded under their own keys; its network settings go to the model and
// are recorded under `config`; a config of another checkpoint, or one asking for what is not run, is a usage error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fakeSotr, sotr, root, readLines } from './helpers/run.mjs';

const { Sotr, readDetectron2Config, writeRandomSotrCheckpoint, readCheckpoint, writeSafetensors, storedSettingsMetadata, CheckpointFormatError, STORED_SETTINGS_KEY } = await import('../../dist/index.js');

const dir = mkdtempSync(path.join(tmpdir(), 'sotr-cli-config-'));
const five = path.join(dir, 'five.safetensors');
await writeRandomSotrCheckpoint(five, { preset: 'tiny', numClasses: 5, seed: 1 });
// The random model's most instances at these settings (10 above a 0.2 score).
const image = path.join(root, 'examples', 'images', 'grey.jpg');
const write = (name, text) => {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return f;
};
write('Base.yaml', 'MODEL:\n  META_ARCHITECTURE: "SOTR"\n  MASK_ON: True\nINPUT:\n  MIN_SIZE_TEST: 800\n');
const config = write(
  'config.yaml',
  '_BASE_: Base.yaml\nMODEL:\n  FPN:\n    OUT_CHANNELS: 16\n  SOTR:\n    NUM_CLASSES: 5\n    NUM_GRIDS: [36, 30, 24, 16, 12]\n    SCORE_THR: 0.2\n    NMS_PRE: 400\nINPUT:\n  MIN_SIZE_TEST: 320\n',
);
const settingsOf = (out) => JSON.parse(readFileSync(`${out}.settings.json`, 'utf8'));

test('predict --config: the instances of the API loaded with the same options, the settings recorded', async () => {
  const out = path.join(dir, 'a.jsonl');
  const r = await sotr(['predict', '-m', five, '-o', out, '--config', config, '--device', 'cpu', image]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /short side 320/);
  const s = settingsOf(out);
  assert.equal([s.minSize, s.scoreThreshold, s.nmsPre, s.config], [320, 0.2, 400, { file: 'config.yaml', network: { numGrids: [36, 30, 24, 16, 12] } }]);
  const c = await readDetectron2Config(config);
  const m = await Sotr.load(five, { device: 'cpu', onWarning: () => {}, ...c.options });
  try {
    const p = await m.predict(image);
    assert.ok(p.instances.length > 0);
    assert.equal(readLines(out)[0].instances.map((i) => [i.label, Math.fround(i.score)]), p.instances.map((i) => [i.label, Math.fround(i.score)]));
  } finally {
    await m.dispose();
  }
});

test('predict --config: a flag wins over the file; the linear kernel drops the sigma the file lists', async () => {
  const out = path.join(dir, 'b.jsonl');
  const r = await sotr(['predict', '-m', five, '-o', out, '--config', config, '--score-threshold', '0.3', '--min-size', '256', '--device', 'cpu', '-q', image]);
  assert.is(r.code, 0, r.stderr);
  const s = settingsOf(out);
  assert.equal([s.minSize, s.scoreThreshold, s.nmsPre], [256, 0.3, 400]);
  const linear = write('linear.yaml', 'MODEL:\n  SOTR:\n    NMS_KERNEL: linear\n    NMS_SIGMA: 2\n');
  const out2 = path.join(dir, 'c.jsonl');
  const r2 = await sotr(['predict', '-m', five, '-o', out2, '--config', linear, '--min-size', '320', '--device', 'cpu', '-q', image]);
  assert.is(r2.code, 0, r2.stderr);
  assert.equal([settingsOf(out2).nmsKernel, settingsOf(out2).nmsSigma, settingsOf(out2).config], ['linear', null, { file: 'linear.yaml', network: {} }]);
  const r3 = await sotr(['predict', '-m', five, '-o', path.join(dir, 'd.jsonl'), '--config', linear, '--nms-sigma', '3', '--device', 'cpu', image]);
  assert.is(r3.code, 1);
  assert.match(r3.stderr, /--nms-sigma is only used with the gaussian kernel, and --config .*linear\.yaml sets MODEL\.SOTR\.NMS_KERNEL linear/);
});

test('predict --config: resuming without it, or with other network settings, is refused; the same settings from another file are not', async () => {
  const out = path.join(dir, 'a.jsonl');
  const without = await sotr(['predict', '-m', five, '-o', out, '--min-size', '320', '--score-threshold', '0.2', '--nms-pre', '400', '--device', 'cpu', image]);
  assert.is(without.code, 1);
  assert.match(without.stderr, /--config \(none\) \(the file: config\.yaml: numGrids 36,30,24,16,12\)/);
  // The same values written out in one file, with the official grids restated elsewhere: the same settings.
  const same = write('same.yaml', 'MODEL:\n  PIXEL_MEAN: [103.53, 116.28, 123.675]\n  SOTR:\n    NUM_GRIDS: [36, 30, 24, 16, 12]\n    SCORE_THR: 0.2\n    NMS_PRE: 400\nINPUT:\n  MIN_SIZE_TEST: 320\n');
  const r = await sotr(['predict', '-m', five, '-o', out, '--config', same, '--device', 'cpu', image]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /nothing to do/);
});

test('predict --config: a config of another checkpoint, or asking for what is not run, is a usage error', async () => {
  const cases = [
    [write('other.yaml', 'MODEL:\n  SOTR:\n    NUM_CLASSES: 80\n'), /--config .*other\.yaml: the config is not this checkpoint's: MODEL\.SOTR\.NUM_CLASSES 80 \(the checkpoint's classes: 5\)/],
    [write('yuv.yaml', 'INPUT:\n  FORMAT: YUV-BT.601\n'), /--config .*yuv\.yaml: INPUT\.FORMAT: "YUV-BT\.601" is not supported/],
    [write('broken.yaml', 'MODEL: [\n'), /--config .*broken\.yaml: not valid YAML/],
    [path.join(dir, 'missing.yaml'), /--config .*missing\.yaml: ENOENT/],
  ];
  for (const [file, re] of cases) {
    const out = path.join(dir, 'err.jsonl');
    const r = await sotr(['predict', '-m', five, '-o', out, '--config', file, '--device', 'cpu', image]);
    assert.is(r.code, 1, `${file}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  // An output over the config would destroy it.
  const r = await sotr(['predict', '-m', five, '-o', path.join(dir, 'e.jsonl'), '--config', config, '--coco', config, '--device', 'cpu', image]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /--coco and --config are the same path/);
  assert.match(readFileSync(config, 'utf8'), /NUM_GRIDS/);
});

test('convert --config --class-names: the settings stored in the file, used by predict (flags still win)', async () => {
  const ann = write('ann.json', JSON.stringify({ categories: ['e', 'd', 'c', 'b', 'a'].map((name, i) => ({ id: 10 - i, name })) }));
  const stored = path.join(dir, 'stored.safetensors');
  const c = await sotr(['convert', five, stored, '--config', config, '--class-names', ann]);
  assert.is(c.code, 0, c.stderr);
  assert.match(c.stderr, /storing settings: minSize 320, numGrids 36,30,24,16,12, scoreThreshold 0\.2, nmsPre 400, 5 class names \(a, b, c, …\) with category ids/);
  const i = await sotr(['inspect', stored]);
  assert.is(i.code, 0, i.stderr);
  assert.match(i.stdout, /stored settings \(Sotr\.load and sotr predict use them unless told otherwise\): minSize 320/);
  assert.match(i.stdout, /test short side 320/);
  const j = JSON.parse((await sotr(['inspect', stored, '--json'])).stdout);
  assert.equal([j.storedSettings.numGrids, j.storedSettings.cocoCategoryIds, j.config.minSize], [[36, 30, 24, 16, 12], [6, 7, 8, 9, 10], 320]);
  // predict with the file alone: the same lines as with --config and --class-names on the plain checkpoint.
  const a = path.join(dir, 'stored.jsonl');
  const b = path.join(dir, 'given.jsonl');
  assert.is((await sotr(['predict', '-m', stored, '-o', a, '--device', 'cpu', '-q', image])).code, 0);
  assert.is((await sotr(['predict', '-m', five, '-o', b, '--config', config, '--class-names', ann, '--device', 'cpu', '-q', image])).code, 0);
  const strip = (l) => ({ ...l, ms: 0 });
  assert.equal(readLines(a).map(strip), readLines(b).map(strip));
  assert.ok(readLines(a)[0].instances.every((x) => 'abcde'.includes(x.class) && x.category_id >= 6 && x.category_id <= 10));
  const s = settingsOf(a);
  assert.equal([s.minSize, s.scoreThreshold, s.config.network, s.classNames.names], [320, 0.2, { numGrids: [36, 30, 24, 16, 12] }, ['a', 'b', 'c', 'd', 'e']]);
  // A flag wins over the stored value.
  const f = path.join(dir, 'flag.jsonl');
  assert.is((await sotr(['predict', '-m', stored, '-o', f, '--score-threshold', '0.5', '--device', 'cpu', '-q', image])).code, 0);
  assert.is(settingsOf(f).scoreThreshold, 0.5);
  // A constant with no flag (stored through the API) is recorded too: a file that stores other heads is another model.
  const { readCheckpoint, writeSafetensors, storedSettingsMetadata } = await import('../../dist/index.js');
  const heads = path.join(dir, 'heads.safetensors');
  await writeSafetensors(heads, await readCheckpoint(five), storedSettingsMetadata({ heads: 4, minSize: 320 }));
  const h = path.join(dir, 'heads.jsonl');
  assert.is((await sotr(['predict', '-m', heads, '-o', h, '--device', 'cpu', '-q', image])).code, 0);
  assert.equal(settingsOf(h).config.network, { heads: 4 });
  // Converting the converted file keeps its settings.
  const again = path.join(dir, 'again.safetensors');
  assert.is((await sotr(['convert', stored, again, '-q'])).code, 0);
  assert.match((await sotr(['inspect', again])).stdout, /stored settings .*minSize 320.*5 class names/);
});

test('predict --config over stored settings: its values win, defaults too; names without ids drop the stored ids', async () => {
  const ann = write('ann7.json', JSON.stringify({ categories: ['e', 'd', 'c', 'b', 'a'].map((name, i) => ({ id: 10 - i, name })) }));
  const stored = path.join(dir, 'stored7.safetensors');
  const sized = write('sized.yaml', `_BASE_: config.yaml\nINPUT:\n  MAX_SIZE_TEST: 512\n`);
  assert.is((await sotr(['convert', five, stored, '--config', sized, '--class-names', ann, '-q'])).code, 0);
  // The stored grids are not the defaults; this config restates the defaults, which must replace them.
  const defaults = write('defaults.yaml', 'MODEL:\n  SOTR:\n    NUM_GRIDS: [40, 36, 24, 16, 12]\n    SCORE_THR: 0.2\nINPUT:\n  MIN_SIZE_TEST: 320\n');
  const a = path.join(dir, 'over.jsonl');
  const b = path.join(dir, 'plain-defaults.jsonl');
  assert.is((await sotr(['predict', '-m', stored, '-o', a, '--config', defaults, '--max-size', '512', '--device', 'cpu', '-q', image])).code, 0);
  assert.is((await sotr(['predict', '-m', five, '-o', b, '--config', defaults, '--max-size', '512', '--class-names', ann, '--device', 'cpu', '-q', image])).code, 0);
  const strip = (l) => ({ ...l, ms: 0 });
  assert.equal(readLines(a).map(strip), readLines(b).map(strip));
  assert.equal(settingsOf(a).config.network, {});
  // Class names without ids: category_id is label + 1, as recorded, not the stored ids of the stored names.
  const names = write('names7.txt', 'p\nq\nr\ns\nt\n');
  const c = path.join(dir, 'renamed.jsonl');
  assert.is((await sotr(['predict', '-m', stored, '-o', c, '--class-names', names, '--device', 'cpu', '-q', image])).code, 0);
  assert.is(settingsOf(c).classNames.categoryIds, null);
  const inst = readLines(c)[0].instances;
  assert.ok(inst.length > 0);
  assert.ok(inst.every((x) => x.category_id === x.label + 1 && x.class === 'pqrst'[x.label]), JSON.stringify(inst.map((x) => [x.label, x.category_id])));
  // A stored long-side cap below a --min-size given: the message says where the cap comes from.
  const r = await sotr(['predict', '-m', stored, '-o', path.join(dir, 'big.jsonl'), '--min-size', '800', '--device', 'cpu', image]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /--max-size \(512 from stored7\.safetensors's stored settings\) is below --min-size \(800\): give --max-size too/);
  // --config's cap over the stored one: named with its file and key (the message used to name both files, no key).
  const cap = write('cap600.yaml', 'INPUT:\n  MAX_SIZE_TEST: 600\n');
  const r2 = await sotr(['predict', '-m', stored, '-o', path.join(dir, 'big2.jsonl'), '--config', cap, '--min-size', '800', '--device', 'cpu', image]);
  assert.is(r2.code, 1);
  assert.match(r2.stderr, /--max-size \(600 from \S*cap600\.yaml INPUT\.MAX_SIZE_TEST\) is below --min-size \(800\): give --max-size too/);
});

test('a class name several classes share selects each of them', async () => {
  const m = await Sotr.load(five, { device: 'cpu', onWarning: () => {}, classNames: ['person', 'dog', 'dog', 'cat', 'car, red'], classes: ['dog'] });
  try {
    assert.equal(m.config.classes, [1, 2]);
  } finally {
    await m.dispose();
  }
  // A name holding a comma is listed quoted (unquoted it reads as two).
  const e = await Sotr.load(five, { device: 'cpu', onWarning: () => {}, classNames: ['person', 'dog', 'dog', 'cat', 'car, red'], classes: ['car'] }).then(() => null, (x) => x);
  assert.match(e?.message ?? '', /"cat", "car, red"/);
});

test('convert: settings not this checkpoint\'s are refused before anything is written', async () => {
  const out = path.join(dir, 'refused.safetensors');
  const other = write('other80.yaml', 'MODEL:\n  SOTR:\n    NUM_CLASSES: 80\n');
  const r1 = await sotr(['convert', five, out, '--config', other]);
  assert.is(r1.code, 1);
  assert.match(r1.stderr, /--config .*other80\.yaml: the config is not this checkpoint's: MODEL\.SOTR\.NUM_CLASSES 80 \(the checkpoint's classes: 5\); nothing written/);
  const names = write('three.txt', 'a\nb\nc\n');
  const r2 = await sotr(['convert', five, out, '--class-names', names]);
  assert.is(r2.code, 1);
  assert.match(r2.stderr, /--class-names .*three\.txt: 3 classes for a checkpoint that has 5; nothing written/);
  // Said as predict says it (one wording, from the load error's details): with predict's hint for a one-line list.
  const commas = write('commas.txt', 'a, b, c, d, e\n');
  const r5 = await sotr(['convert', five, out, '--class-names', commas]);
  assert.is(r5.code, 1);
  assert.match(r5.stderr, /--class-names .*commas\.txt: 1 class for a checkpoint that has 5 \(one name a line: the file has one line, with commas\); nothing written/);
  assert.not.ok(existsSync(out));
  // A misspelt SOTR key is refused, as detectron2 refuses it.
  const typo = write('typo.yaml', 'MODEL:\n  SOTR:\n    SCORE_THRESH: 0.3\n');
  const r4 = await sotr(['convert', five, out, '--config', typo]);
  assert.is(r4.code, 1);
  assert.match(r4.stderr, /typo\.yaml: MODEL\.SOTR\.SCORE_THRESH: not a key of AdelaiDet's SOTR config/);
  const r3 = await sotr(['convert', five, out, '--config', path.join(dir, 'nope.yaml')]);
  assert.is(r3.code, 1);
  assert.match(r3.stderr, /--config .*nope\.yaml: ENOENT/);
  assert.not.ok(existsSync(out));
});

test('storedClassNames: stored names that are not an array are left to Sotr.load (a string is not split into letters)', async () => {
  const { storedClassNames } = await import('../../dist/cli/model_config.js');
  assert.is(storedClassNames('m.safetensors', { classNames: 'abc' }), undefined);
  assert.is(storedClassNames('m.safetensors', null), undefined);
  assert.equal(storedClassNames('m.safetensors', { classNames: ['a', 'b'], cocoCategoryIds: 'x' }), { file: "m.safetensors's stored settings", names: ['a', 'b'], categoryIds: null });
  assert.equal(storedClassNames('m.safetensors', { classNames: ['a', 'b'], cocoCategoryIds: [3, 7] }).categoryIds, [3, 7]);
});

test('predict: a safetensors model whose header or stored settings are damaged is refused before the run, as the load refuses it', async () => {
  const { readModelStoredSettings } = await import('../../dist/cli/model_config.js');
  // A safetensors file: the 8-byte header length, then the header.
  const safetensors = (name, header, length = header.length) => {
    const f = path.join(dir, name);
    const b = Buffer.alloc(8 + header.length);
    b.writeBigUInt64LE(BigInt(length));
    b.write(header, 8);
    writeFileSync(f, b);
    return f;
  };
  const badSettings = path.join(dir, 'bad-settings.safetensors');
  await writeSafetensors(badSettings, await readCheckpoint(five), { [STORED_SETTINGS_KEY]: '{"version": 1, "settings": ' });
  const cases = [
    [safetensors('unclosed.safetensors', '{"__metadata__": {"a": "b"}'), /unclosed\.safetensors: invalid safetensors file: header is not valid JSON/],
    [safetensors('huge.safetensors', '{}', 17 * 1024 * 1024), /huge\.safetensors: invalid safetensors file: header of 17825792 bytes is over the limit of 16777216/],
    [safetensors('array.safetensors', '[1, 2]'), /array\.safetensors: invalid safetensors file: header is a JSON array/],
    [badSettings, /bad-settings\.safetensors: its stored settings \(metadata 'sotr_settings'\) are not JSON/],
  ];
  for (const [file, re] of cases) {
    // The error the load gives (readCheckpoint for the header, Sotr.load for the stored settings).
    const loadError = await Sotr.load(file, { device: 'cpu', onWarning: () => {} }).then(() => null, (x) => x);
    assert.instance(loadError, CheckpointFormatError, file);
    assert.match(loadError.message, re);
    const e = await readModelStoredSettings(file).then(() => null, (x) => x);
    assert.instance(e, CheckpointFormatError, file);
    assert.is(e.message, loadError.message);
    // Before any output, whatever the model behind predict (the stand-in model reads no file).
    const out = path.join(dir, `${path.basename(file)}.jsonl`);
    const r = await fakeSotr(['predict', '-m', file, '-i', image, '-o', out, '-q']);
    assert.is(r.code, 1, r.stderr);
    assert.ok(r.stderr.includes(`[SOTR_CHECKPOINT_FORMAT] ${loadError.message}`), r.stderr);
    assert.not.ok(existsSync(out) || existsSync(`${out}.settings.json`));
  }
  // Left to the load (which says what is wrong), or no settings: a file not there, a folder, torch files, a file of no
  // checkpoint format, an empty file, a safetensors file without settings.
  const fixtures = path.join(root, 'tests', 'fixtures', 'model');
  for (const file of [path.join(dir, 'nope.safetensors'), dir, path.join(fixtures, 'tiny_sotr.pth'), path.join(fixtures, 'tiny_sotr_legacy.pth'), write('notes.txt', 'hello, world'), write('empty.safetensors', ''), five]) {
    assert.is(await readModelStoredSettings(file), null, file);
  }
  const stored = path.join(dir, 'stored-read.safetensors');
  await writeSafetensors(stored, await readCheckpoint(five), storedSettingsMetadata({ heads: 4, minSize: 320 }));
  assert.equal(await readModelStoredSettings(stored), { heads: 4, minSize: 320 });
});

test.run();
