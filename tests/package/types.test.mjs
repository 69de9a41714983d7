// The published typings: a TypeScript consumer of 'sotr-node' (resolved through package.json's "exports"/"types",
// as an installed package is) type-checks against dist/*.d.ts, from ESM (module node16) and from CommonJS (node10):
// the README's example, predict's options, the outputs (RLE, contours, polygons, overlays, COCO evaluation), tensors
// and errors; and the types refuse what the runtime refuses (@ts-expect-error lines, which fail the check if the
// types accept them). Nothing runs: tsc --noEmit only.
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
}
void main;
`;
const NAMES =
  'Sotr, masksToContours, masksToRLE, contoursToCocoPolygons, approxPolygon, renderPrediction, evaluateCoco, Tensor, matmul, backendInfo, ImageDecodeError, SotrError';
const TYPES = 'Prediction, PredictEachItem, RawImage, Contour, CocoRle';

function project(kind) {
  const dir = mkdtempSync(path.join(tmpdir(), `sotr-types-${kind}-`));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(root, path.join(dir, 'node_modules', 'sotr-node'), 'dir');
  const esm = kind === 'esm';
  const file = esm ? 'consumer.mts' : 'consumer.cts';
  const head = esm
    ? `import { ${NAMES} } from 'sotr-node';\nimport type { ${TYPES} } from 'sotr-node';\n`
    : `import { ${NAMES} } from 'sotr-node';\nimport type { ${TYPES} } from 'sotr-node';\n`;
  writeFileSync(path.join(dir, file), head + BODY);
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'ESNext.Disposable', 'DOM'],
        module: esm ? 'node16' : 'commonjs',
        moduleResolution: esm ? 'node16' : 'node10',
        strict: true,
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

for (const kind of ['esm', 'cjs']) {
  test(`a TypeScript ${kind === 'esm' ? 'ESM (node16)' : 'CommonJS (node10)'} consumer type-checks against the published typings`, () => {
    const dir = project(kind);
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8', cwd: dir });
    assert.is(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  });
}

test.run();
