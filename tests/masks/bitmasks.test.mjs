// BitMasks: the shared mask format (layout, views, stats, conversions).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BitMasks, Mask, Tensor, SotrRangeError, SotrTypeError } from '../../dist/index.js';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

function randomDense(count, h, w, seed = 7) {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  return new Uint8Array(count * h * w).map(() => (rnd() < 0.3 ? 1 : 0));
}

test('layout: row-major, rows padded to 64-bit words, LSB first', () => {
  const w = 70, h = 3, n = 2;
  const px = new Uint8Array(n * h * w);
  px[(1 * h + 2) * w + 65] = 1; // mask 1, y 2, x 65
  px[0] = 1; // mask 0, y 0, x 0
  const b = BitMasks.fromUint8Array(px, n, h, w);
  assert.is(b.wordsPerRow, 2);
  assert.is(b.data.length, n * h * 2);
  assert.is(b.data[0], 1n);
  assert.is(b.data[(1 * h + 2) * 2 + 1], 1n << 1n); // x 65 = bit 1 of word 1
  assert.is(b.words[((1 * h + 2) * 2 + 1) * 2], 2); // low half of that word
  assert.ok(b.get(1, 65, 2));
  assert.not.ok(b.get(1, 64, 2));
  assert.equal([...b.areas], [1, 1]);
  assert.equal(b.box(1), [65, 2, 66, 3]);
  assert.equal(b.box(0), [0, 0, 1, 1]);
});

test('views, round trips and stats agree with Mask', () => {
  for (const [n, h, w] of [[3, 5, 1], [4, 7, 64], [2, 9, 65], [5, 4, 130], [0, 3, 3]]) {
    const px = randomDense(n, h, w);
    const b = BitMasks.fromUint8Array(px, n, h, w);
    assert.equal(b.toUint8Array(), px);
    const b64 = new BitMasks({ count: n, height: h, width: w, data: b.data.slice() });
    assert.equal(b64.toUint8Array(), px);
    assert.equal(b64.areas, b.areas);
    assert.equal(b64.boxes, b.boxes);
    const masks = Array.from({ length: n }, (_, i) => b.mask(i));
    masks.forEach((m, i) => {
      assert.is(m.area, b.area(i));
      assert.equal(m.box, b.box(i));
      assert.equal(m.toUint8Array(), px.subarray(i * h * w, (i + 1) * h * w));
    });
    if (n) assert.equal(BitMasks.fromMasks(masks).toUint8Array(), px);
    assert.is(b.softSums, null);
  }
});

test('toTensor gives the native int32 [n, H, 2*wordsPerRow] form', async () => {
  const b = BitMasks.fromUint8Array(randomDense(3, 4, 100), 3, 4, 100);
  const t = b.toTensor();
  assert.equal([...t.shape], [3, 4, 4]);
  assert.is(t.dtype, 'int32');
  assert.equal(new Uint32Array((await t.data()).buffer), b.words);
  t.dispose();
});

test('BitMasks rejects bad input', () => {
  assert.throws(() => new BitMasks({ count: 1, height: 2, width: 3, data: new BigUint64Array(3) }), (e) => e instanceof SotrRangeError);
  assert.throws(() => new BitMasks({ count: 1, height: 2, width: 3, data: new Uint32Array(2) }), (e) => e instanceof SotrRangeError);
  assert.throws(() => new BitMasks({ count: 1, height: 1, width: 3, data: [1, 2] }), (e) => e instanceof SotrTypeError);
  assert.throws(() => new BitMasks({ count: 1, height: 1, width: 3, data: new Uint32Array(2), wordsPerRow: 2 }), (e) => e instanceof SotrRangeError);
  assert.throws(() => BitMasks.fromUint8Array(new Uint8Array(5), 1, 2, 3), (e) => e instanceof SotrRangeError);
  assert.throws(() => BitMasks.fromMasks([new Mask(3, 2), new Mask(2, 3)]), (e) => e instanceof SotrRangeError);
  const b = BitMasks.fromUint8Array(new Uint8Array(6), 1, 2, 3);
  assert.throws(() => b.mask(1), (e) => e instanceof SotrRangeError);
});

test('bits set past the width are refused, as new Mask refuses them (they were counted in areas and boxes)', async () => {
  // [count, height, width, the 32-bit word set, its value]: the last used word's spare bits, the word after it.
  const cases = [
    [1, 1, 2, 0, 0xff, /mask 0 row 0 has bits set past the width 2/],
    [2, 3, 2, 2 * 5, 1 << 2, /mask 1 row 2 has bits set past the width 2/],
    [1, 2, 32, 2 + 1, 1, /mask 0 row 1 has bits set past the width 32/],
    [1, 1, 70, 2, 1 << 6, /past the width 70/],
    [1, 1, 70, 3, 1, /past the width 70/],
  ];
  await expectTypedErrors(
    cases.flatMap(([count, height, width, at, v, re]) => {
      const words = new Uint32Array(count * height * 2 * Math.ceil(width / 64));
      words[at] = v;
      return [
        [() => new BitMasks({ count, height, width, data: words }), SotrRangeError, re],
        [() => new BitMasks({ count, height, width, data: new BigUint64Array(words.buffer) }), SotrRangeError, re],
      ];
    }),
  );
  // The bits up to the width are taken.
  const full = new Uint32Array([0xffffffff, 0x3f, 0, 0]);
  const b = new BitMasks({ count: 2, height: 1, width: 38, data: full });
  assert.equal([...b.areas], [38, 0]);
  assert.equal(b.box(0), [0, 0, 38, 1]);
  assert.is(new BitMasks({ count: 1, height: 1, width: 64, data: new Uint32Array([~0, ~0]) }).area(0), 64);
});

test.run();
