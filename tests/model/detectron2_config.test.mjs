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
