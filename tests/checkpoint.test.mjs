// Checkpoint reader: torch.save zip / legacy files, safetensors, SOTR config inference.
// Fixtures: tests/fixtures/checkpoints/, made by tests/reference/make_checkpoint_fixtures.py (torch not needed here).
// Run: npx tsc -p tsconfig.json && node tests/checkpoint.test.mjs
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  readCheckpoint,
  readCheckpointWithInfo,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
  inferSotrConfig,
  expectedSotrKeys,
  checkSotrKeys,
} from '../dist/checkpoint/index.js';
import { FIXTURE_DIR, loadFixture } from './helpers/fixture.mjs';
import { Pickle, f32bytes, makeZip, safetensorsBytes, stateDictPickle, torchLegacy, torchZip } from './helpers/checkpoint-craft.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CK = path.join(FIXTURE_DIR, 'checkpoints');
const ck = (f) => path.join(CK, f);
const TMP = mkdtempSync(path.join(tmpdir(), 'sotr-ckpt-test-'));
process.on('exit', () => rmSync(TMP, { recursive: true, force: true }));

const CTOR = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array, int64: BigInt64Array,
  int32: Int32Array, int16: Int16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

/** Central directory records of a zip: name -> offset of the record (local header offset at +42). */
function cdRecords(buf) {
  const eocd = buf.lastIndexOf(Buffer.from('PK\x05\x06', 'latin1'));
  const n = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = new Map();
  for (let i = 0; i < n; i++) {
    const nlen = buf.readUInt16LE(p + 28);
    out.set(buf.toString('utf8', p + 46, p + 46 + nlen), p);
    p += 46 + nlen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return out;
}

const bytesOf = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

async function rejects(promise, check, what) {
  let err = null;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err !== null, `${what}: expected an error`);
  check(err);
  return err;
}

const codeIs = (code, re) => (e) => {
  assert.is(e.code, code, `${e.code}: ${e.message}`);
  if (re) assert.match(e.message, re);
};

// ------------------------------------------------------------------ basic fixtures, exact values

const expected = loadFixture('checkpoints/basic_expected');
const expShapes = JSON.parse(expected.meta.shapes);
const expDtypes = JSON.parse(expected.meta.dtypes);

function checkBasic(tensors, label) {
  assert.equal([...tensors.keys()], Object.keys(expShapes), `${label}: keys in file order`);
  for (const [name, e] of tensors) {
    assert.is(e.dtype, expDtypes[name], `${label} ${name} dtype`);
    assert.equal(e.shape, expShapes[name], `${label} ${name} shape`);
    assert.ok(e.data instanceof CTOR[e.dtype], `${label} ${name}: ${e.data.constructor.name} for ${e.dtype}`);
    const want = expected.tensors[name].data;
    assert.is(e.data.length, want.length, `${label} ${name} length`);
    if (e.dtype === 'int16' || e.dtype === 'int8') {
      assert.equal(Array.from(e.data), Array.from(want), `${label} ${name} values`);
    } else {
      assert.ok(bytesOf(e.data).equals(bytesOf(want)), `${label} ${name}: bytes differ`);
    }
  }
}

test('basic zip fixture: every dtype, views, strides, shared storages, 0-dim, cuda location', async () => {
  const { tensors, info } = await readCheckpointWithInfo(ck('basic_zip.pth'));
  checkBasic(tensors, 'zip');
  assert.is(info.format, 'torch-zip');
  assert.equal(info.locations, ['cuda:0']);
  assert.is(info.stateDictKey, null);
  // contiguous views share the storage read from disk; a small slice of a large storage is copied out
  assert.is(tensors.get('f32_rows').data.buffer, tensors.get('f32').data.buffer);
  assert.is(tensors.get('f32_rows').data.byteOffset, 5 * 4);
  assert.is(tensors.get('f32_small_slice').data.buffer.byteLength, 12);
  assert.equal(Array.from(tensors.get('f32_expand').data), [1.5, -2.25, 3, 1.5, -2.25, 3, 1.5, -2.25, 3, 1.5, -2.25, 3]);
  assert.equal(tensors.get('gate').shape, []);
  assert.equal(Array.from(tensors.get('gate').data), [0.375]);
  assert.equal(tensors.get('i64').data[0 * 3 + 2], 2n ** 62n + 3n);
  assert.equal(tensors.get('i64').data[1 * 3 + 0], -(2n ** 63n));
  const sp = tensors.get('f32_special').data;
  assert.ok(Number.isNaN(sp[0]) && sp[1] === Infinity && sp[2] === -Infinity && Object.is(sp[3], -0));
  assert.equal(tensors.get('empty').shape, [0, 3]);
  assert.is(tensors.get('empty').data.length, 0);
});

test('basic legacy fixture gives the same tensors', async () => {
  const { tensors, info } = await readCheckpointWithInfo(ck('basic_legacy.pth'));
  checkBasic(tensors, 'legacy');
  assert.is(info.format, 'torch-legacy');
  assert.equal(info.locations, ['cuda:0']);
});

test('wrapped training checkpoint: model only, module. stripped, optimizer storages never read', async () => {
  const bare = await readCheckpointWithInfo(ck('basic_zip.pth'));
  const { tensors, info } = await readCheckpointWithInfo(ck('basic_wrapped_zip.pth'));
  checkBasic(tensors, 'wrapped');
  assert.is(info.stateDictKey, 'model');
  assert.equal(info.ignoredEntries, ['optimizer', 'scheduler', 'iteration']);
  assert.is(info.strippedKeys, tensors.size);
  assert.is(info.storageBytes, bare.info.storageBytes);
  // keeping the prefix is possible
  const kept = await readCheckpoint(ck('basic_wrapped_zip.pth'), { stripPrefixes: [] });
  assert.ok([...kept.keys()].every((k) => k.startsWith('module.')));
  await rejects(readCheckpoint(ck('basic_wrapped_zip.pth'), { stateDictKey: 'ema' }), codeIs('SOTR_CHECKPOINT_FORMAT', /'ema'/), 'missing stateDictKey');
});

test('a buffer in memory reads like the file', async () => {
  for (const f of ['basic_zip.pth', 'basic_legacy.pth', 'basic_expected.safetensors']) {
    const a = await readCheckpoint(ck(f));
    const b = await readCheckpoint(readFileSync(ck(f)));
    assert.equal([...a.keys()], [...b.keys()]);
    for (const [k, v] of a) assert.ok(bytesOf(v.data).equals(bytesOf(b.get(k).data)), `${f} ${k}`);
  }
});

test('checksums: full verification passes on good files, catches a flipped storage byte', async () => {
  await readCheckpoint(ck('tiny_sotr_zip.pth'), { verifyChecksums: true });
  const buf = Buffer.from(readFileSync(ck('basic_zip.pth')));
  // flip one byte of storage data: find the 'f32' storage record's data via its known first value
  const first = Buffer.alloc(4);
  first.writeFloatLE(expected.tensors.f32.data[0]);
  const at = buf.indexOf(first);
  assert.ok(at > 0);
  buf[at] ^= 1;
  const loose = await readCheckpoint(buf); // default checks metadata only
  assert.is.not(loose.get('f32').data[0], expected.tensors.f32.data[0]);
  await rejects(readCheckpoint(buf, { verifyChecksums: true }), codeIs('SOTR_CHECKPOINT_FORMAT', /CRC/), 'crc');
});

// ------------------------------------------------------------------ tiny SOTR fixtures and config inference

const tinyMeta = JSON.parse(readFileSync(ck('tiny_sotr_config.json'), 'utf8'));

function formulaValue(key, i) {
  let h = 0;
  for (const ch of key) h += ch.charCodeAt(0);
  h %= 97;
  return (((i * 37 + h) % 255) - 127) / 64;
}

function checkTiny(tensors, label) {
  assert.is(tensors.size, tinyMeta.keys, `${label}: tensor count`);
  let bytes = 0;
  for (const [k, e] of tensors) {
    assert.is(e.dtype, 'float32');
    bytes += e.data.byteLength;
    for (let i = 0; i < e.data.length; i++) {
      if (e.data[i] !== formulaValue(k, i)) assert.unreachable(`${label} ${k}[${i}] = ${e.data[i]}, expected ${formulaValue(k, i)}`);
    }
  }
  assert.is(bytes, tinyMeta.modelBytes);
}

test('tiny SOTR: zip (bare) and legacy (wrapped, module., cuda) give identical exact values', async () => {
  const z = await readCheckpointWithInfo(ck('tiny_sotr_zip.pth'));
  const l = await readCheckpointWithInfo(ck('tiny_sotr_wrapped_legacy.pth'));
  checkTiny(z.tensors, 'zip');
  checkTiny(l.tensors, 'legacy');
  assert.equal([...z.tensors.keys()], [...l.tensors.keys()]);
  assert.is(l.info.stateDictKey, 'model');
  assert.equal(l.info.ignoredEntries, ['optimizer', 'scheduler', 'iteration']);
  assert.equal(l.info.locations, ['cuda:0']);
  assert.is(l.info.storageBytes, tinyMeta.modelBytes); // optimizer momentum buffers were not read
});

test('tiny SOTR: configuration inferred from names and shapes', async () => {
  const t = await readCheckpoint(ck('tiny_sotr_zip.pth'));
  const c = inferSotrConfig(t);
  const m = tinyMeta.config;
  assert.equal(c.blocksPerStage, m.blocks);
  assert.is(c.resnetDepth, 3 * m.blocks.reduce((a, b) => a + b) + 2);
  assert.is(c.stemChannels, m.stem);
  assert.equal(c.bottleneckChannels, m.bottleneck);
  assert.equal(c.stageOutChannels, m.out);
  const dcn = m.blocks.map((n, s) => Array.from({ length: n }, (_, b) => m.dcn.some(([ss, bb]) => ss === s && bb === b)));
  assert.equal(c.dcnBlocks, dcn);
  assert.is(c.fpnChannels, m.fpn);
  assert.is(c.transformerDepth, m.depth);
  assert.is(c.transformerWidth, m.fpn);
  assert.is(c.numClasses, m.classes);
  assert.is(c.maskChannels, m.mask_channels);
  assert.is(c.numMasks, m.num_masks);
  assert.is(c.numKernels, m.num_masks);
  assert.is(c.kernelSize, 1);
  assert.equal(c.problems, { missing: [], unexpected: [], misshaped: [] });
  const exp = expectedSotrKeys(c);
  assert.is(exp.size, t.size);
  for (const [k, s] of exp) assert.equal(t.get(k).shape, s, k);
  assert.is(checkSotrKeys(t).fpnChannels, m.fpn);
});

test('missing, unexpected and mis-shaped keys are all reported at once', async () => {
  const t = await readCheckpoint(ck('tiny_sotr_zip.pth'));
  const broken = new Map(t);
  broken.delete('backbone.bottom_up.res3.1.conv2.norm.running_var');
  broken.delete('cate_head.transformer.layers.blocks.3.1.g');
  broken.set('backbone.bottom_up.res2.0.conv2_offset.weight_typo', { shape: [27, 2, 3, 3], dtype: 'float32', data: new Float32Array(486) });
  broken.set('pos_emb.params.0', { shape: [1, 4, 5, 1], dtype: 'float32', data: new Float32Array(20) });
  const kp = t.get('mask_head.conv_pred.1.bias');
  broken.set('mask_head.conv_pred.1.bias', { ...kp, shape: [kp.shape[0] + 1] });
  broken.set('cate_head.transformer.layers.blocks.0.0.fn.g', { shape: [1], dtype: 'float32', data: new Float32Array(1) });
  const c = inferSotrConfig(broken);
  assert.equal(c.problems.missing.sort(), ['backbone.bottom_up.res3.1.conv2.norm.running_var', 'cate_head.transformer.layers.blocks.3.1.g']);
  assert.equal(c.problems.unexpected.sort(), ['backbone.bottom_up.res2.0.conv2_offset.weight_typo', 'pos_emb.params.0']);
  assert.equal(c.problems.misshaped.map((p) => p.key).sort(), ['cate_head.transformer.layers.blocks.0.0.fn.g', 'mask_head.conv_pred.1.bias']);
  const err = (() => {
    try {
      checkSotrKeys(broken);
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err, 'checkSotrKeys throws');
  assert.is(err.code, 'SOTR_CHECKPOINT_KEYS');
  assert.is(err.name, 'CheckpointKeyError');
  for (const k of ['res3.1.conv2.norm.running_var', 'blocks.3.1.g', 'weight_typo', 'pos_emb.params.0', 'conv_pred.1.bias', 'blocks.0.0.fn.g']) {
    assert.ok(err.message.includes(k), `message names ${k}`);
  }
  assert.is(err.details.missing.length, 2);
  assert.is(err.details.misshaped.length, 2);
  // a stage without any key falls back to the R50 defaults and reports everything it misses
  const noRes5 = new Map([...t].filter(([k]) => !k.includes('.res5.')));
  const c5 = inferSotrConfig(noRes5);
  assert.ok(c5.problems.missing.includes('backbone.bottom_up.res5.0.conv1.weight'));
  assert.ok(c5.problems.misshaped.some((p) => p.key === 'backbone.fpn_lateral5.weight'));
});

const R50 = {
  blocksPerStage: [3, 4, 6, 3], stemChannels: 64, bottleneckChannels: [64, 128, 256, 512],
  stageOutChannels: [256, 512, 1024, 2048], dcnBlocks: [[], [], [], []], fpnChannels: 256, transformerDepth: 12,
  numClasses: 80, numKernels: 256, maskChannels: 128, numMasks: 256,
};

test('expectedSotrKeys: R50 list of the architecture notes, R101 and R101-DCN counts', () => {
  const m = expectedSotrKeys(R50);
  const lines = [...m].map(([k, s]) => `${k} (${s.join(', ')}${s.length === 1 ? ',' : ''})`);
  assert.is(lines.length, 549);
  // sha256 of the sorted lines of docs/sotr-r50-keys.txt (shared architecture notes)
  const hash = createHash('sha256').update([...lines].sort().join('\n')).digest('hex');
  assert.is(hash, '8e3f35785db6e831a1d424550f16d731ecd654b9309c12bcb52a431ad6ae38fc');
  const doc = path.join(HERE, '..', '..', 'shared', 'docs', 'sotr-r50-keys.txt');
  if (existsSync(doc)) assert.equal(lines, readFileSync(doc, 'utf8').trim().split('\n'));
  assert.is(expectedSotrKeys({ ...R50, blocksPerStage: [3, 4, 23, 3] }).size, 804);
  const dcn = [[false, false, false], [true, true, true, true], Array(23).fill(true), [true, true, true]];
  const d = expectedSotrKeys({ ...R50, blocksPerStage: [3, 4, 23, 3], dcnBlocks: dcn });
  assert.is(d.size, 864);
  assert.equal(d.get('backbone.bottom_up.res4.22.conv2_offset.weight'), [27, 256, 3, 3]);
  // inference on a shape-only R101-DCN map round-trips
  const shapes = new Map([...d].map(([k, s]) => [k, { shape: s }]));
  const c = inferSotrConfig(shapes);
  assert.is(c.resnetDepth, 101);
  assert.equal(c.dcnBlocks, dcn);
  assert.is(c.transformerDepth, 12);
  assert.equal(c.problems, { missing: [], unexpected: [], misshaped: [] });
});

// ------------------------------------------------------------------ safetensors

test('writeSafetensors / readSafetensors round trip, readable by the independent fixture reader', async () => {
  const src = await readCheckpoint(ck('basic_zip.pth'));
  const out = path.join(TMP, 'basic.safetensors');
  await writeSafetensors(out, src, { source: 'basic_zip.pth', format: 'pt' });
  await writeSafetensors(path.join(TMP, 'basic-no-i8.safetensors'), [...src].filter(([, v]) => v.dtype !== 'int16' && v.dtype !== 'int8'));
  const raw = readFileSync(out);
  const hlen = Number(raw.readBigUInt64LE(0));
  assert.is(hlen % 8, 0, 'header padded to 8 bytes');
  const back = await readSafetensors(out);
  const viaReader = await readCheckpointWithInfo(out);
  assert.is(viaReader.info.format, 'safetensors');
  assert.equal(viaReader.info.metadata, { source: 'basic_zip.pth', format: 'pt' });
  const header = await readSafetensorsHeader(out);
  assert.equal(header.tensors.get('f32_t'), { dtype: 'float32', shape: [5, 4] });
  const indep = loadFixture(path.join(TMP, 'basic-no-i8.safetensors'));
  for (const [k, v] of src) {
    const b = back.get(k);
    assert.is(b.dtype, v.dtype, k);
    assert.equal(b.shape, v.shape, k);
    assert.ok(bytesOf(b.data).equals(bytesOf(v.data)), k);
    assert.ok(bytesOf(viaReader.tensors.get(k).data).equals(bytesOf(v.data)), k);
    // (the fixture reader knows no I16 / I8)
    if (indep.tensors[k]) assert.ok(bytesOf(indep.tensors[k].data).equals(bytesOf(v.data)), `fixture reader ${k}`);
  }
  await rejects(
    writeSafetensors(path.join(TMP, 'bad.safetensors'), { x: { shape: [3], dtype: 'float32', data: new Float32Array(2) } }),
    (e) => assert.instance(e, TypeError),
    'length mismatch',
  );
  assert.not.ok(existsSync(path.join(TMP, 'bad.safetensors')));
});

test('writeSafetensors: written under a temporary name (raw descriptor) and renamed; a failure leaves no file, no descriptor', async () => {
  const fds = () => readdirSync('/proc/self/fd').length;
  const dir = mkdtempSync(path.join(TMP, 'write-'));
  const before = fds();
  // Several pieces (length, header, three tensors, one of 5 MB): each at its place, then the rename over an old file.
  const big = new Float32Array(5 << 18).map((_, i) => i);
  const tensors = new Map([['a', { shape: [3], dtype: 'int32', data: new Int32Array([1, 2, 3]) }], ['big', { shape: [5 << 18], dtype: 'float32', data: big }], ['e', { shape: [0], dtype: 'uint8', data: new Uint8Array(0) }]]);
  const out = path.join(dir, 'm.safetensors');
  writeFileSync(out, 'an older file, replaced whole');
  await writeSafetensors(out, tensors, { k: 'v' });
  const back = await readSafetensors(out);
  assert.equal(Array.from(back.get('a').data), [1, 2, 3]);
  assert.ok(bytesOf(back.get('big').data).equals(bytesOf(big)));
  assert.is(back.get('e').data.length, 0);
  // The rename fails (the name is a folder), the open fails (no such folder): Node's errors, nothing left behind.
  mkdirSync(path.join(dir, 'a-folder'));
  await rejects(writeSafetensors(path.join(dir, 'a-folder'), tensors), codeIs('EISDIR', /EISDIR: illegal operation on a directory, rename '.*a-folder\.partial-\d+-\w+' -> '.*a-folder'/), 'rename over a folder');
  await rejects(writeSafetensors(path.join(dir, 'no', 'm.safetensors'), tensors), codeIs('ENOENT', /ENOENT: no such file or directory, open '.*m\.safetensors\.partial-/), 'no folder');
  assert.equal(readdirSync(dir).sort(), ['a-folder', 'm.safetensors']);
  assert.is(fds(), before, 'descriptors open after the writes');
});

test('safetensors whose header length begins like a pickle (80 02..05) are safetensors, whatever reads them', async () => {
  // A header of 640 bytes is 0x280: its length field starts 80 02, a legacy torch file's first bytes. One output of
  // writeSafetensors in ~2048 (headers padded to 8) was refused by readCheckpoint and Sotr.load until 2026-11-27.
  const out = path.join(TMP, 'pickle-like-length.safetensors');
  const data = new Float32Array([1, 2, 3, 4]);
  let found = false;
  for (let pad = 0; pad < 1200 && !found; pad++) {
    await writeSafetensors(out, new Map([['w', { shape: [4], dtype: 'float32', data }]]), { note: 'x'.repeat(pad) });
    const b = readFileSync(out);
    found = b[0] === 0x80 && b[1] >= 2 && b[1] <= 5;
  }
  assert.ok(found, 'a header length beginning 80 02..05');
  const r = await readCheckpointWithInfo(out);
  assert.is(r.info.format, 'safetensors');
  assert.equal(Array.from(r.tensors.get('w').data), [1, 2, 3, 4]);
});

test('safetensors: prefixes are stripped repeatedly, as for torch files', async () => {
  const st = safetensorsBytes(
    { 'module.module.w': { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, 'module.b': { dtype: 'F32', shape: [1], data_offsets: [4, 8] } },
    f32bytes([1, 2]),
  );
  const { tensors, info } = await readCheckpointWithInfo(st);
  assert.equal([...tensors.keys()], ['w', 'b']);
  assert.is(info.strippedKeys, 2);
  const torch = stateDictPickle([{ name: 'module.module.w', storage: { cls: 'FloatStorage', key: '0', numel: 1 }, shape: [1] }]);
  assert.equal([...(await readCheckpoint(torchZip(torch, { 0: f32bytes([1]) }))).keys()], ['w']);
  assert.equal([...(await readCheckpoint(st, { stripPrefixes: ['module.', 'backbone.'] })).keys()], ['w', 'b']);
});

test('safetensors: corrupt headers are rejected clearly', async () => {
  const cases = [
    [safetensorsBytes({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, Buffer.alloc(4)), /past the end/],
    [safetensorsBytes({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(8)), /needs 12/],
    [safetensorsBytes({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, Buffer.alloc(8)), /dtype/],
    [safetensorsBytes({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, Buffer.alloc(12)), /overlap/],
    [safetensorsBytes({ __metadata__: { a: 1 } }), /__metadata__/],
    [Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a":}')]), /JSON/],
  ];
  // damaged headers are reported as safetensors, not as "not a checkpoint"
  const len = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
  const good = safetensorsBytes({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, Buffer.alloc(8));
  cases.push(
    [Buffer.concat([len(good.readUInt32LE(0) + 1000), good.subarray(8)]), /invalid safetensors file: header of \d+ bytes runs past the end/],
    [Buffer.concat([len(640 + 1000), good.subarray(8)]).fill(0x80, 0, 1).fill(2, 1, 2), /invalid safetensors file: header .*past the end/],
    [safetensorsBytes([1, 2]), /invalid safetensors file: header is a JSON array/],
    [Buffer.concat([len(8), Buffer.from('{"\xe9":{}}', 'latin1')]), /invalid safetensors file: header is not valid UTF-8/],
    [Buffer.concat([len(4), Buffer.from(' {} ')]), /holds no tensors/],
    [safetensorsBytes({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, Buffer.alloc(8)), /shape \[1099511627776,1099511627776\] is too large/],
    // nesting deeper than the format's is refused before JSON.parse (which would spend ~30x the header on it);
    // brackets inside strings, escaped quotes included, do not count
    [safetensorsBytes({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8], x: [[[1]]] } }, Buffer.alloc(8)), /nests 5 levels deep/],
    [Buffer.concat([len(200000), Buffer.from('['.repeat(100000) + ']'.repeat(100000))]), /nests 5 levels deep/],
  );
  // deep-looking strings are fine: the dtype check is what fails here, not the nesting
  const strings = safetensorsBytes({ a: { dtype: 'F32\\"[[[[[[{{{{', shape: [2], data_offsets: [0, 8] } }, Buffer.alloc(8));
  await rejects(readCheckpoint(strings), codeIs('SOTR_CHECKPOINT_FORMAT', /dtype/), 'brackets in strings');
  for (const [buf, re] of cases) {
    const e = await rejects(readCheckpoint(buf), codeIs('SOTR_CHECKPOINT_FORMAT', re), String(re));
    assert.not.match(e.message, /not a checkpoint|needs -/, String(re));
  }
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(1n << 40n);
  huge[8] = 0x7b;
  await rejects(readSafetensors(huge), codeIs('SOTR_CHECKPOINT_FORMAT'), 'huge header');
  // the default limit is 16 MiB: a header just over it is refused before it is read
  const over = Buffer.alloc(16);
  over.writeBigUInt64LE(BigInt(16 * 2 ** 20 + 1));
  await rejects(readSafetensors(over), codeIs('SOTR_CHECKPOINT_FORMAT', /over the limit of 16777216/), '16 MiB');
});

// ------------------------------------------------------------------ hand-made containers

const simple = [
  { name: 'w', storage: { cls: 'FloatStorage', key: '0', numel: 6 }, shape: [2, 3] },
  { name: 'g', storage: { cls: 'FloatStorage', key: '1', numel: 1 }, shape: [], parameter: true },
];
const simpleData = { 0: f32bytes([1, 2, 3, 4, 5, 6]), 1: f32bytes([0.25]) };
async function checkSimple(buf, what, opts) {
  const t = await readCheckpoint(buf, opts);
  assert.equal(Array.from(t.get('w').data), [1, 2, 3, 4, 5, 6], what);
  assert.equal(t.get('w').shape, [2, 3], what);
  assert.equal(Array.from(t.get('g').data), [0.25], what);
}

test("torch 2's tensor metadata argument: no bit set loads; a negated view is refused, not read with the wrong signs", async () => {
  const withMeta = (metadata) => stateDictPickle([{ ...simple[0], metadata }, simple[1]]);
  await checkSimple(torchZip(withMeta({}), simpleData), 'empty metadata');
  await checkSimple(torchZip(withMeta({ neg: false, conj: false }), simpleData), 'bits clear');
  await rejects(readCheckpoint(torchZip(withMeta({ neg: true }), simpleData)), codeIs('SOTR_CHECKPOINT_FORMAT', /the neg bit set is not supported.*resolve_neg/), 'neg');
});

test('zip variants: any archive name, byteorder big, deflated entries, zip64, extra records', async () => {
  const pkl = stateDictPickle(simple);
  await checkSimple(torchZip(pkl, simpleData, { archive: 'my model.v2' }), 'archive name');
  await checkSimple(torchZip(pkl, simpleData, { byteorder: 'little', extraEntries: [{ name: 'archive/.data/serialization_id', data: Buffer.from('123') }] }), 'byteorder little');
  const big = { 0: f32bytes([1, 2, 3, 4, 5, 6], true), 1: f32bytes([0.25], true) };
  await checkSimple(torchZip(pkl, big, { byteorder: 'big' }), 'byteorder big');
  await checkSimple(torchZip(pkl, simpleData, { pklMethod: 8, storageMethod: 8 }), 'deflated');
  await checkSimple(torchZip(pkl, simpleData, { zip64: true }), 'zip64');
  // zip64 and deflate together: the extra field's sizes differ (uncompressed first, then compressed).
  await checkSimple(torchZip(pkl, simpleData, { zip64: true, pklMethod: 8, storageMethod: 8 }), 'zip64 deflated');
  await checkSimple(torchZip(pkl, simpleData), 'full crc', { verifyChecksums: true });
  await rejects(readCheckpoint(torchZip(pkl, simpleData, { byteorder: 'middle' })), codeIs('SOTR_CHECKPOINT_FORMAT', /byteorder/), 'byteorder');
});

test('zip: a local header whose compressed size disagrees with the central directory is refused', async () => {
  const zip = torchZip(stateDictPickle(simple), simpleData);
  assert.is(zip.readUInt32LE(0), 0x04034b50, 'data.pkl first');
  assert.is(zip.readUInt16LE(6) & 0x8, 0, 'no data descriptor: the local header holds the sizes');
  const bad = Buffer.from(zip);
  bad.writeUInt32LE(zip.readUInt32LE(18) + 1, 18); // compressed size only; the uncompressed size still agrees
  await rejects(readCheckpoint(bad), codeIs('SOTR_CHECKPOINT_FORMAT', /disagree on the sizes/), 'compressed size');
  await checkSimple(zip, 'unpatched');
});

test('legacy variants: from a big-endian host, hand-made header', async () => {
  const pkl = stateDictPickle(simple, { legacy: true });
  await checkSimple(torchLegacy(pkl, simpleData), 'legacy little');
  // From a big-endian host: the flag says so, the storages are little-endian all the same (torch swaps on write),
  // and before torch 1.6 the element counts were in the host's order.
  await checkSimple(torchLegacy(pkl, simpleData, { littleEndian: false }), 'legacy from a big-endian host');
  await checkSimple(torchLegacy(pkl, simpleData, { littleEndian: false, countOrder: 'big' }), 'legacy from a big-endian host, torch < 1.6');
  const bigFile = await readCheckpointWithInfo(torchLegacy(pkl, simpleData, { littleEndian: false }));
  assert.is(bigFile.info.byteOrder, 'little');
  // A count in the other order from a little-endian host is damage, not an old writer.
  await rejects(readCheckpoint(torchLegacy(pkl, simpleData, { countOrder: 'big' })), codeIs('SOTR_CHECKPOINT_FORMAT', /records \d+ elements, the pickle says 6/), 'count order');
  await rejects(readCheckpoint(torchLegacy(pkl, simpleData, { magic: 0x1950a86a20f9469cfc6dn })), codeIs('SOTR_CHECKPOINT_FORMAT', /magic number/), 'magic');
  await rejects(readCheckpoint(torchLegacy(pkl, simpleData, { protocol: 1000 })), codeIs('SOTR_CHECKPOINT_FORMAT', /protocol version 1000/), 'protocol');
  const wrongCount = torchLegacy(pkl, simpleData, { elementSizes: { 0: 2 } }); // records 12 elements for 6
  await rejects(readCheckpoint(wrongCount), codeIs('SOTR_CHECKPOINT_FORMAT', /storage '0' .*records 12 elements, the pickle says 6/), 'count');
  const short = torchLegacy(pkl, { 0: f32bytes([1, 2, 3, 4, 5]), 1: f32bytes([0.25]) });
  await rejects(readCheckpoint(short), codeIs('SOTR_CHECKPOINT_FORMAT', /truncated/), 'short storage');
});

test('non-tensor state_dict values are skipped with a warning; a dict without tensors is an error', async () => {
  const pkl = stateDictPickle(simple, { wrap: 'state_dict', extra: (p) => p.str('note').str('hello') });
  const warnings = [];
  const { info } = await readCheckpointWithInfo(torchZip(pkl, simpleData), { onWarning: (m) => warnings.push(m) });
  assert.is(info.stateDictKey, 'state_dict');
  const inner = new Pickle().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce().mark().str('lr').float(0.1).str('w');
  inner.emptyList().setitems().stop();
  await rejects(readCheckpoint(torchZip(inner.bytes(), {})), codeIs('SOTR_CHECKPOINT_FORMAT', /no tensors/), 'no tensors');
  const warn2 = [];
  const withExtra = new Pickle().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce().mark().str('n').int(3).setitems().stop();
  await rejects(readCheckpoint(torchZip(withExtra.bytes(), {}), { onWarning: (m) => warn2.push(m) }), codeIs('SOTR_CHECKPOINT_FORMAT'), 'only int');
  assert.ok(warn2.some((m) => m.includes("'n'")));
});

// ------------------------------------------------------------------ safety and clear errors

test('hostile pickles are refused with the global named', async () => {
  const evil = [
    [new Pickle().proto(2).global('posix', 'system').str('touch /tmp/pwned').tuple1().reduce().stop(), /posix\.system/],
    [new Pickle().proto(2).global('os', 'system').str('id').tuple1().reduce().stop(), /os\.system/],
    [new Pickle().proto(4).stackGlobal('builtins', 'eval').str('1+1').tuple1().reduce().stop(), /builtins\.eval/],
    [new Pickle().proto(2).global('__builtin__', 'getattr').stop(), /__builtin__\.getattr/],
    [new Pickle().proto(2).global('torch.storage', '_load_from_bytes').stop(), /torch\.storage\._load_from_bytes/],
    [new Pickle().proto(2).global('numpy.core.multiarray', '_reconstruct').stop(), /numpy/],
    [new Pickle().proto(2).raw(0x69).raw(Buffer.from('os\nsystem\n')).stop(), /os\.system/], // INST
    [new Pickle().proto(2).raw(0x82, 1).stop(), /EXT1/],
    [new Pickle().proto(2).global('torch', 'FloatStorage').emptyTuple().reduce().stop(), /storage class/],
    [new Pickle().proto(2).global('torch', 'FloatStorage').emptyTuple().newobj().stop(), /NEWOBJ/],
  ];
  for (const [p, re] of evil) {
    const bytes = p.bytes();
    await rejects(readCheckpoint(torchZip(bytes, {})), codeIs('SOTR_CHECKPOINT_UNSAFE', re), `zip ${re}`);
    await rejects(readCheckpoint(torchLegacy(bytes, {})), codeIs('SOTR_CHECKPOINT_UNSAFE', re), `legacy ${re}`);
  }
  const e = await rejects(readCheckpoint(torchZip(evil[0][0].bytes(), {})), () => {}, 'name');
  assert.is(e.name, 'UnsafeCheckpointError');
  assert.is(e.details.global, 'posix.system');
});

test('whole pickled models get the state_dict hint; functions and non-model classes do not', async () => {
  const unsup = (f) => ck(path.join('unsupported', f));
  for (const f of ['whole_model.pth', 'whole_model_legacy.pth', 'model_entry_is_model.pth']) {
    await rejects(readCheckpoint(unsup(f)), codeIs('SOTR_CHECKPOINT_UNSAFE', /'__main__\.Net'.*torch\.save\(model\.state_dict\(\), path\)/), f);
  }
  const newobj = (m, n) => new Pickle().proto(2).global(m, n).emptyTuple().newobj().stop().bytes();
  const wrapped = new Pickle().proto(2).emptyDict().mark().str('model').global('mymodels', 'Net').emptyTuple().newobj().str('epoch').int(3).setitems().stop().bytes();
  const hinted = [newobj('__main__', 'Net'), newobj('mymodels', 'Net'), newobj('torch.nn.modules.conv', 'Conv2d'), newobj('detectron2.modeling.meta_arch.rcnn', 'GeneralizedRCNN'), wrapped];
  const plain = [
    [newobj('os', 'system'), 'os.system'],
    [newobj('posix', 'system'), 'posix.system'],
    [newobj('subprocess', 'Popen'), 'subprocess.Popen'],
    [newobj('builtins', 'Exception'), 'builtins.Exception'],
    [newobj('argparse', 'Namespace'), 'argparse.Namespace'],
    [newobj('numpy.core.multiarray', 'scalar'), 'numpy.core.multiarray.scalar'],
    [newobj('torch', 'Generator'), 'torch.Generator'],
    [newobj('mymodels', 'make_net'), 'mymodels.make_net'],
  ];
  for (const [mk, what] of [[(b) => torchZip(b, {}), 'zip'], [(b) => torchLegacy(b, {}), 'legacy']]) {
    for (const b of hinted) await rejects(readCheckpoint(mk(b)), codeIs('SOTR_CHECKPOINT_UNSAFE', /state_dict\(\)/), `${what} hinted`);
    for (const [b, g] of plain) {
      const e = await rejects(readCheckpoint(mk(b)), codeIs('SOTR_CHECKPOINT_UNSAFE', /refusing/), `${what} ${g}`);
      assert.is(e.details.global, g);
      assert.not.match(e.message, /torch\.save\(model/, `${what} ${g}: no model hint`);
      if (!/Namespace|numpy/.test(g)) assert.match(e.message, /one you trust .*re-save the weights alone in Python: torch\.save\(checkpoint\['model'\], path\)\. Loading an untrusted file/, `${what} ${g}: the training-state hint`);
    }
  }
});

test('args, devices, numpy values, sets, paths and times beside the state_dict load as placeholders, with a warning; inside it they are refused', async () => {
  const unsup = (f) => ck(path.join('unsupported', f));
  for (const f of ['extras_zip.pth', 'extras_protocol4.pth', 'extras_legacy.pth']) {
    const warnings = [];
    const { tensors, info } = await readCheckpointWithInfo(unsup(f), { onWarning: (m) => warnings.push(m) });
    assert.equal(Array.from(tensors.get('w').data), [0, 1, 2, 3], f);
    assert.equal(info.ignoredEntries, ['args', 'device', 'iteration', 'best', 'seen', 'frozen'], f);
    assert.is(warnings.length, 1, `${f}: ${warnings}`);
    for (const n of ["'args' (argparse.Namespace)", "'device' (torch.device)", "'iteration' (numpy.", "'best' (numpy."]) assert.ok(warnings[0].includes(n), `${f}: ${n} in ${warnings[0]}`);
    assert.not.ok(warnings[0].includes("'seen'"), 'a set is plain data');
  }
  // paths and times in the arguments and metadata (argparse type=Path, a timestamp with a time zone)
  const warnings = [];
  const { tensors, info } = await readCheckpointWithInfo(unsup('extras_paths.pth'), { onWarning: (m) => warnings.push(m) });
  assert.equal(Array.from(tensors.get('w').data), [0, 1, 2, 3]);
  assert.equal(info.ignoredEntries, ['args', 'saved', 'elapsed']);
  for (const n of ["'args' (argparse.Namespace)", "'saved' (datetime.datetime)", "'elapsed' (datetime.timedelta)"]) assert.ok(warnings[0]?.includes(n), `${n} in ${warnings}`);
  const e = await rejects(readCheckpoint(unsup('namespace_in_state_dict.pth')), codeIs('SOTR_CHECKPOINT_UNSAFE', /the state_dict holds argparse\.Namespace\(\.\.\.\).*refusing/), 'in the state_dict');
  assert.is(e.details.global, 'argparse.Namespace');
  // the same under "model", and as the whole file
  const ns = (p) => p.global('argparse', 'Namespace').emptyTuple().newobj().emptyDict().build();
  const inModel = ns(new Pickle().proto(2).emptyDict().mark().str('model').global('collections', 'OrderedDict').emptyTuple().reduce().mark().str('args'));
  await rejects(readCheckpoint(torchZip(inModel.setitems().setitems().stop().bytes(), {})), codeIs('SOTR_CHECKPOINT_UNSAFE', /state_dict 'model' holds argparse\.Namespace/), 'under model');
  await rejects(readCheckpoint(torchZip(ns(new Pickle().proto(2)).stop().bytes(), {})), codeIs('SOTR_CHECKPOINT_UNSAFE', /argparse\.Namespace/), 'root');
  // a placeholder type stays inert: calling an object made from it, or any other global, is still refused
  const callObj = stateDictPickle(simple, { wrap: 'model', extra: (p) => p.str('x').global('torch', 'device').str('cpu').tuple1().reduce().str('y').tuple1().reduce() });
  await rejects(readCheckpoint(torchZip(callObj, simpleData)), codeIs('SOTR_CHECKPOINT_UNSAFE', /tries to call torch\.device/), 'call an object');
  const evil = new Pickle().proto(2).emptyDict().mark().str('model');
  evil.global('collections', 'OrderedDict').emptyTuple().reduce().str('opt').global('os', 'system').str('id').tuple1().reduce().setitems().stop();
  await rejects(readCheckpoint(torchZip(evil.bytes(), {})), codeIs('SOTR_CHECKPOINT_UNSAFE', /'os\.system'/), 'os.system beside the state_dict');
});

test('pickle protocol 5: a numpy array beside the state_dict (numpy\'s _frombuffer of a BYTEARRAY8) is a placeholder too', async () => {
  // torch.save(..., pickle_protocol=5) (make_checkpoint_fixtures.py numpy_protocol5): numpy writes its arrays through
  // numpy.core.numeric._frombuffer, which was refused as unsafe, and their bytes as BYTEARRAY8, then unsupported.
  for (const f of ['numpy_p5_zip.pth', 'numpy_p5_legacy.pth']) {
    const warnings = [];
    const { tensors, info } = await readCheckpointWithInfo(ck(f), { onWarning: (m) => warnings.push(m) });
    assert.equal(Array.from(tensors.get('w').data), [0, 0.125, 0.25, 0.375], f);
    assert.equal(info.ignoredEntries, ['best', 'iteration'], f);
    assert.ok(warnings.some((w) => w.includes("'best' (numpy.core.numeric._frombuffer)")), `${f}: ${warnings}`);
  }
});

test('containers of 200k items beside or inside the state_dict load (a training run\'s history); a placeholder after one is found', async () => {
  const many = (p) => {
    for (let i = 0; i < 200000; i++) p.float(0.5);
    return p;
  };
  // {'model': sd, 'losses': [200k floats, torch.device('cpu')], 'sizes': (200k floats), 'seen': set(...)}: the
  // placeholder scan once spread such lists into push() and overflowed the stack ("unexpected failure").
  const beside = stateDictPickle(simple, {
    wrap: 'model',
    extra: (p) => {
      many(p.str('losses').emptyList().mark()).global('torch', 'device').str('cpu').tuple1().reduce().appends();
      many(p.str('sizes').mark()).tuple();
      many(p.str('seen').global('builtins', 'set').emptyList().mark()).appends().tuple1().reduce();
    },
  });
  for (const [kind, file] of [['zip', torchZip(beside, simpleData)], ['legacy', torchLegacy(stateDictPickle(simple, { legacy: true, wrap: 'model', extra: (p) => many(p.str('losses').emptyList().mark()).appends() }), simpleData)]]) {
    const warnings = [];
    const { tensors, info } = await readCheckpointWithInfo(file, { onWarning: (m) => warnings.push(m) });
    assert.equal([...tensors.keys()], ['w', 'g'], kind);
    assert.ok(info.ignoredEntries.includes('losses'), kind);
    if (kind === 'zip') assert.ok(warnings.some((m) => m.includes("'losses' (torch.device)")), `${kind}: ${warnings}`);
  }
  const inside = stateDictPickle(simple, { extra: (p) => many(p.str('history').emptyList().mark()).appends().setitem() });
  const warnings = [];
  assert.equal([...(await readCheckpoint(torchZip(inside, simpleData), { onWarning: (m) => warnings.push(m) })).keys()], ['w', 'g']);
  assert.ok(warnings.some((m) => m.includes("'history'")), 'the list is skipped with a warning');
});

test('unsupported content is named: quantized / sparse / meta tensors, TorchScript, plain pickles, protocols 0-1, sets', async () => {
  const unsup = (f) => ck(path.join('unsupported', f));
  const cases = [
    ['quantized.pth', /holds a quantized tensor .*quantized\/sparse\/meta tensors are not supported/],
    ['sparse.pth', /holds a sparse tensor .*quantized\/sparse\/meta tensors are not supported/],
    ['meta.pth', /holds a meta tensor .*quantized\/sparse\/meta tensors are not supported/],
    ['scripted.pt', /a TorchScript archive \(torch\.jit\.save\) is not supported: save the state_dict/],
    ['pickle_dump_tensors.pkl', /a plain pickle, not a torch\.save file .*'collections\.OrderedDict'/],
    ['model_zoo.pkl', /a plain pickle, not a torch\.save file .*'numpy/],
    ['legacy_protocol0.pth', /pickle protocol 0 or 1, which is not supported/],
  ];
  for (const [f, re] of cases) {
    const e = await rejects(readCheckpoint(unsup(f)), codeIs('SOTR_CHECKPOINT_FORMAT', re), f);
    assert.not.match(e.message, /never (needs|writes)/, f);
  }
  // TorchScript's __torch__ globals, even without code/ and constants.pkl next to data.pkl
  const ts = new Pickle().proto(2).global('__torch__.torch.nn.modules.linear', 'Linear').emptyTuple().newobj().stop().bytes();
  await rejects(readCheckpoint(torchZip(ts, {})), codeIs('SOTR_CHECKPOINT_FORMAT', /TorchScript/), '__torch__ global');
  // protocol 0 / 1 opcodes inside a zip's data.pkl
  const p0 = new Pickle().raw(0x28).raw(0x64).raw(0x70).raw(Buffer.from('0\n')).stop().bytes(); // MARK DICT PUT
  await rejects(readCheckpoint(torchZip(p0, {})), codeIs('SOTR_CHECKPOINT_FORMAT', /PUT at byte 2 is not supported: pickle protocols 0 and 1/), 'text opcode');
  await rejects(readCheckpoint(torchZip(new Pickle().proto(2).raw(0xff).stop().bytes(), {})), codeIs('SOTR_CHECKPOINT_FORMAT', /invalid opcode 0xff/), 'invalid opcode');
  // a plain pickle calling os.system is still called unsafe
  const evil = new Pickle().proto(2).global('os', 'system').str('id').tuple1().reduce().stop().bytes();
  await rejects(readCheckpoint(evil), codeIs('SOTR_CHECKPOINT_UNSAFE', /plain pickle.*'os\.system'.*refusing/), 'plain evil pickle');
});

test('corrupt, truncated and hostile containers give typed errors', async () => {
  const pkl = stateDictPickle(simple);
  const good = torchZip(pkl, simpleData);
  for (const n of [0, 1, 3, 10, 30, 100, good.length - 23, good.length - 1]) {
    await rejects(readCheckpoint(good.subarray(0, n)), (e) => assert.match(e.code, /^SOTR_CHECKPOINT_/), `truncated zip at ${n}`);
  }
  const legacy = readFileSync(ck('basic_legacy.pth'));
  for (const n of [1, 2, 12, 100, 400, legacy.length - 5]) {
    await rejects(readCheckpoint(legacy.subarray(0, n)), codeIs('SOTR_CHECKPOINT_FORMAT'), `truncated legacy at ${n}`);
  }
  await rejects(readCheckpoint(Buffer.from('hello world, not a checkpoint')), codeIs('SOTR_CHECKPOINT_FORMAT', /not a checkpoint/), 'text');
  await rejects(readCheckpoint(Buffer.alloc(0)), codeIs('SOTR_CHECKPOINT_FORMAT', /empty/), 'empty');
  const tar = Buffer.alloc(1024);
  tar.write('ustar', 257);
  await rejects(readCheckpoint(tar), codeIs('SOTR_CHECKPOINT_FORMAT', /tar/), 'tar');
  await rejects(readCheckpoint(makeZip([{ name: 'a/b.txt', data: Buffer.from('x') }])), codeIs('SOTR_CHECKPOINT_FORMAT', /data\.pkl/), 'no pkl');
  // a tensor reaching past its storage
  const past = stateDictPickle([{ name: 'w', storage: { cls: 'FloatStorage', key: '0', numel: 6 }, shape: [2, 4] }]);
  await rejects(readCheckpoint(torchZip(past, { 0: f32bytes([1, 2, 3, 4, 5, 6]) })), codeIs('SOTR_CHECKPOINT_FORMAT', /past its storage/), 'past');
  // storage record size disagrees with the pickle
  await rejects(readCheckpoint(torchZip(past, { 0: f32bytes([1, 2, 3]) })), codeIs('SOTR_CHECKPOINT_FORMAT', /storage/), 'size');
  // missing storage record
  await rejects(readCheckpoint(torchZip(pkl, { 0: simpleData[0] })), codeIs('SOTR_CHECKPOINT_FORMAT', /missing/), 'missing record');
  // an expanded (stride 0) tensor asking for far more memory than the file holds
  const expand = stateDictPickle([{ name: 'w', storage: { cls: 'FloatStorage', key: '0', numel: 1 }, shape: [1 << 20, 1 << 20], stride: [0, 0] }]);
  await rejects(readCheckpoint(torchZip(expand, { 0: f32bytes([1]) })), codeIs('SOTR_CHECKPOINT_FORMAT', /maxCopyBytes/), 'expand');
  // over the pickle size limit
  await rejects(readCheckpoint(good, { maxPickleBytes: 16 }), codeIs('SOTR_CHECKPOINT_FORMAT', /maxPickleBytes/), 'pickle limit');
  await rejects(readCheckpoint(legacy, { maxPickleBytes: 64 }), codeIs('SOTR_CHECKPOINT_FORMAT', /maxPickleBytes/), 'legacy pickle limit');
  // missing file: the file-system error passes through
  await rejects(readCheckpoint(path.join(TMP, 'nope.pth')), (e) => assert.is(e.code, 'ENOENT'), 'enoent');
});

test('zip bombs and overlapping entries are refused without large allocations', async () => {
  const pkl = stateDictPickle(simple);
  // a deflated storage that inflates far past its declared size
  const bomb = makeZip([
    { name: 'archive/data.pkl', data: pkl },
    { name: 'archive/data/0', data: Buffer.alloc(64 << 20), method: 8, size: 24 },
    { name: 'archive/data/1', data: simpleData[1] },
  ]);
  assert.ok(bomb.length < 200 << 10);
  await rejects(readCheckpoint(bomb), codeIs('SOTR_CHECKPOINT_FORMAT', /inflate/), 'bomb');
  // a declared size over the decompression budget
  const declared = stateDictPickle([{ name: 'w', storage: { cls: 'FloatStorage', key: '0', numel: 1 << 29 }, shape: [1 << 29] }]);
  const big = makeZip([{ name: 'archive/data.pkl', data: declared }, { name: 'archive/data/0', data: Buffer.alloc(1024), method: 8, size: 2 ** 31 }]);
  await rejects(readCheckpoint(big, { maxInflatedBytes: 1 << 30 }), codeIs('SOTR_CHECKPOINT_FORMAT', /budget|maxInflatedBytes/), 'declared');
  // Honest sizes, hostile ratio: an 80 KB file whose storage inflates to 80 MiB of zeros. The default budget follows
  // the file's size (max(32 × it, 64 MiB)); it was a fixed 2 GiB, so a 1.9 MB file could make a read take ~4 GB.
  const zerosPkl = stateDictPickle([{ name: 'w', storage: { cls: 'FloatStorage', key: '0', numel: 20 << 20 }, shape: [20 << 20] }]);
  const zeros = makeZip([{ name: 'archive/data.pkl', data: zerosPkl }, { name: 'archive/data/0', data: Buffer.alloc(80 << 20), method: 8 }]);
  assert.ok(zeros.length < 200 << 10, `${zeros.length}`);
  await rejects(readCheckpoint(zeros), codeIs('SOTR_CHECKPOINT_FORMAT', /over the remaining decompression budget of 67108864 bytes \(maxInflatedBytes\)/), 'ratio');
  const inflated = await readCheckpoint(zeros, { maxInflatedBytes: 100 << 20 });
  assert.is(inflated.get('w').data.length, 20 << 20);
  assert.ok(inflated.get('w').data.every((v) => v === 0));
  // many tensors whose storages all point at the same bytes of the file
  const many = [];
  const entries = [{ name: 'archive/data.pkl', data: null }, { name: 'archive/data/0', data: Buffer.alloc(4096) }];
  for (let i = 0; i < 200; i++) {
    many.push({ name: `t${i}`, storage: { cls: 'FloatStorage', key: String(i), numel: 1024 }, shape: [1024] });
    if (i > 0) entries.push({ name: `archive/data/${i}`, offsetOf: 'archive/data/0' });
  }
  entries[0].data = stateDictPickle(many);
  await rejects(readCheckpoint(makeZip(entries)), codeIs('SOTR_CHECKPOINT_FORMAT', /another entry/), 'shared local header');
  // local headers that name their own entries but sit inside another storage's bytes
  const payload = Buffer.alloc(8192);
  const nested = [{ name: 'w0', storage: { cls: 'FloatStorage', key: '0', numel: 2048 }, shape: [2048] }];
  const ents = [{ name: 'archive/data.pkl', data: null }, { name: 'archive/data/0', data: payload }];
  for (let i = 1; i <= 8; i++) {
    const name = Buffer.from(`archive/data/${i}`);
    payload.writeUInt32LE(0x04034b50, i * 64);
    payload.writeUInt16LE(0x8, i * 64 + 6); // sizes in a data descriptor, as torch writes
    payload.writeUInt16LE(name.length, i * 64 + 26);
    name.copy(payload, i * 64 + 30);
    nested.push({ name: `w${i}`, storage: { cls: 'FloatStorage', key: String(i), numel: 1024 }, shape: [1024] });
    ents.push({ name: `archive/data/${i}`, data: Buffer.alloc(4096) });
  }
  ents[0].data = stateDictPickle(nested);
  const zip = makeZip(ents);
  const cd = cdRecords(zip);
  const lho0 = zip.readUInt32LE(cd.get('archive/data/0') + 42);
  const data0 = lho0 + 30 + zip.readUInt16LE(lho0 + 26) + zip.readUInt16LE(lho0 + 28);
  for (let i = 1; i <= 8; i++) zip.writeUInt32LE(data0 + i * 64, cd.get(`archive/data/${i}`) + 42);
  await rejects(readCheckpoint(zip), codeIs('SOTR_CHECKPOINT_FORMAT', /overlap/), 'nested local headers');
});

test('a central directory record pointing at another entry of the same size is refused (no silent wrong values)', async () => {
  const two = [
    { name: 'a', storage: { cls: 'FloatStorage', key: '0', numel: 6 }, shape: [6] },
    { name: 'b', storage: { cls: 'FloatStorage', key: '1', numel: 6 }, shape: [6] },
  ];
  // storage '1' is not read (as an optimizer's storage would not be), so nothing overlaps
  const buf = torchZip(stateDictPickle(two.slice(0, 1)), { 0: f32bytes([1, 2, 3, 4, 5, 6]), 1: f32bytes([7, 8, 9, 10, 11, 12]) });
  assert.equal(Array.from((await readCheckpoint(buf)).get('a').data), [1, 2, 3, 4, 5, 6]);
  const cd = cdRecords(buf);
  buf.writeUInt32LE(buf.readUInt32LE(cd.get('archive/data/1') + 42), cd.get('archive/data/0') + 42);
  await rejects(readCheckpoint(buf), codeIs('SOTR_CHECKPOINT_FORMAT', /'archive\/data\/0'.*another entry/), 'swapped offset');
  // a local header whose compression method disagrees with the directory
  const m = torchZip(stateDictPickle(two), { 0: f32bytes([1, 2, 3, 4, 5, 6]), 1: f32bytes([7, 8, 9, 10, 11, 12]) });
  const lho = m.readUInt32LE(cdRecords(m).get('archive/data/1') + 42);
  m.writeUInt16LE(8, lho + 8);
  await rejects(readCheckpoint(m), codeIs('SOTR_CHECKPOINT_FORMAT', /compression method/), 'method');
});

test('maxInflatedBytes holds when deflated storages are read in parallel', async () => {
  // Each read used to pass the budget check before any had been charged: 4 x 1 MiB inflated under a 2.5 MiB budget.
  const four = [0, 1, 2, 3].map((i) => ({ name: `w${i}`, storage: { cls: 'FloatStorage', key: String(i), numel: 1 << 18 }, shape: [1 << 18] }));
  const data = Object.fromEntries([0, 1, 2, 3].map((i) => [i, Buffer.alloc(1 << 20)]));
  const buf = torchZip(stateDictPickle(four), data, { storageMethod: 8 });
  for (const readConcurrency of [1, 4]) {
    await rejects(
      readCheckpoint(buf, { maxInflatedBytes: 2.5 * (1 << 20), readConcurrency }),
      codeIs('SOTR_CHECKPOINT_FORMAT', /maxInflatedBytes/),
      `readConcurrency ${readConcurrency}`,
    );
  }
  assert.is((await readCheckpoint(buf, { maxInflatedBytes: 4 << 20, readConcurrency: 4 })).size, 4);
});

test('verifyChecksums accepts true, false and \'metadata\' only', async () => {
  for (const v of [true, false, 'metadata', undefined]) await readCheckpoint(ck('tiny_sotr_zip.pth'), { verifyChecksums: v });
  for (const [v, cls] of [['all', RangeError], ['yes', RangeError], ['', RangeError], [1, TypeError], [0, TypeError], [null, TypeError], [{}, TypeError]]) {
    await rejects(
      readCheckpoint(ck('tiny_sotr_zip.pth'), { verifyChecksums: v }),
      (e) => {
        assert.instance(e, cls, String(v));
        assert.is(e.code, 'SOTR_INVALID_ARGUMENT');
        assert.match(e.message, /verifyChecksums/);
      },
      `verifyChecksums ${String(v)}`,
    );
  }
});

test('a FIFO or a device given as the path is refused at once: "not a regular file" (a FIFO\'s open blocked the event loop)', () => {
  if (process.platform === 'win32') return;
  const fifo = path.join(TMP, 'model.pth');
  execFileSync('mkfifo', [fifo]);
  // In a child process, killed after 20 s: the open of a FIFO without a writer used to wait for one for good.
  const lib = new URL('../dist/checkpoint/index.js', import.meta.url).href;
  const script = `const { readCheckpoint } = await import(${JSON.stringify(lib)});
    for (const p of ${JSON.stringify([fifo, '/dev/zero'])}) await readCheckpoint(p).then(() => console.log('read'), (e) => console.log(e.code, e.message));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20000, encoding: 'utf8' });
  assert.equal(out.trim().split('\n'), [`SOTR_CHECKPOINT_FORMAT ${fifo}: not a regular file`, 'SOTR_CHECKPOINT_FORMAT /dev/zero: not a regular file']);
});

test('abort signal', async () => {
  const ac = new AbortController();
  ac.abort();
  await rejects(readCheckpoint(ck('tiny_sotr_zip.pth'), { signal: ac.signal }), codeIs('SOTR_ABORTED'), 'abort');
});

test.run();
