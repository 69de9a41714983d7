// The scripts in examples/ run: segment-and-export on two example images with the tiny model (overlays, COCO
// results, polygon features with rings closed; an unreadable image between them reported, the others exported),
// cutout (the classes asked for kept, the rest transparent), and the HTTP service answering a POSTed image, a bad image (422
// with the library's error code) and a wrong route (404), then stopping on SIGTERM. They import 'sotr-node' as a user
// would: a scratch folder's node_modules links to this checkout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'sotr-examples-'));
mkdirSync(path.join(dir, 'node_modules'));
symlinkSync(root, path.join(dir, 'node_modules', 'sotr-node'), 'dir');
// sharp, which cutout.mjs imports itself: npm installs it beside sotr-node (its dependency) in a user's project.
symlinkSync(path.join(root, 'node_modules', 'sharp'), path.join(dir, 'node_modules', 'sharp'), 'dir');
cpSync(path.join(root, 'examples'), path.join(dir, 'examples'), { recursive: true });
const img = (n) => path.join(root, 'examples', 'images', n);

test('examples/segment-and-export.mjs: overlays, COCO results and polygon features', () => {
  const out = path.join(dir, 'out');
  const r = spawnSync(process.execPath, [path.join(dir, 'examples', 'segment-and-export.mjs'), 'tiny', out, img('street.jpg'), img('table.jpg')], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.is(r.status, 0, r.stderr);
  assert.equal(readdirSync(out).sort(), ['coco-results.json', 'street.overlay.jpg', 'street.polygons.json', 'table.overlay.jpg', 'table.polygons.json']);
  const coco = JSON.parse(readFileSync(path.join(out, 'coco-results.json'), 'utf8'));
  assert.ok(coco.length > 0);
  assert.equal([...new Set(coco.map((c) => c.image_id))].sort(), [1, 2]);
  // An unreadable image in the middle: reported, exit code 2, the images around it exported.
  const bad = path.join(dir, 'broken.jpg');
  writeFileSync(bad, 'not a picture');
  const out2 = path.join(dir, 'out2');
  const r2 = spawnSync(process.execPath, [path.join(dir, 'examples', 'segment-and-export.mjs'), 'tiny', out2, img('street.jpg'), bad, img('table.jpg')], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.is(r2.status, 2, r2.stderr);
  assert.match(r2.stderr, /broken\.jpg: /);
  assert.ok(readdirSync(out2).includes('table.overlay.jpg'));
  assert.equal([...new Set(JSON.parse(readFileSync(path.join(out2, 'coco-results.json'), 'utf8')).map((c) => c.image_id))].sort(), [1, 3]);
  const fc = JSON.parse(readFileSync(path.join(out, 'street.polygons.json'), 'utf8'));
  assert.is(fc.type, 'FeatureCollection');
  assert.ok(fc.features.length > 0);
  for (const f of fc.features) {
    for (const ringPts of f.geometry.coordinates) {
      assert.ok(ringPts.length >= 4);
      assert.equal(ringPts[0], ringPts[ringPts.length - 1], 'closed ring');
    }
  }
});

test('examples/cutout.mjs: the photo with everything but the classes asked for transparent', async () => {
  const sharp = (await import('sharp')).default;
  const out = path.join(dir, 'cutout.png');
  // The tiny random model finds "refrigerators" (shapes, not objects) in this picture.
  const r = spawnSync(process.execPath, [path.join(dir, 'examples', 'cutout.mjs'), 'tiny', img('street.jpg'), out, 'refrigerator', 'tie'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /refrigerator/);
  const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
  const src = await sharp(img('street.jpg')).metadata();
  assert.equal([info.width, info.height, info.channels], [src.width, src.height, 4]);
  let opaque = 0;
  for (let p = 3; p < data.length; p += 4) if (data[p] === 255) opaque++;
  assert.ok(opaque > 0 && opaque < info.width * info.height, `${opaque} opaque pixels`);
  const none = spawnSync(process.execPath, [path.join(dir, 'examples', 'cutout.mjs'), 'tiny', img('street.jpg'), path.join(dir, 'x.png'), 'no such class'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.is(none.status, 1);
  assert.match(none.stderr, /no class is named "no such class"/);
});

test('examples/http-server.mjs: answers a POSTed image (all classes or some), 422 for a bad one, 400 for an unknown class, 503 when busy, 404 elsewhere; stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [path.join(dir, 'examples', 'http-server.mjs'), 'tiny', '0'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MAX_PENDING: '1' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    const port = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /localhost:(\d+)\/segment/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const ok = await fetch(`${base}/segment?polygons=1`, { method: 'POST', body: readFileSync(img('street.jpg')) });
    assert.is(ok.status, 200);
    const body = await ok.json();
    assert.is(body.width, 480);
    assert.ok(body.instances.length > 0);
    assert.type(body.instances[0].rle.counts, 'string');
    assert.ok(Array.isArray(body.instances[0].polygons));
    // ?classes: only those classes; an unknown name is a 400 that lists the model's classes.
    const label = body.instances[0].class;
    const some = await (await fetch(`${base}/segment?classes=${encodeURIComponent(label)}`, { method: 'POST', body: readFileSync(img('street.jpg')) })).json();
    assert.ok(some.instances.length > 0 && some.instances.every((i) => i.class === label), JSON.stringify(some.instances.map((i) => i.class)));
    const unknown = await fetch(`${base}/segment?classes=unicorn`, { method: 'POST', body: readFileSync(img('street.jpg')) });
    assert.is(unknown.status, 400);
    assert.match((await unknown.json()).error, /unknown classes: unicorn \(the model's are person, /);
    const bad = await fetch(`${base}/segment`, { method: 'POST', body: Buffer.from('not an image') });
    assert.is(bad.status, 422);
    assert.is((await bad.json()).code, 'SOTR_IMAGE_DECODE');
    assert.is((await fetch(`${base}/other`)).status, 404);
    // MAX_PENDING=1: requests that arrive while another image is pending are turned away with Retry-After.
    const burst = await Promise.all(
      Array.from({ length: 6 }, () => fetch(`${base}/segment`, { method: 'POST', body: readFileSync(img('street.jpg')) })),
    );
    const statuses = burst.map((r) => r.status);
    assert.ok(statuses.every((s) => s === 200 || s === 503), statuses.join(' '));
    assert.ok(statuses.includes(200), statuses.join(' '));
    for (const r of burst) if (r.status === 503) assert.is(r.headers.get('retry-after'), '2');
    console.log(`  a burst of 6 with MAX_PENDING=1: ${statuses.join(' ')}`);
    const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.is(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
});

test.run();
