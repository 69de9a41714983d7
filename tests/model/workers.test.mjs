// A model per worker_thread (a pool such as piscina): the same instances as on the main thread, and a worker
// terminated while its prediction runs takes nothing down with it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sotr, memoryInfo, synchronize } from '../../dist/index.js';
import { fixturePath, instanceSummary as summary } from './helpers.mjs';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'index.js');
const loadOpts = { minSize: 40, maxSize: 400, device: 'cpu' };

const workerCode = `
  const { parentPort, workerData } = require('node:worker_threads');
  const { Sotr } = require(${JSON.stringify(dist)});
  (async () => {
    const m = await Sotr.load(workerData.model, { ...workerData.opts, onWarning() {} });
    parentPort.postMessage({ ready: true });
    for (const img of workerData.images) {
      const r = await m.predict(img);
      parentPort.postMessage({ image: img, instances: r.instances.map((i) => [i.label, i.score, i.box, i.mask.toRLE()]) });
    }
    if (workerData.hang) {
      // A prediction left running when the worker is terminated.
      m.predict(workerData.images[0]);
      parentPort.postMessage({ started: true });
      return;
    }
    await m.dispose();
    parentPort.postMessage({ done: true });
  })().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));`;

function startWorker(data) {
  const w = new Worker(workerCode, { eval: true, workerData: data });
  const messages = [];
  const waiters = [];
  const exited = new Promise((r) => w.once('exit', r));
  w.on('message', (m) => {
    messages.push(m);
    for (const f of waiters.splice(0)) f();
  });
  const until = async (pred) => {
    for (;;) {
      const m = messages.find(pred);
      if (m) return m;
      const err = messages.find((x) => x.error);
      if (err) throw new Error(err.error);
      await new Promise((r) => waiters.push(r));
    }
  };
  return { w, messages, until, exited };
}

test('two workers with a model each: the main thread instances; a worker terminated mid-prediction harms nothing', async () => {
  const images = [fixturePath('img_ratio3.png'), fixturePath('img_land.png')];
  const m = await Sotr.load(fixturePath('tiny_sotr.pth'), { ...loadOpts, onWarning() {} });
  try {
    const ref = {};
    for (const img of images) ref[img] = summary(await m.predict(img));
    const a = startWorker({ model: fixturePath('tiny_sotr.pth'), opts: loadOpts, images });
    const b = startWorker({ model: fixturePath('tiny_sotr.pth'), opts: loadOpts, images: [...images].reverse(), hang: true });
    await a.until((x) => x.done);
    await b.until((x) => x.started);
    for (const { messages } of [a, b]) {
      const got = messages.filter((x) => x.instances);
      assert.is(got.length, 2);
      for (const x of got) assert.equal(x.instances, ref[x.image], x.image);
    }
    await b.w.terminate();
    await a.exited; // by itself, its model disposed
    await b.exited;
    // The main thread's model and the runtime go on.
    await synchronize('cpu');
    const live = memoryInfo('cpu').liveBytes;
    assert.equal(summary(await m.predict(images[1])), ref[images[1]]);
    await synchronize('cpu');
    assert.is(memoryInfo('cpu').liveBytes, live);
  } finally {
    await m.dispose();
  }
});

test.run();
