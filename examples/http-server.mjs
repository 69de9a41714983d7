// A minimal segmentation service: POST an image (JPEG, PNG, WebP, ...) to /segment and get its instances back as
// JSON (class, score, box, COCO RLE, and with ?polygons=1 the outer contours as COCO polygons; ?classes=person,car
// for those classes only).
//
//   node examples/http-server.mjs <checkpoint.pth|tiny> [port]
//   curl --data-binary @photo.jpg 'http://localhost:8080/segment?polygons=1&classes=person'
//
// What it shows: one model shared by every request (predictions take turns, first come first served, one at a time
// on the CPU; the event loop stays free for other requests), load shedding on the model's backlog (503 with
// Retry-After once MAX_PENDING images wait, default 8), a request's prediction cancelled when its client goes away
// (AbortSignal: a waiting one leaves the line at once), and the library's typed errors mapped to HTTP statuses (a bad
// image is the client's fault: 422; an unknown class name, 400; anything else: 500).
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Sotr, writeRandomSotrCheckpoint, contoursToCocoPolygons, ImageDecodeError, AbortError, SotrError } from 'sotr-node';

const [source = 'tiny', portArg = '8080'] = process.argv.slice(2);
let checkpoint = source;
if (source === 'tiny') {
  // The random-weight test model: shapes, not objects (meaningful masks need the released weights).
  checkpoint = path.join(os.tmpdir(), 'sotr-example-tiny.safetensors');
  await writeRandomSotrCheckpoint(checkpoint, { preset: 'tiny', seed: 1 });
}
const model = await Sotr.load(checkpoint, { device: 'auto' });
await model.warmup();
const MAX_BYTES = 32 << 20;
const MAX_PENDING = Number(process.env.MAX_PENDING ?? 8);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'POST' || url.pathname !== '/segment') {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'POST an image to /segment' }));
    return;
  }
  const abort = new AbortController();
  res.on('close', () => abort.abort()); // the client went away before the answer: stop its prediction
  try {
    const chunks = [];
    let size = 0;
    for await (const c of req) {
      size += c.length;
      if (size > MAX_BYTES) throw Object.assign(new Error(`the image is larger than ${MAX_BYTES} bytes`), { status: 413 });
      chunks.push(c);
    }
    if (model.pendingImages >= MAX_PENDING) {
      // Each waiting image costs its turn's time (seconds on a CPU): tell the client to come back.
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '2' });
      res.end(JSON.stringify({ error: `busy: ${model.pendingImages} images ahead` }));
      return;
    }
    const polygons = url.searchParams.get('polygons') === '1';
    // ?classes=person,car: only those classes; a name the model does not have is the client's mistake (400).
    const classes = url.searchParams.get('classes')?.split(',').map((c) => c.trim());
    const unknown = classes?.filter((c) => !model.config.classNames.includes(c)) ?? [];
    if (unknown.length) throw Object.assign(new Error(`unknown classes: ${unknown.join(', ')} (the model's are ${model.config.classNames.join(', ')})`), { status: 400 });
    const t0 = performance.now();
    const result = await model.predict(Buffer.concat(chunks), { signal: abort.signal, contours: polygons, ...(classes ? { classes } : {}) });
    const body = {
      width: result.width,
      height: result.height,
      ms: Math.round(performance.now() - t0),
      instances: result.instances.map((i) => ({
        class: i.category,
        score: Number(i.score.toFixed(4)),
        box: i.box,
        rle: i.mask.toCocoRLE(),
        ...(polygons ? { polygons: contoursToCocoPolygons(i.contours ?? [], { epsilon: 1 }) } : {}),
      })),
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  } catch (e) {
    if (e instanceof AbortError) return; // nobody is listening any more
    const status = e.status ?? (e instanceof ImageDecodeError ? 422 : 500);
    const code = e instanceof SotrError ? e.code : undefined;
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: e.message, ...(code ? { code } : {}) }));
  }
});

server.listen(Number(portArg), () => console.log(`listening on http://localhost:${server.address().port}/segment (${model.device})`));

// Stop cleanly: no new requests, then the model's memory back.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    server.close(async () => {
      await model.dispose();
      process.exit(0);
    });
  });
}
