// Settings stored in a safetensors checkpoint (metadata 'sotr_settings', storedSettingsMetadata / sotr convert
// --config --class-names): Sotr.load applies them under its own options (an option given wins; useStoredSettings:
// false ignores them), inspectCheckpoint reports them, and a file whose stored settings cannot be read is a
// CheckpointFormatError naming the key (an inspection reports it as configError).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  Sotr,
  inspectCheckpoint,
  readCheckpoint,
  readStoredSettings,
  storedSettingsMetadata,
  writeSafetensors,
  STORED_SETTINGS_KEY,
  CheckpointFormatError,
  SotrTypeError,
} from '../../dist/index.js';
import { fixturePath, instanceSummary } from './helpers.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'sotr-stored-'));
const tensors = await readCheckpoint(fixturePath('tiny_sotr.pth'));
const SETTINGS = { minSize: 64, maxSize: 400, numGrids: [20, 18, 12, 8, 6], scoreThreshold: 0.15, classNames: Array.from({ length: 80 }, (_, i) => `thing ${i}`) };
const withSettings = path.join(dir, 'stored.safetensors');
await writeSafetensors(withSettings, tensors, { ...storedSettingsMetadata(SETTINGS), other: 'kept' });
const plain = path.join(dir, 'plain.safetensors');
await writeSafetensors(plain, tensors);
const img = fixturePath('img_land.png');
const quiet = { device: 'cpu', onWarning: () => {} };

async function predictWith(file, options) {
  const m = await Sotr.load(file, { ...quiet, ...options });
  try {
    return { config: m.config, summary: instanceSummary(await m.predict(img)), categories: (await m.predict(img)).instances.map((i) => i.category) };
  } finally {
    await m.dispose();
  }
}

test('Sotr.load applies the stored settings: as if given, under the options given, ignored on request', async () => {
  const stored = await predictWith(withSettings, {});
  const given = await predictWith(plain, SETTINGS);
  assert.equal([stored.config.minSize, stored.config.numGrids, stored.config.scoreThreshold, stored.config.classNames[3]], [64, [20, 18, 12, 8, 6], 0.15, 'thing 3']);
  assert.equal(stored.summary, given.summary);
  assert.ok(stored.categories.every((c) => c.startsWith('thing ')));
  // An option given wins (undefined is not given).
  const over = await predictWith(withSettings, { scoreThreshold: 0.3, minSize: undefined });
  assert.equal([over.config.scoreThreshold, over.config.minSize], [0.3, 64]);
  // useStoredSettings: false: the file's weights only.
  const ignored = await predictWith(withSettings, { minSize: 64, maxSize: 400, useStoredSettings: false });
  assert.equal([ignored.config.numGrids, ignored.config.classNames[0]], [[40, 36, 24, 16, 12], 'person']);
  assert.equal(ignored.summary, (await predictWith(plain, { minSize: 64, maxSize: 400 })).summary);
  const e = await Sotr.load(withSettings, { ...quiet, useStoredSettings: 'no' }).then(() => null, (x) => x);
  assert.instance(e, SotrTypeError);
  assert.match(e.message, /useStoredSettings must be a boolean, received "no"/);
});

test('class names given without category ids replace the stored names and ids both', async () => {
  const ids = Array.from({ length: 80 }, (_, i) => 1000 + i);
  const file = path.join(dir, 'ids.safetensors');
  await writeSafetensors(file, tensors, storedSettingsMetadata({ classNames: SETTINGS.classNames, cocoCategoryIds: ids }));
  const names = Array.from({ length: 80 }, (_, i) => `other ${i}`);
  const m = await Sotr.load(file, { ...quiet, classNames: names });
  try {
    // Not the stored ids of the stored names: the 80-class default (COCO's), as for a file without stored settings.
    assert.equal([m.config.classNames[0], m.config.cocoCategoryIds[0], m.config.cocoCategoryIds[79]], ['other 0', 1, 90]);
  } finally {
    await m.dispose();
  }
  const kept = await Sotr.load(file, { ...quiet, scoreThreshold: 0.2 });
  try {
    assert.equal([kept.config.classNames[0], kept.config.cocoCategoryIds[0]], ['thing 0', 1000]);
  } finally {
    await kept.dispose();
  }
  const both = await inspectCheckpoint(file, { classNames: names });
  assert.is(both.config.cocoCategoryIds[0], 1);
});

test('inspectCheckpoint reports them; readStoredSettings reads them from metadata', async () => {
  const x = await inspectCheckpoint(withSettings);
  assert.equal(x.storedSettings, SETTINGS);
  assert.is(x.config.minSize, 64);
  assert.is((await inspectCheckpoint(withSettings, { useStoredSettings: false })).config.minSize, 800);
  assert.is((await inspectCheckpoint(plain)).storedSettings, null);
  assert.equal(readStoredSettings(storedSettingsMetadata({ nmsPre: 10 })), { nmsPre: 10 });
  assert.is(readStoredSettings({ other: 'x' }), null);
  assert.is(STORED_SETTINGS_KEY, 'sotr_settings');
});

test('stored settings that cannot be read: a CheckpointFormatError at load, configError when inspected', async () => {
  const cases = [
    ['{"version": 1, "settings": ', /are not JSON/],
    ['[1, 2]', /are not \{"version", "settings": \{\.\.\.\}\}/],
    ['{"version": 2, "settings": {}}', /have version 2, and this version of the library reads 1 \(written by a newer one\?\)/],
    ['{"version": 1, "settings": {"minSize": 640, "tta": true}}', /name 'tta', not a setting of this version of the library/],
  ];
  for (const [text, re] of cases) {
    const f = path.join(dir, 'bad.safetensors');
    await writeSafetensors(f, tensors, { [STORED_SETTINGS_KEY]: text });
    const e = await Sotr.load(f, quiet).then(() => null, (x) => x);
    assert.instance(e, CheckpointFormatError, text);
    assert.match(e.message, /bad\.safetensors: its stored settings \(metadata 'sotr_settings'\) /);
    assert.match(e.message, re);
    const x = await inspectCheckpoint(f);
    assert.is(x.config, null);
    assert.match(x.configError, re);
    // Ignoring them loads the weights.
    const m = await Sotr.load(f, { ...quiet, useStoredSettings: false });
    await m.dispose();
  }
  // A stored value out of range: the load's own message.
  const f = path.join(dir, 'range.safetensors');
  await writeSafetensors(f, tensors, storedSettingsMetadata({ numGrids: [1, 2] }));
  const e = await Sotr.load(f, quiet).then(() => null, (x) => x);
  assert.match(e.message, /numGrids must list 5 grid sizes.* \(numGrids is the file's stored setting: pass numGrids, or useStoredSettings: false\)/);
  // Given by the caller, the value is the caller's: no such hint.
  const e2 = await Sotr.load(plain, { ...quiet, numGrids: [1, 2] }).then(() => null, (x) => x);
  assert.not.match(e2.message, /stored setting/);
  assert.throws(() => storedSettingsMetadata({ numGrid: [1] }), (x) => x instanceof SotrTypeError && /numGrid/.test(x.message));
});

test.run();
