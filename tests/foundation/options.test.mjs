// Unknown option keys are refused (ts/options.ts): a misspelt option used to be ignored and the call ran with the
// default. Each public entry point that takes an options object (the checkpoint reader and Tensor.from too), and the
// "did you mean" suggestions.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Sotr,
  inspectCheckpoint,
  renderPrediction,
  decodeImage,
  masksToContours,
  masksToRLE,
  contoursToCocoPolygons,
  randomSotrCheckpoint,
  writeRandomSotrCheckpoint,
  randomModelStructure,
  readCheckpoint,
  readSafetensors,
  startOpProfile,
  isOpProfiling,
  SotrTypeError,
  SotrRangeError,
  Tensor,
  conv2d,
  deformConv2d,
  interpolate,
  add,
  relu,
  matmul,
  groupNorm,
  maxPool2d,
  matrixNms,
  resizeMasks,
  twinAttention,
  prepareImage,
  prepareImageTensor,
  resolveConfig,
  checkSotrKeys,
  readSafetensorsHeader,
  formatOpProfile,
} from '../../dist/index.js';
import { checkOptions, nearestKey } from '../../dist/options.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const tiny = path.join(root, 'tests', 'fixtures', 'model', 'tiny_sotr.pth');
const img = path.join(root, 'tests', 'fixtures', 'model', 'img_land.png');

async function refused(fn, key, suggestion) {
  try {
    await fn();
  } catch (e) {
    assert.instance(e, SotrTypeError, String(e));
    assert.is(e.code, 'SOTR_INVALID_ARGUMENT');
    assert.ok(e.message.includes(`'${key}'`), e.message);
    if (suggestion) assert.ok(e.message.includes(`did you mean '${suggestion}'?`), e.message);
    else assert.not.ok(e.message.includes('did you mean'), e.message);
    return e;
  }
  assert.unreachable(`${key} was accepted`);
}

test('nearestKey: case slips, transpositions and a few edits; nothing for unrelated words', () => {
  const keys = ['scoreThreshold', 'maskThreshold', 'minSize', 'maxSize', 'device', 'rle'];
  assert.is(nearestKey('scoreTreshold', keys), 'scoreThreshold');
  assert.is(nearestKey('ScoreThreshold', keys), 'scoreThreshold');
  assert.is(nearestKey('score_threshold', keys), 'scoreThreshold');
  assert.is(nearestKey('minSzie', keys), 'minSize');
  assert.is(nearestKey('devcie', keys), 'device');
  assert.is(nearestKey('rel', keys), 'rle');
  assert.is(nearestKey('banana', keys), undefined);
  assert.is(nearestKey('gpu', keys), undefined);
});

test('checkOptions: undefined is the defaults; keys spread in as undefined pass; non-objects and arrays are refused', () => {
  checkOptions('f', undefined, ['a']);
  checkOptions('f', { a: 1, b: undefined }, ['a']);
  assert.throws(() => checkOptions('f', null, ['a']), (e) => e instanceof SotrTypeError && /f: options must be an object, received null/.test(e.message));
  assert.throws(() => checkOptions('f', [], ['a']), (e) => /received an array/.test(e.message));
  assert.throws(() => checkOptions('f', 3, ['a']), (e) => /received number/.test(e.message));
  assert.throws(() => checkOptions('f', { a: 1, x: 2, y: 3 }, ['a']), (e) => /unknown options 'x', 'y'; known: a/.test(e.message));
});

test('Sotr.load, inspectCheckpoint, predict, warmup refuse unknown options, naming the nearest known one', async () => {
  await refused(() => Sotr.load(tiny, { minSzie: 100 }), 'minSzie', 'minSize');
  await refused(() => Sotr.load(tiny, { gpu: true }), 'gpu');
  await refused(() => inspectCheckpoint(tiny, { stateDictkey: 'model' }), 'stateDictkey', 'stateDictKey');
  const m = await Sotr.load(tiny, { minSize: 40, maxSize: 200, onWarning: () => {}, scoreThreshold: 0.2, classNames: undefined });
  try {
    await refused(() => m.predict(img, { scoreTreshold: 0.5 }), 'scoreTreshold', 'scoreThreshold');
    await refused(() => m.predict([img, img], { maxPerimage: 5 }), 'maxPerimage', 'maxPerImage');
    await refused(() => m.warmup({ widht: 64 }), 'widht', 'width');
    assert.is(m.pendingImages, 0, 'a refused call takes no turn');
    const r = await m.predict(img, { scoreThreshold: 0.5, maxPerImage: 5, rle: true, contours: undefined });
    assert.ok(r.instances.length <= 5);
    await refused(() => renderPrediction(img, r, { maskOpacity: 0.5, opacity: 0.3 }), 'opacity');
    await refused(() => decodeImage(img, { limitInputPixel: 10 }), 'limitInputPixel', 'limitInputPixels');
    const masks = r.instances.map((i) => i.mask);
    await refused(() => masksToContours(masks, { mode: 'ccomp', aprox: 'none' }), 'aprox', 'approx');
    await refused(() => masksToRLE(masks, { signl: undefined, sgnal: new AbortController().signal }), 'sgnal', 'signal');
    await refused(() => contoursToCocoPolygons([], { epsilion: 1 }), 'epsilion', 'epsilon');
    await refused(() => randomSotrCheckpoint({ preset: 'tiny', sed: 1 }), 'sed', 'seed');
  } finally {
    await m.dispose();
  }
});

test('the ops refuse unknown options too (a misspelt stride used to give a stride-1 convolution)', async () => {
  const x = Tensor.from(new Float32Array(2 * 4 * 4), [1, 2, 4, 4]);
  const w = Tensor.from(new Float32Array(3 * 2 * 3 * 3), [3, 2, 3, 3]);
  try {
    await refused(() => conv2d(x, w, { stirde: 2 }), 'stirde', 'stride');
    await refused(() => conv2d(x, w, { padding: 1, algoritm: 'direct' }), 'algoritm', 'algorithm');
    await refused(() => deformConv2d(x, x, null, w, { algorithm: 'direct' }), 'algorithm');
    await refused(() => interpolate(x, { size: [8, 8], mode: 'bilinear', alignCorner: false }), 'alignCorner', 'alignCorners');
    await refused(() => interpolate(x, [8, 8], 'bilinear', { aligncorners: false }), 'aligncorners', 'alignCorners');
    await refused(() => add(x, x, { alhpa: 2 }), 'alhpa', 'alpha');
    await refused(() => relu(x, { precison: 'fp32' }), 'precison', 'precision');
    await refused(() => matmul(w, w, { tranB: true }), 'tranB', 'transB');
    await refused(() => groupNorm(x, 1, { epsilon: 1e-5 }), 'epsilon');
    await refused(() => maxPool2d(x, { kernelSize: 2, strides: 2 }), 'strides', 'stride');
    await refused(() => matrixNms(x, [0], [1], { sigm: 2 }), 'sigm', 'sigma');
    await refused(() => resizeMasks(x, { ratio: 4, crop: [4, 4], size: [8, 8], treshold: 0.5 }), 'treshold', 'threshold');
    await refused(() => twinAttention(x, {}, { head: 8 }), 'head', 'heads');
    // Known keys still work.
    const y = await conv2d(x, w, { stride: 2, padding: 1, precision: 'fp32', signal: undefined });
    assert.equal(y.shape, [1, 3, 2, 2]);
    y.dispose();
  } finally {
    x.dispose();
    w.dispose();
  }
});

test('the checkpoint reader, Tensor.from / zeros / fromEntry, startOpProfile and the random models refuse unknown options, before any file is opened', async () => {
  // A path that does not exist: the options are refused before the file is opened (not ENOENT).
  const nowhere = path.join(root, 'no-such-file.pth');
  await refused(() => readCheckpoint(nowhere, { maxTensor: 10 }), 'maxTensor', 'maxTensors');
  await refused(() => readCheckpoint(nowhere, { stripPrefix: ['model.'] }), 'stripPrefix', 'stripPrefixes');
  await refused(() => readSafetensors(nowhere, { maxTensors: 10 }), 'maxTensors'); // readSafetensors takes three
  for (const [options, Cls, re] of [
    [{ readConcurrency: 'x' }, SotrTypeError, /readConcurrency must be a non-negative number, received "x"/],
    [{ maxTensors: null }, SotrTypeError, /maxTensors must be a non-negative number, received null/],
    [{ maxTensors: -1 }, SotrRangeError, /maxTensors must be a non-negative number, received -1/],
    [{ stateDictKey: 5 }, SotrTypeError, /stateDictKey must be a string, received 5/],
    [null, SotrTypeError, /readCheckpoint: options must be an object, received null/],
  ]) {
    try {
      await readCheckpoint(nowhere, options);
      assert.unreachable('accepted');
    } catch (e) {
      assert.instance(e, Cls, String(e));
      assert.match(e.message, re);
    }
  }
  // Known keys still read the file.
  assert.ok((await readCheckpoint(tiny, { maxTensors: 10_000, readConcurrency: 2, stateDictKey: undefined })).size > 0);
  await refused(() => Tensor.from([1, 2], [2], { devcie: 'cpu' }), 'devcie', 'device');
  await refused(() => Tensor.zeros([2], { dtpye: 'int32' }), 'dtpye', 'dtype');
  await refused(() => Tensor.fromEntry({ shape: [1], dtype: 'float32', data: new Float32Array(1) }, { Device: 'cpu' }), 'Device', 'device');
  await refused(() => startOpProfile({ devcie: 'cpu' }), 'devcie', 'device');
  assert.not.ok(isOpProfiling(), 'a refused profile does not start');
  // The message names the function called, not the one inside it.
  const e = await refused(() => writeRandomSotrCheckpoint(path.join(root, 'never-written.safetensors'), { prest: 'tiny' }), 'prest', 'preset');
  assert.match(e.message, /^writeRandomSotrCheckpoint: /);
  assert.match((await refused(() => randomModelStructure({ sede: 1 }), 'sede', 'seed')).message, /^randomModelStructure: /);
  assert.match((await refused(() => randomSotrCheckpoint({ sede: 1 }), 'sede', 'seed')).message, /^randomSotrCheckpoint: /);
});

test('the helpers around the model refuse unknown options too (a misspelt signal would not cancel, a misspelt constant kept its default)', async () => {
  const rgb = { bgr: new Uint8Array(12), width: 2, height: 2 };
  const pre = { minSize: 8, maxSize: 16, sizeDivisibility: 4, pixelMean: [0, 0, 0], pixelStd: [1, 1, 1] };
  await refused(() => prepareImage(rgb, pre, { signl: AbortSignal.abort() }), 'signl', 'signal');
  await refused(() => prepareImageTensor(rgb, pre, { singal: AbortSignal.abort() }), 'singal', 'signal');
  const shapes = await readCheckpoint(tiny);
  const ck = checkSotrKeys(shapes, { allowUnexpected: true });
  await refused(() => checkSotrKeys(shapes, { allowUnexpcted: true }), 'allowUnexpcted', 'allowUnexpected');
  await refused(() => resolveConfig(ck, { scoreTreshold: 0.9 }), 'scoreTreshold', 'scoreThreshold');
  assert.is(resolveConfig(ck, { scoreThreshold: 0.9, device: 'cpu' }).scoreThreshold, 0.9); // Sotr.load's keys pass
  await refused(() => readSafetensorsHeader(path.join(root, 'no-such-file.safetensors'), { maxHeaderByte: 10 }), 'maxHeaderByte', 'maxHeaderBytes');
  await refused(() => formatOpProfile({ ops: [], devices: [], busyMs: 0 }, { tpo: 3 }), 'tpo', 'top');
});

test.run();
