// The published typings: a TypeScript consumer of 'sotr-node' (resolved through package.json's "exports"/"types",
// as an installed package is) type-checks against dist/*.d.ts, from ESM (module node16) and from CommonJS (node10):
// the README's example, predict's options, the outputs (RLE, contours, polygons, overlays, COCO evaluation), tensors
// and errors; and the types refuse what the runtime refuses (@ts-expect-error lines, which fail the check if the
// types accept them). An ESM consumer is typed by dist/index.d.mts (an ES module declaration, as dist/index.mjs is
// what Node runs for it; typing it with the CommonJS index.d.ts was "masquerading as CJS"), under node16, nodenext and
// bundler resolution, with named, default and namespace imports. Nothing runs: tsc --noEmit only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const BODY = `
async function main(): Promise<void> {
  await using model = await Sotr.load('SOTR_R50.pth', { device: 'auto', precision: 'bf16', minSize: 800 });
  await model.warmup();
  const ac = new AbortController();
  const r: Prediction = await model.predict('photo.jpg', { signal: ac.signal, rle: true, contours: { mode: 'ccomp', approx: 'none' } });
  const many: Prediction[] = await model.predict(['a.jpg', 'b.png', new URL('file:///photos/c.jpg')]);
  const backlog: number = model.pendingImages;
  async function* frames(): AsyncGenerator<RawImage> {
    yield { data: new Uint8Array(12), width: 2, height: 2, channels: 3, format: 'bgr' };
  }
  for await (const item of model.predictEach(['a.jpg', Buffer.alloc(0)], { rle: true })) {
    if (item.error) console.log(item.index, item.image, item.error.message);
    else console.log(item.prediction.instances.length);
  }
  // Items carry the source's own element type.
  for await (const item of model.predictEach(['a.jpg', 'b.jpg'])) {
    const p: string = item.image;
    void p;
  }
  const each: PredictEachItem[] = [];
  for await (const item of model.predictEach(frames(), { signal: ac.signal })) each.push(item);
  // @ts-expect-error: one path is for predict(), not predictEach()
  model.predictEach('photo.jpg');
  // @ts-expect-error: predictEach takes an iterable of images
  model.predictEach(42);
  const waited: number | undefined = (await model.predict('c.jpg', { profile: true })).profile?.queue;
  void backlog, waited;
  for (const inst of r.instances) {
    const box: [number, number, number, number] = inst.box;
    const rle: string = inst.mask.toCocoRLE().counts;
    const contours: Contour[] | undefined = inst.contours;
    const polys: number[][] = contoursToCocoPolygons(contours ?? [], { epsilon: 1.5 });
    if (contours && contours[0]) {
      const pts: Int32Array = approxPolygon(contours[0].points, 2);
      const hole: boolean = contours[0].hole;
      void pts, hole;
    }
    void box, rle, polys, inst.category, inst.score.toFixed(3);
  }
  const lists: Contour[][] = await masksToContours(r.instances.map((i) => i.mask), { mode: 'external' });
  const rles: CocoRle[] = await masksToRLE(r.instances.map((i) => i.mask));
  const png: Buffer = await renderPrediction('photo.jpg', r, { format: 'webp', quality: 80 });
  const summary = await evaluateCoco({ images: [], annotations: [], categories: [] }, [], 'bbox');
  const stats: number[] = summary.stats;
  const t = Tensor.from(new Float32Array(6), [2, 3], { device: 'cpu' });
  const c = await matmul(t, Tensor.from(new Float32Array(6), [3, 2]), { precision: 'fp32' });
  const data = await c.data();
  c.dispose();
  try {
    await model.predict('x.jpg');
  } catch (e) {
    if (e instanceof ImageDecodeError) console.log(e.message);
    if (e instanceof SotrError) console.log(e.code);
  }
  const info = backendInfo();
  void many, lists, rles, png, stats, data, info, t;
  // @ts-expect-error: contours.mode is 'external' or 'ccomp'
  await model.predict('x.jpg', { contours: { mode: 'tree' } });
  // @ts-expect-error: approxPolygon takes points and an epsilon
  approxPolygon('points');
  // @ts-expect-error: renderPrediction's formats are png, jpeg and webp
  await renderPrediction('x.jpg', r, { format: 'gif' });
  // One path or a list, not known until run time: the union overload.
  const either: string | string[] = Math.random() < 0.5 ? 'a.jpg' : ['a.jpg'];
  const one: Prediction | Prediction[] = await model.predict(either);
  // A COCO annotation file's standard fields (not read by the evaluation) type-check.
  const gt: CocoGroundTruth = {
    info: { year: 2017 },
    licenses: [],
    images: [{ id: 1, width: 4, height: 4, file_name: 'a.jpg', license: 1, coco_url: 'u', date_captured: 'd' }],
    annotations: [],
    categories: [{ id: 1, name: 'person', supercategory: 'person' }],
  };
  for (const { id, file_name } of gt.images) void id, file_name;
  // The model's configuration is fixed at load (frozen), and the defaults too.
  // @ts-expect-error: config is read-only (thresholds are predict's options)
  model.config.scoreThreshold = 0.99;
  // @ts-expect-error: SOTR_DEFAULTS' arrays are read-only
  SOTR_DEFAULTS.numGrids.push(1);
  const from: 'SOTR_NUM_THREADS' | 'option' | 'cpu quota' | 'cores' = backendInfo().threadsFrom;
  try {
    await model.predict('x.jpg', { scoreThreshold: 0.3 });
  } catch (e) {
    if (isSotrError(e)) {
      const code: SotrErrorCode = e.code;
      void code;
    }
  }
  const overrides: ConfigOverrides = { minSize: 640 };
  // Options built from values that may be undefined (a query parameter, an environment variable).
  const maybe: number | undefined = process.env.MIN_SCORE ? Number(process.env.MIN_SCORE) : undefined;
  await model.predict('x.jpg', { minScore: maybe, signal: undefined, classes: undefined });
  await Sotr.load('m.pth', { device: process.env.SOTR_DEVICE, onWarning: undefined });
  const fixed = [1, 2, 3, 4] as const;
  Tensor.from(fixed, [2, 2], { dtype: 'int32' }).dispose();
  // A tensor made from data knows its dtype: data() resolves to its own typed array, through views and copies.
  const f32: Float32Array = await Tensor.from(new Float32Array(4), [2, 2]).reshape([4]).data();
  const i32: Int32Array = await Tensor.from([1, 2], [2], { dtype: 'int32' }).narrow(0, 1).data();
  const u8: Uint8Array = await Tensor.zeros([3], { dtype: 'uint8' }).data();
  const bf: Uint16Array = await Tensor.from(new Uint16Array(2), [2], { dtype: 'bfloat16' }).data();
  const dflt: Float32Array = await Tensor.zeros([2]).data();
  const anyDtype: Float32Array | Uint16Array | Uint8Array | Int32Array = await c.data();
  // @ts-expect-error: a float32 tensor's data is not an Int32Array
  const wrong: Int32Array = await Tensor.from(new Float32Array(1), [1]).data();
  // @ts-expect-error: Uint16Array data are float16 or bfloat16 bits: the dtype must say which
  Tensor.from(new Uint16Array(2), [2]);
  // @ts-expect-error: ... an empty options object does not
  Tensor.from(new Uint16Array(2), [2], {});
  // A dtype known only at run time still compiles (the runtime checks it).
  const runtimeDtype: DType = Math.random() < 2 ? 'bfloat16' : 'float32';
  Tensor.from(new Uint16Array(2), [2], { dtype: runtimeDtype }).dispose();
  const anyData: TensorData = new Float32Array(2);
  Tensor.from(anyData, [2]).dispose();
  // A checkpoint trained on another dataset: its classes from its COCO annotations.
  const categories: CocoCategories = cocoCategories(JSON.parse('{"categories": [{"id": 1, "name": "cat"}]}'));
  await Sotr.load('m.pth', { ...categories, device: 'cpu' });
  await Sotr.load('m.pth', { classNames: ['cat'], cocoCategoryIds: undefined });
  // ... and the detectron2 config it was trained with.
  const d2: Detectron2Config = await readDetectron2Config('output/config.yaml');
  const trained = await Sotr.load('output/model_final.pth', { ...d2.options, ...categories });
  d2.checkStructure(trained.config);
  await trained.dispose();
  // Data of any dtype (TensorData): a Tensor of any dtype.
  const someData: Float32Array | Int32Array = Math.random() < 0.5 ? new Float32Array(1) : new Int32Array(1);
  const some: Tensor = Tensor.from(someData, [1]);
  void some;
  const narrowTo: Tensor = Tensor.from(new Float32Array(1), [1]);
  const half: TensorDataOf['float16'] = new Uint16Array(1);
  const opts: TensorFromOptionsOf<'bfloat16'> = { dtype: 'bfloat16', device: 'cpu' };
  void half, opts;
  void f32, i32, u8, bf, dflt, anyDtype, wrong, narrowTo;
  const box: CocoBox = [0, 0, 1, 1];
  void one, overrides, box, from;
}
void main;
`;
const NAMES =
  'Sotr, masksToContours, masksToRLE, contoursToCocoPolygons, approxPolygon, renderPrediction, evaluateCoco, Tensor, matmul, backendInfo, ImageDecodeError, SotrError, isSotrError, SOTR_DEFAULTS, cocoCategories, readDetectron2Config';
const TYPES = 'TensorDataOf, TensorFromOptionsOf, Prediction, PredictEachItem, RawImage, Contour, CocoRle, CocoGroundTruth, SotrErrorCode, ConfigOverrides, CocoBox, DecodedPixels, AttrValue, NativeBackendInfo, NativeMemoryInfo, OpProfileSummary, TensorData, CocoCategories, Detectron2Config, DType';

function project(kind, resolution = { module: 'node16', moduleResolution: 'node16' }) {
  const dir = mkdtempSync(path.join(tmpdir(), `sotr-types-${kind}-`));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(root, path.join(dir, 'node_modules', 'sotr-node'), 'dir');
  const esm = kind === 'esm';
  const file = esm ? 'consumer.mts' : 'consumer.cts';
  // The default and namespace imports are index.mjs's: the whole library (`export default lib`) and its names.
  const head = esm
    ? `import { ${NAMES} } from 'sotr-node';\nimport type { ${TYPES} } from 'sotr-node';\n` +
      `import lib from 'sotr-node';\nimport * as ns from 'sotr-node';\n` +
      `const sameSotr: typeof Sotr = lib.Sotr;\nconst sameTensor: typeof Tensor = ns.default.Tensor;\nvoid sameSotr, sameTensor, ns.matmul;\n`
    : `import { ${NAMES} } from 'sotr-node';\nimport type { ${TYPES} } from 'sotr-node';\n`;
  writeFileSync(path.join(dir, file), head + BODY);
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'ESNext.Disposable', 'DOM'],
        module: esm ? resolution.module : 'commonjs',
        moduleResolution: esm ? resolution.moduleResolution : 'node10',
        strict: true,
        // The most demanding settings users run: an option given as a possibly-undefined value must type-check.
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules', '@types')],
      },
      files: [file],
    }),
  );
  return dir;
}

// The file tsc took for an import of `specifier`: --explainFiles lists each file on a line of its own, then indented
// lines saying why it is in ("Imported via 'sotr-node' from file ...").
function fileImportedAs(explained, specifier) {
  let file;
  for (const line of explained.split('\n')) {
    if (/^\S/.test(line)) file = line.trim();
    else if (line.includes(`Imported via '${specifier}'`)) return file;
  }
  return undefined;
}

const KINDS = [
  ['esm', { module: 'node16', moduleResolution: 'node16' }, 'ESM (node16)', 'index.d.mts'],
  ['esm', { module: 'nodenext', moduleResolution: 'nodenext' }, 'ESM (nodenext)', 'index.d.mts'],
  ['esm', { module: 'esnext', moduleResolution: 'bundler' }, 'ESM (bundler)', 'index.d.mts'],
  ['cjs', undefined, 'CommonJS (node10)', 'index.d.ts'],
];
for (const [kind, resolution, label, typings] of KINDS) {
  test(`a TypeScript ${label} consumer type-checks against the published typings (dist/${typings})`, () => {
    const dir = project(kind, resolution);
    const r = spawnSync(process.execPath, [tsc, '-p', dir, '--explainFiles'], { encoding: 'utf8', cwd: dir });
    assert.is(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
    const entry = fileImportedAs(r.stdout, 'sotr-node');
    assert.ok(entry, `tsc did not list the file 'sotr-node' resolved to:\n${r.stdout.slice(-3000)}`);
    assert.ok(entry.trim().endsWith(`/dist/${typings}`), `the entry resolved to ${entry.trim()}, not dist/${typings}`);
  });
}

test.run();
