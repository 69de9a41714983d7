// readDetectron2Config: a detectron2 / AdelaiDet config file (a training run's config.yaml, or the repo's configs
// with _BASE_ chains) as Sotr.load options. YAML 1.1 as PyYAML reads it, yacs' Python literals in strings, the merge
// of merge_from_file (later files win, lists replaced), the keys inference reads, typed errors naming the file and the
// key for what cannot be read or is not run, and checkStructure against a loaded model.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Sotr, readDetectron2Config, writeRandomSotrCheckpoint, ConfigFileError } from '../../dist/index.js';
import { readDetectron2ConfigSync } from '../../dist/model/detectron2_config.js';
import { pythonLiteral } from '../../dist/model/python_literal.js';
import { createRequire } from 'node:module';
import { fixturePath, instanceSummary } from './helpers.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'sotr-d2config-'));
const write = (name, text) => {
  const f = path.join(dir, name);
  mkdirSync(path.dirname(f), { recursive: true });
  writeFileSync(f, text);
  return f;
};

// Shaped as the official repo's: a base, and a variant that names it (in another folder: _BASE_ is relative to the file).
write(
  'configs/Base.yaml',
  `MODEL:
  META_ARCHITECTURE: "SOTR"
  MASK_ON: True
  BACKBONE:
    NAME: "build_resnet_fpn_backbone"
  RESNETS:
    OUT_FEATURES: ["res2", "res3", "res4", "res5"]
  SOTR:
    NUM_GRIDS: [40, 36, 24, 16, 12]
DATASETS:
  TRAIN: ("my_train",)
SOLVER:
  STEPS: (60000, 80000)
INPUT:
  MIN_SIZE_TRAIN: (640, 672, 704, 736, 768, 800)
  MIN_SIZE_TEST: 800
  MASK_FORMAT: "bitmask"
VERSION: 2
`,
);
const variant = write(
  'configs/sub/R50.yaml',
  `_BASE_: "../Base.yaml"
MODEL:
  RESNETS:
    DEPTH: 50
  SOTR:
    NUM_GRIDS: [36, 30, 24, 16, 12]
INPUT:
  MIN_SIZE_TEST: 1000
`,
);

test('a _BASE_ chain: merged as merge_from_file, the keys inference reads as options', async () => {
  const c = await readDetectron2Config(variant);
  assert.equal(c.options, { minSize: 1000, numGrids: [36, 30, 24, 16, 12] });
  assert.equal(c.structure, { resnetDepth: 50 });
  assert.equal(c.files, [path.join(dir, 'configs/Base.yaml'), variant]);
  // The synchronous reader (the CLI's) reads the same.
  const s = readDetectron2ConfigSync(variant);
  assert.equal([s.options, s.structure, s.files], [c.options, c.structure, c.files]);
});

test("a training run's dumped config: every test-time key, tuples and Python literals", async () => {
  const f = write(
    'output/config.yaml',
    `CUDNN_BENCHMARK: false
DATASETS:
  TEST: !!python/tuple
  - my_val
INPUT:
  FORMAT: BGR
  MAX_SIZE_TEST: 1200
  MIN_SIZE_TEST: '640'
MODEL:
  DEVICE: cuda
  FPN:
    FUSE_TYPE: sum
    NORM: ''
    OUT_CHANNELS: 256
  META_ARCHITECTURE: SOTR
  PIXEL_MEAN: "(103.0, 116.0, 123.0)"
  PIXEL_STD:
  - 57.0
  - 57.0
  - 58.0
  RESNETS:
    DEFORM_ON_PER_STAGE: [False, True, True, True]
    DEPTH: 101
    NORM: FrozenBN
    NUM_GROUPS: 1
    STRIDE_IN_1X1: false
  SOTR:
    FPN_INSTANCE_STRIDES: [4, 8, 16, 32, 32]
    FPN_SCALE_RANGES: !!python/tuple
    - !!python/tuple [1, 96]
    INSTANCE_IN_FEATURES: [p2, p3, p4, p5, p6]
    MASK_CHANNELS: 128
    MASK_IN_FEATURES: [p2, p3, p4, p5]
    MASK_THR: 0.4
    MAX_PER_IMG: 50
    NMS_KERNEL: linear
    NMS_PRE: 300
    NMS_SIGMA: 2
    NMS_TYPE: matrix
    NORM: GN
    NUM_CLASSES: 7
    NUM_GRIDS: [40, 36, 24, 16, 12]
    NUM_KERNELS: 256
    NUM_MASKS: 256
    RESIZE_INPUT_FACTOR: 1
    SCORE_THR: 0.25
    UPDATE_THR: 0.1
  WEIGHTS: output/model_final.pth
`,
  );
  const c = await readDetectron2Config(f);
  assert.equal(c.options, {
    inputFormat: 'BGR',
    minSize: 640,
    maxSize: 1200,
    pixelMean: [103, 116, 123],
    pixelStd: [57, 57, 58],
    strideInOneByOne: false,
    numGrids: [40, 36, 24, 16, 12],
    instanceStrides: [4, 8, 16, 32, 32],
    scoreThreshold: 0.25,
    maskThreshold: 0.4,
    updateThreshold: 0.1,
    nmsPre: 300,
    maxPerImage: 50,
    nmsKernel: 'linear',
    nmsSigma: 2,
  });
  assert.equal(c.structure, { numClasses: 7, resnetDepth: 101, fpnChannels: 256, maskChannels: 128, numMasks: 256, numKernels: 256, deformStages: [false, true, true, true] });
  assert.equal((await readDetectron2Config(write('empty.yaml', ''))).options, {});
});

test('what cannot be read, or is not run, is a ConfigFileError naming the file and the key', async () => {
  const base = path.join(dir, 'configs/Base.yaml');
  const cases = [
    [path.join(dir, 'missing.yaml'), /missing\.yaml: ENOENT/],
    [write('bad.yaml', 'MODEL:\n  SOTR:\n    NMS_PRE: [1\n'), /bad\.yaml: not valid YAML/],
    [write('list.yaml', '- 1\n- 2\n'), /list\.yaml: not a detectron2 config/],
    [write('multi.yaml', 'MODEL: {}\n---\nMODEL: {}\n'), /multi\.yaml: not valid YAML: several YAML documents \(--- at line 2/],
    // toJS's own errors: too many aliases (an expansion attack), a merge key of a scalar.
    [write('bomb.yaml', bomb()), /bomb\.yaml: not valid YAML: Excessive alias count/],
    [write('merge5.yaml', 'MODEL:\n  SOTR:\n    <<: 5\n'), /merge5\.yaml: not valid YAML: Merge sources must be maps/],
    // A section replaced by a value (a section whose keys are all commented out is null): detectron2 refuses it.
    [write('nullsection.yaml', `_BASE_: ${JSON.stringify(base)}\nMODEL:\n  # SOTR:\n  #   NUM_CLASSES: 5\n`), /nullsection\.yaml: MODEL: expected a mapping of keys, received null/],
    [write('sotr5.yaml', 'MODEL:\n  SOTR: 5\n'), /sotr5\.yaml: MODEL\.SOTR: expected a mapping of keys, received 5/],
    [write('nan.yaml', 'MODEL:\n  SOTR:\n    SCORE_THR: .nan\n'), /MODEL\.SOTR\.SCORE_THR: expected a number, received NaN/],
    [write('emptybase.yaml', '_BASE_: ""\n'), /emptybase\.yaml: _BASE_ must be a file name, received ""/],
    [write('mean.yaml', 'MODEL:\n  PIXEL_MEAN: [1, 2]\n'), /MODEL\.PIXEL_MEAN: expected 3 numbers, received \[1,2\]/],
    [write('grids.yaml', 'MODEL:\n  SOTR:\n    NUM_GRIDS: [a, b, c, d, e]\n'), /MODEL\.SOTR\.NUM_GRIDS: expected 5 numbers/],
    [write('thr.yaml', 'MODEL:\n  SOTR:\n    SCORE_THR: high\n'), /MODEL\.SOTR\.SCORE_THR: expected a number, received "high"/],
    [write('pre.yaml', 'MODEL:\n  SOTR:\n    NMS_PRE: 2.5\n'), /MODEL\.SOTR\.NMS_PRE: expected an integer/],
    [write('yuv.yaml', 'INPUT:\n  FORMAT: YUV-BT.601\n'), /INPUT\.FORMAT: "YUV-BT\.601" is not supported \(the network is fed BGR or RGB images/],
    [write('masknms.yaml', 'MODEL:\n  SOTR:\n    NMS_TYPE: mask\n'), /MODEL\.SOTR\.NMS_TYPE: "mask" is not supported \(only Matrix NMS\)/],
    [write('solo.yaml', 'MODEL:\n  META_ARCHITECTURE: SOLOv2\n'), /MODEL\.META_ARCHITECTURE: "SOLOv2": not a SOTR config/],
    [write('fpngn.yaml', 'MODEL:\n  FPN:\n    NORM: GN\n'), /MODEL\.FPN\.NORM: "GN" is not supported/],
    [write('noresize.yaml', 'INPUT:\n  MIN_SIZE_TEST: 0\n'), /INPUT\.MIN_SIZE_TEST: 0 \(no resize\) is not supported/],
    [write('kernel.yaml', 'MODEL:\n  SOTR:\n    NMS_KERNEL: box\n'), /MODEL\.SOTR\.NMS_KERNEL: expected "gaussian" or "linear"/],
    [write('none.yaml', 'MODEL:\n  SOTR:\n    SCORE_THR: ~\n'), /MODEL\.SOTR\.SCORE_THR: has no value \(None\)/],
    [write('typo.yaml', 'MODEL:\n  SOTR:\n    SCORE_THRESH: 0.3\n'), /MODEL\.SOTR\.SCORE_THRESH: not a key of AdelaiDet's SOTR config/],
    [write('loop-a.yaml', '_BASE_: loop-b.yaml\n'), /_BASE_ files name each other in a loop/],
    [write('basenum.yaml', '_BASE_: 3\n'), /basenum\.yaml: _BASE_ must be a file name/],
    // Newer fvcore merges a list of bases; this reader takes one, and says so.
    [write('baselist.yaml', '_BASE_: [a.yaml, b.yaml]\n'), /baselist\.yaml: _BASE_ is a list \(\["a\.yaml","b\.yaml"\]\): a list of base files is not supported; give one file name/],
    // Not UTF-8 (detectron2 reads UTF-8; read leniently, Latin-1 gave "gaussi\ufffdn" and UTF-16 "not a mapping").
    [write('latin1.yaml', Buffer.from('MODEL:\n  SOTR:\n    NMS_KERNEL: gaussi\xe9n\n', 'latin1')), /latin1\.yaml: not UTF-8 text: detectron2 reads config files as UTF-8/],
    [write('utf16.yaml', Buffer.from('\ufeffMODEL: {}\n', 'utf16le')), /utf16\.yaml: not UTF-8 text \(UTF-16: save it as UTF-8\)/],
    // fvcore downloads a URL base; this reader does not, and says so (not "no such file").
    [write('baseurl.yaml', '_BASE_: https://example.org/Base-SOTR.yaml\n'), /baseurl\.yaml: _BASE_ https:\/\/example\.org\/Base-SOTR\.yaml is a URL: bases are read from files only/],
    // A base that is not there is named with the file that names it.
    [write('nobase.yaml', '_BASE_: nowhere.yaml\n'), /nobase\.yaml: _BASE_ \S*nowhere\.yaml: ENOENT/],
    // A key set in a base is reported with the base's name.
    [write('inherits.yaml', `_BASE_: ${JSON.stringify(write('yuvbase.yaml', 'INPUT:\n  FORMAT: L\n'))}\nMODEL: {}\n`), /yuvbase\.yaml: INPUT\.FORMAT/],
  ];
  write('loop-b.yaml', '_BASE_: loop-a.yaml\n');
  for (const [file, re] of cases) {
    for (const read of [readDetectron2Config, readDetectron2ConfigSync]) {
      const e = await Promise.resolve()
        .then(() => read(file))
        .then(() => null, (x) => x);
      assert.instance(e, ConfigFileError, `${path.basename(file)}: ${e?.message}`);
      assert.is(e.code, 'SOTR_CONFIG');
      assert.match(e.message, re);
      assert.type(e.details.file, 'string');
    }
  }
  void base;
});

// Nine levels of nine aliases: 9^10 values if expanded.
function bomb() {
  let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i < 10; i++) text += `a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]\n`;
  return text;
}

test('YAML as PyYAML reads it: a key given twice takes its last value, quickly; ~ in _BASE_ is the home folder', async () => {
  const dupe = write('dupe.yaml', 'MODEL:\n  SOTR:\n    SCORE_THR: 0.2\n    SCORE_THR: 0.3\n');
  assert.is((await readDetectron2Config(dupe)).options.scoreThreshold, 0.3);
  // 50 000 keys in one mapping (checking them unique took quadratic time: a minute here).
  const keys = Array.from({ length: 50000 }, (_, i) => `  K${i}: ${i}`).join('\n');
  const big = write('big.yaml', `JUNK:\n${keys}\nMODEL:\n  SOTR:\n    SCORE_THR: 0.25\n`);
  const t0 = Date.now();
  assert.is(readDetectron2ConfigSync(big).options.scoreThreshold, 0.25);
  assert.ok(Date.now() - t0 < 10000, `${Date.now() - t0} ms`);
  const home = mkdtempSync(path.join(tmpdir(), 'sotr-d2home-'));
  writeFileSync(path.join(home, 'base.yaml'), 'MODEL:\n  SOTR:\n    MASK_THR: 0.4\n');
  const was = process.env.HOME;
  process.env.HOME = home; // os.homedir() reads it
  try {
    const tilde = write('tilde.yaml', '_BASE_: ~/base.yaml\n');
    assert.is((await readDetectron2Config(tilde)).options.maskThreshold, 0.4);
  } finally {
    process.env.HOME = was;
  }
});

// Python 3.11's ast.literal_eval on each string (run by hand; the tests need no Python): the value, or null where it
// raises ValueError / SyntaxError and yacs keeps the string. Complex numbers, bytes, dicts, sets and Ellipsis are
// values literal_eval gives that no key takes: kept as the string (null) too. ['None', null, true]: the value None.
const LITERALS = [
  ['0x10', 16], ['0o17', 15], ['0O17', 15], ['0b101', 5], ['0x_10', 16], ['1_000', 1000], ['1_0.5', 10.5], ['0.1_5', 0.15],
  ['1e1_0', 1e10], ['1e-3', 0.001], ['1E5', 1e5], ['-.5', -0.5], ['.5', 0.5], ['+1', 1], ['- 1', -1], ['-(1)', -1],
  ['+.5e+2', 50], ['5.', 5], ['09.5', 9.5], ['00', 0], ['1e400', Infinity], ['-0x10', -16],
  ['017', null], ['0_1', null], ['1__0', null], ['_1', null], ['1_', null], ['1e', null], ['1_.5', null], ['0x1g', null],
  ['--1', null], ['+(-1)', null], ['-True', null], ['1 + 2', null], ['inf', null], ['nan', null], ['1.5j', null], ['1 - 2j', null],
  ['(640, 672)', [640, 672]], ['(640, 672,)', [640, 672]], ['[1, 2,]', [1, 2]], ['(1,)', [1]], ['(1)', 1], ['()', []],
  ['((1, 96), (2, 3))', [[1, 96], [2, 3]]], ['[1, [2, (3,)]]', [1, [2, [3]]]], ['1,2', [1, 2]], ['(1,2),', [[1, 2]]],
  ['(,)', null], ['[1][0]', null], ['(1)(2)', null], ['{1: 2}', null], ['{1, 2}', null], ['...', null], ['-(1,)', null],
  ['True', true], ['False', false], ['None', null, true], ['true', null], ['none', null], ['Ellipsis', null],
  ["'abc'", 'abc'], ['"a,b"', 'a,b'], ["'it''s'", 'its'], [`'x' "y"`, 'xy'], ["u'x'", 'x'], [String.raw`r'\x'`, String.raw`\x`],
  [String.raw`'a\nb'`, 'a\nb'], [String.raw`'\x41\u00e9\101'`, 'AéA'], [String.raw`'\d'`, String.raw`\d`], [String.raw`'\x4'`, null],
  [String.raw`'\N{DASH}'`, null], ["b'x'", null], ["f'x'", null], ["ur'x'", null], ["'a\nb'", null], ["'''a\nb'''", 'a\nb'],
  ["('a', None, True)", ['a', null, true]], ['  12  ', 12], ['12 # a comment', 12], ['[1,\n 2]', [1, 2]], ['12\n', 12],
  ['1,\n2', null], ['\n  12', null], ['BGR', null], ['abc', null], ['1 1', null], ['', null],
  ['('.repeat(200) + ')'.repeat(200), []], ['('.repeat(201) + ')'.repeat(201), null],
];

test("yacs' literals: pythonLiteral reads a string as Python's literal_eval does, or leaves it", () => {
  for (const [text, want, none] of LITERALS) {
    const got = pythonLiteral(text);
    if (none) assert.equal(got, { value: null }, text);
    else if (want === null) assert.is(got, null, `${JSON.stringify(text)}: ${JSON.stringify(got)}`);
    else assert.equal(got, { value: want }, text);
  }
  // Long inputs: no deep recursion, no quadratic work.
  const t0 = Date.now();
  assert.is(pythonLiteral('-'.repeat(500000) + '1'), null);
  assert.is(pythonLiteral(`[${'1, '.repeat(200000)}]`).value.length, 200000);
  assert.is(pythonLiteral('9'.repeat(5000)), null, 'more digits than Python converts');
  assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
});

test('quoted Python literals in a config: as yacs decodes them; what literal_eval refuses stays a string', async () => {
  const f = write(
    'literals.yaml',
    `INPUT:
  MIN_SIZE_TEST: "0x320"
  MAX_SIZE_TEST: "1_333"
  FORMAT: "'RGB'"
MODEL:
  PIXEL_MEAN: "(103.53, 116.28, 123.675,)"
  PIXEL_STD: 57.375, 57.12, 58.395
  RESNETS:
    DEFORM_ON_PER_STAGE: "(False, True, True, True)"
    STRIDE_IN_1X1: "False"
  SOTR:
    NUM_GRIDS: "[40, 36, 24, 16, 12,]"
    SCORE_THR: "1e-1"
    NMS_KERNEL: '"linear"'
    NUM_CLASSES: "0b101"
`,
  );
  const c = await readDetectron2Config(f);
  assert.equal(c.options, {
    minSize: 800,
    maxSize: 1333,
    inputFormat: 'RGB',
    pixelMean: [103.53, 116.28, 123.675],
    pixelStd: [57.375, 57.12, 58.395],
    strideInOneByOne: false,
    numGrids: [40, 36, 24, 16, 12],
    scoreThreshold: 0.1,
    nmsKernel: 'linear',
  });
  assert.equal(c.structure, { numClasses: 5, deformStages: [false, true, true, true] });
  // (1) is 1; the others are strings to yacs, so not sizes.
  assert.is((await readDetectron2Config(write('paren.yaml', 'INPUT:\n  MIN_SIZE_TEST: "(640)"\n'))).options.minSize, 640);
  for (const value of ['017', '1__0', '1.5j', '0x']) {
    const file = write('literal1.yaml', `INPUT:\n  MIN_SIZE_TEST: "${value}"\n`);
    const e = await readDetectron2Config(file).then(() => null, (x) => x);
    assert.instance(e, ConfigFileError, value);
    assert.ok(e.message.endsWith(`INPUT.MIN_SIZE_TEST: expected a number, received "${value}"`), e.message);
  }
});

test('limits: a file over 1 MiB and a chain of more than 16 _BASE_ files are refused before they are parsed', async () => {
  const big = write('huge.yaml', `# ${'x'.repeat(1 << 20)}\n`);
  const child = write('huge-child.yaml', `_BASE_: huge.yaml\n`);
  for (const read of [readDetectron2Config, readDetectron2ConfigSync]) {
    let e = await Promise.resolve().then(() => read(big)).then(() => null, (x) => x);
    assert.instance(e, ConfigFileError);
    assert.match(e.message, /huge\.yaml: larger than 1 MiB, the most a config file may hold/);
    assert.equal([e.details.file, e.details.limitBytes], [big, 1 << 20]);
    e = await Promise.resolve().then(() => read(child)).then(() => null, (x) => x);
    assert.match(e.message, /huge-child\.yaml: _BASE_ \S*huge\.yaml: larger than 1 MiB/);
    // A device: its first MiB is read, no more.
    if (process.platform === 'win32') continue;
    e = await Promise.resolve().then(() => read('/dev/zero')).then(() => null, (x) => x);
    assert.match(e?.message, /^\/dev\/zero: larger than 1 MiB/);
  }
  // Exactly 1 MiB is read.
  const edge = write('mib.yaml', 'MODEL:\n  SOTR:\n    SCORE_THR: 0.3\n#'.padEnd(1 << 20, 'x'));
  assert.is((await readDetectron2Config(edge)).options.scoreThreshold, 0.3);
  // 17 files (16 bases) are read; 18 are not.
  write('chain/c0.yaml', 'MODEL:\n  SOTR:\n    MASK_THR: 0.45\n');
  for (let i = 1; i <= 17; i++) write(`chain/c${i}.yaml`, `_BASE_: c${i - 1}.yaml\n`);
  const chain = await readDetectron2Config(path.join(dir, 'chain/c16.yaml'));
  assert.equal([chain.files.length, chain.options.maskThreshold], [17, 0.45]);
  for (const read of [readDetectron2Config, readDetectron2ConfigSync]) {
    const e = await Promise.resolve().then(() => read(path.join(dir, 'chain/c17.yaml'))).then(() => null, (x) => x);
    assert.match(e?.message, /c17\.yaml: more than 16 _BASE_ files, the most a chain may have/);
  }
});

test('the asynchronous reader parses each file of a chain once', async () => {
  const yaml = createRequire(import.meta.url)('yaml'); // the module instance dist requires
  const parse = yaml.parseDocument;
  let calls = 0;
  yaml.parseDocument = (...args) => (calls++, parse(...args));
  try {
    const c = await readDetectron2Config(variant);
    assert.is(c.files.length, 2);
    assert.is(calls, 2);
  } finally {
    yaml.parseDocument = parse;
  }
});

test('checkStructure: every difference from a loaded model, or nothing', async () => {
  const ck = path.join(dir, 'five.safetensors');
  await writeRandomSotrCheckpoint(ck, { preset: 'tiny', numClasses: 5, seed: 1 });
  const m = await Sotr.load(ck, { device: 'cpu', onWarning: () => {} });
  try {
    const good = await readDetectron2Config(write('good.yaml', 'MODEL:\n  SOTR:\n    NUM_CLASSES: 5\n  FPN:\n    OUT_CHANNELS: 16\n  RESNETS:\n    DEFORM_ON_PER_STAGE: [False, False, False, False]\n'));
    good.checkStructure(m.config);
    const bad = await readDetectron2Config(write('other.yaml', 'MODEL:\n  SOTR:\n    NUM_CLASSES: 80\n  RESNETS:\n    DEPTH: 50\n    DEFORM_ON_PER_STAGE: [False, True, True, True]\n'));
    try {
      bad.checkStructure(m.config);
      assert.unreachable('a config of another checkpoint');
    } catch (e) {
      assert.instance(e, ConfigFileError);
      assert.match(e.message, /other\.yaml: the config is not this checkpoint's: MODEL\.SOTR\.NUM_CLASSES 80 \(the checkpoint's classes: 5\); MODEL\.RESNETS\.DEPTH 50 \(the checkpoint's ResNet depth: 14\); MODEL\.RESNETS\.DEFORM_ON_PER_STAGE \[false, true, true, true\] \(the checkpoint's deformable stages: \[false, false, false, false\]\)/);
      assert.is(e.details.differences.length, 3);
    }
    // A difference a _BASE_ sets is named with the base.
    const baseFile = write('classes80.yaml', 'MODEL:\n  SOTR:\n    NUM_CLASSES: 80\n');
    const child = await readDetectron2Config(write('child.yaml', `_BASE_: ${JSON.stringify(baseFile)}\nINPUT:\n  MIN_SIZE_TEST: 600\n`));
    try {
      child.checkStructure(m.config);
      assert.unreachable('a base of another checkpoint');
    } catch (e) {
      assert.match(e.message, /classes80\.yaml: the config is not this checkpoint's: MODEL\.SOTR\.NUM_CLASSES 80/);
    }
  } finally {
    await m.dispose();
  }
});

test("the options load a model that predicts as one loaded with the same values by hand", async () => {
  const f = write('tiny.yaml', 'MODEL:\n  SOTR:\n    NUM_GRIDS: [20, 18, 12, 8, 6]\n    SCORE_THR: 0.2\n    NMS_KERNEL: linear\nINPUT:\n  MIN_SIZE_TEST: 64\n  MAX_SIZE_TEST: 400\n');
  const c = await readDetectron2Config(f);
  const byHand = { numGrids: [20, 18, 12, 8, 6], scoreThreshold: 0.2, nmsKernel: 'linear', minSize: 64, maxSize: 400 };
  assert.equal(c.options, byHand);
  const img = fixturePath('img_land.png');
  const got = [];
  for (const o of [c.options, byHand, {}]) {
    const m = await Sotr.load(fixturePath('tiny_sotr.pth'), { device: 'cpu', onWarning: () => {}, minSize: 64, maxSize: 400, ...o });
    try {
      got.push(instanceSummary(await m.predict(img)));
    } finally {
      await m.dispose();
    }
  }
  assert.equal(got[0], got[1]);
  assert.not.equal(got[0], got[2], 'the config changes the results');
});

test.run();
