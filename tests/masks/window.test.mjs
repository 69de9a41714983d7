// Masks that keep a window (predict's and resizeMasksToList's: their box's rows and 64-bit words only) against the
// same masks held whole (resizeMasks' bits): every accessor, the native consumers (masksToRLE, masksToContours,
// BitMasks.fromMasks), `data`'s expansion, and Mask.fromWindow with its typed errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BitMasks,
  Mask,
  Tensor,
  masksToContours,
  masksToRLE,
  resizeMasks,
  resizeMasksToList,
  SotrRangeError,
  SotrTypeError,
  encodeRleCounts,
} from '../../dist/index.js';
import { seededRandom } from '../helpers/fuzz.mjs';

// Object-like soft masks (sigmoid-edged discs, some at the image's edges), an empty one, one covering everything.
function softMasks(n, fh, fw, seed) {
  const soft = new Float32Array(n * fh * fw);
  let s = seed;
  const r01 = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let m = 0; m < n; m++) {
    const cx = m === 1 ? 0 : r01() * fw;
    const cy = m === 2 ? fh : r01() * fh;
    const r = (0.05 + r01() * 0.3) * fw;
    for (let y = 0; y < fh; y++) {
      for (let x = 0; x < fw; x++) {
        let v = 1 / (1 + Math.exp(12 * (Math.hypot(x - cx, y - cy) / r - 1)));
        if (m === 3) v = 0; // empty
        if (m === 4) v = 1; // everything
        soft[(m * fh + y) * fw + x] = v;
      }
    }
  }
  return Tensor.from(soft, [n, fh, fw]);
}

// Windowed masks and the same masks whole, for an image of W x H (awkward widths around 64-bit words).
async function pair(W, H, n = 9) {
  const t = softMasks(n, 24, 32, W * 31 + H);
  const opts = { ratio: 4, crop: [96, 128], size: [H, W] };
  const windowed = await resizeMasksToList(t, { ...opts, rle: false });
  const bits = await resizeMasks(t, opts);
  const all = new Uint32Array((await bits.data()).buffer);
  bits.dispose();
  t.dispose();
  const per = all.length / n;
  const whole = Array.from({ length: n }, (_, m) => new Mask(W, H, all.slice(m * per, (m + 1) * per)));
  return { windowed, whole };
}

for (const [W, H] of [[63, 40], [64, 64], [65, 31], [200, 150], [1, 7]]) {
  test(`masks that keep a window read as the whole masks do: ${W}x${H}`, async () => {
    const { windowed, whole } = await pair(W, H);
    for (let m = 0; m < windowed.length; m++) {
      const a = windowed[m];
      const b = whole[m];
      const win = a.window;
      assert.equal([a.area, a.box], [b.area, b.box], `mask ${m}: area and box`);
      // The window: the box's rows, whole 64-bit words around its columns, and no more.
      const [x0, y0, x1, y1] = b.box;
      if (b.area) {
        assert.equal([win.x, win.y, win.height], [Math.floor(x0 / 64) * 64, y0, y1 - y0], `mask ${m}: window`);
        assert.ok(win.x + win.width >= x1 && win.width <= 64 * Math.ceil((x1 - win.x) / 64), `mask ${m}: window width`);
        assert.is(win.data.length, win.height * 2 * Math.ceil(win.width / 64));
      } else {
        assert.equal([win.width, win.height, win.data.length], [0, 0, 0], `mask ${m}: the empty mask's window`);
      }
      assert.equal(a.toUint8Array(), b.toUint8Array(), `mask ${m}: toUint8Array`);
      assert.equal(a.rleRuns(), b.rleRuns(), `mask ${m}: rleRuns`);
      assert.is(a.toRLE(), b.toRLE(), `mask ${m}: toRLE`);
      for (let y = -1; y <= H; y++) for (let x = -1; x <= W; x++) if (a.get(x, y) !== b.get(x, y)) assert.unreachable(`mask ${m}: get(${x}, ${y})`);
      // Masks made from RLE or bytes keep the same tight window, with the same bits.
      for (const [how, made] of [['fromRLE', Mask.fromRLE(b.toCocoRLE())], ['fromUint8Array', Mask.fromUint8Array(b.toUint8Array(), W, H)]]) {
        const mw = made.window;
        assert.equal([mw.x, mw.y, mw.width, mw.height, [...mw.data]], [win.x, win.y, win.width, win.height, [...win.data]], `mask ${m}: ${how} window`);
        assert.equal([made.area, made.box, made.toRLE()], [b.area, b.box, b.toRLE()], `mask ${m}: ${how}`);
      }
      // A mask rebuilt from the window (another thread's way) is the same mask.
      const again = Mask.fromWindow(W, H, { ...win, data: win.data.slice() });
      assert.equal([again.area, again.box, again.toRLE()], [b.area, b.box, b.toRLE()], `mask ${m}: fromWindow`);
    }
    // The native consumers take windowed and whole masks alike (placeMasks puts the windows back).
    assert.equal(await masksToRLE(windowed), await masksToRLE(whole), 'masksToRLE');
    assert.equal(await masksToRLE([...windowed, ...whole]), [...(await masksToRLE(whole)), ...(await masksToRLE(whole))], 'mixed');
    for (const options of [{}, { mode: 'ccomp', approx: 'none' }]) {
      assert.equal(await masksToContours(windowed, options), await masksToContours(whole, options), `masksToContours ${JSON.stringify(options)}`);
    }
    // Masks that carry their string (predict's `rle`) return it; the rest are encoded.
    const soft = softMasks(9, 24, 32, W * 31 + H);
    const withRle = await resizeMasksToList(soft, { ratio: 4, crop: [96, 128], size: [H, W], rle: true });
    soft.dispose();
    assert.equal(await masksToRLE([whole[0], ...withRle]), await masksToRLE([whole[0], ...whole]), 'stored strings');
    assert.equal(BitMasks.fromMasks(windowed).words, BitMasks.fromMasks(whole).words, 'BitMasks.fromMasks');
    // `data` expands the window to the whole image once, and the mask then holds the whole image.
    for (let m = 0; m < windowed.length; m++) {
      const d = windowed[m].data;
      assert.equal(d, whole[m].data, `mask ${m}: data`);
      assert.is(windowed[m].data, d, 'data is kept');
      assert.equal([windowed[m].window.width, windowed[m].window.height], [W, H]);
      assert.is(windowed[m].toRLE(), whole[m].toRLE());
    }
  });
}

test('a 12-megapixel prediction\'s object masks keep a tenth of the image or less', async () => {
  const { windowed } = await pair(4000, 3000, 20);
  const full = 3000 * 2 * Math.ceil(4000 / 64) * 4 * windowed.length;
  const kept = windowed.reduce((a, m) => a + m.window.data.byteLength, 0);
  // Discs of radius 5-35 % of the width, one covering everything: well under half the whole masks.
  assert.ok(kept < full / 2, `kept ${kept} of ${full} bytes`);
});

test('Mask.fromRLE: a negative run is refused; a run over several columns spans every row', () => {
  const counts = '32O0'; // runs 3, 2, -1, 2: 6 pixels, as a 2 x 3 mask has (encodeRleCounts refuses to make it)
  assert.throws(() => Mask.fromRLE(counts, [2, 3]), (e) => e instanceof SotrRangeError && /negative length/.test(e.message));
  // Runs over several columns: the box spans every row.
  const m = Mask.fromRLE(encodeRleCounts([5, 4, 11]), [4, 5]);
  assert.equal([m.area, m.box], [4, [1, 0, 3, 4]]);
});

test('a mask sent to a worker thread as its window and size comes back the same', async () => {
  const { Worker } = await import('node:worker_threads');
  const { windowed, whole } = await pair(200, 150);
  const url = new URL('../../dist/index.js', import.meta.url).href;
  // The worker rebuilds each mask from { width, height, window } and answers with its RLE, area and box.
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads');
     import(${JSON.stringify(url)}).then(({ Mask }) => parentPort.on('message', (list) =>
       parentPort.postMessage(list.map(({ width, height, window }) => {
         const m = Mask.fromWindow(width, height, window);
         return [m.toRLE(), m.area, m.box];
       }))));`,
    { eval: true },
  );
  try {
    w.postMessage(windowed.map((m) => ({ width: m.width, height: m.height, window: m.window })));
    const got = await new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)));
    assert.equal(got, whole.map((m) => [m.toRLE(), m.area, m.box]));
  } finally {
    await w.terminate();
  }
});

test('Mask.fromRLE on random counts strings: a mask that round-trips, or a typed error', () => {
  const { r01 } = seededRandom(11);
  let made = 0;
  for (let k = 0; k < 3000; k++) {
    const h = 1 + Math.floor(r01() * 9);
    const w = 1 + Math.floor(r01() * 9);
    // A valid string (random runs over h x w), then often broken: a character changed (within '0'..'o', what the
    // codec writes, or outside it), or cut short.
    const runs = [];
    for (let left = h * w; left > 0; ) {
      const n = Math.min(left, Math.floor(r01() * 6) + (runs.length % 2 ? 1 : 0));
      runs.push(n);
      left -= n;
    }
    let counts = encodeRleCounts(runs);
    const at = Math.floor(r01() * counts.length);
    const roll = r01();
    if (roll < 0.4) counts = counts.slice(0, at) + String.fromCharCode(48 + Math.floor(r01() * 64)) + counts.slice(at + 1);
    else if (roll < 0.5) counts = counts.slice(0, at) + String.fromCharCode(Math.floor(r01() * 200)) + counts.slice(at + 1);
    else if (roll < 0.6) counts = counts.slice(0, at);
    let m;
    try {
      m = Mask.fromRLE(counts, [h, w]);
    } catch (e) {
      assert.ok(e instanceof SotrRangeError || e instanceof SotrTypeError, `${counts} ${h}x${w}: ${e}`);
      continue;
    }
    made++;
    const again = Mask.fromRLE(m.toCocoRLE());
    assert.equal([again.area, again.box, again.toRLE()], [m.area, m.box, m.toRLE()], `${counts} ${h}x${w}`);
    assert.is(m.toUint8Array().reduce((a, b) => a + b, 0), m.area);
  }
  assert.ok(made > 1000, `only ${made} of the strings made masks`);
});

test('Mask.fromWindow checks the window with typed errors', () => {
  const data = new Uint32Array(2 * 3); // 3 rows of one 64-bit word
  data[0] = 1;
  const m = Mask.fromWindow(200, 10, { x: 128, y: 7, width: 64, height: 3, data });
  assert.equal([m.area, m.box, m.get(128, 7), m.get(0, 0)], [1, [128, 7, 129, 8], true, false]);
  // fractional coordinates name the pixel they fall in, in x and in y alike
  assert.equal([m.get(128.5, 7), m.get(128, 7.5), m.get(128.99, 7.99), m.get(129.01, 7)], [true, true, true, false]);
  assert.equal(Mask.fromWindow(200, 10, { x: 0, y: 0, width: 0, height: 0, data: new Uint32Array(0) }).area, 0);
  const bad = [
    [() => Mask.fromWindow(200, 10, { x: 100, y: 0, width: 64, height: 3, data }), SotrRangeError, /multiple of 64/],
    [() => Mask.fromWindow(200, 10, { x: 192, y: 0, width: 64, height: 3, data }), SotrRangeError, /not inside 200 x 10/],
    [() => Mask.fromWindow(200, 10, { x: 0, y: 8, width: 64, height: 3, data }), SotrRangeError, /not inside/],
    [() => Mask.fromWindow(200, 10, { x: 0, y: 0, width: 64, height: 2, data }), SotrRangeError, /need 4 32-bit words, received 6/],
    [() => Mask.fromWindow(200, 10, { x: 0, y: 0, width: 10, height: 3, data: Uint32Array.of(0, 0, 1 << 12, 0, 0, 0) }), SotrRangeError, /bits set past the width 10/],
    [() => Mask.fromWindow(200, 10, { x: 0, y: 0, width: 64, height: 3, data: [0, 0, 0, 0, 0, 0] }), SotrTypeError, /Uint32Array/],
    [() => Mask.fromWindow(200, 10, null), SotrTypeError, /window must be/],
    [() => Mask.fromWindow(-1, 10, { x: 0, y: 0, width: 0, height: 0, data: new Uint32Array(0) }), SotrRangeError, /width/],
  ];
  for (const [fn, type, re] of bad) {
    try {
      fn();
      assert.unreachable(`no error for ${fn}`);
    } catch (e) {
      assert.instance(e, type, String(e));
      assert.match(e.message, re);
    }
  }
});

test.run();
