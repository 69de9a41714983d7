// COCO RLE: hand-worked vectors from the documented algorithm of the COCO mask
// API (maskApi.c rleEncode / rleToString / rleFrString), round trips and
// non-square masks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Mask, encodeRleCounts, decodeRleCounts, masksToRLE, Sotr, SotrRangeError, SotrTypeError } from '../../dist/index.js';
import { fixturePath } from '../model/helpers.mjs';

// Hand-worked: runs are column-major, start with 0s; a count becomes 5-bit
// groups (low first), char = 48 + group (+ 0x20 if more follow); from the 4th
// count on, the difference to the count two before is stored.
const vectors = [
  // [name, height, width, row-major pixels, runs, string]
  // col 0 = (0,1,0), col 1 = (1,1,0): 0 | 1 | 0 | 1 1 | 0; 4th count 2-1 = 1, 5th 1-1 = 0
  ['3x2', 3, 2, [0, 1, 1, 1, 0, 0], [1, 1, 1, 2, 1], '11110'],
  // all set: [0, 20]; 20 = 0b10100 has the sign bit 0x10, so a 0 group follows: 'd' '0'
  ['4x5 full', 4, 5, new Array(20).fill(1), [0, 20], '0d0'],
  // all clear: [100]; 100 = 3*32 + 4: '4'+0x20 = 'T', then '3'
  ['10x10 empty', 10, 10, new Array(100).fill(0), [100], 'T3'],
  // one row (column-major = x order): [3, 10, 2, 4]; 4th: 4 - 10 = -6 -> 26 = 'J' (sign bit set, no more)
  ['1x19', 1, 19, [0, 0, 0, ...new Array(10).fill(1), 0, 0, 1, 1, 1, 1], [3, 10, 2, 4], '3:2J'],
  // first pixel set: a leading run of 0; 2 rows x 3 cols, row 0 = 1 0 0, row 1 = 1 1 0
  // col-major: 1 1 | 0 1 | 0 0 -> runs [0, 2, 1, 1, 2]; 4th 1-2 = -1 -> 31 = 'O'; 5th 2-1 = 1
  ['2x3', 2, 3, [1, 0, 0, 1, 1, 0], [0, 2, 1, 1, 2], '021O1'],
];

for (const [name, h, w, px, runs, str] of vectors) {
  test(`RLE ${name}: hand-worked counts and string`, () => {
    const m = Mask.fromUint8Array(Uint8Array.from(px), w, h);
    assert.equal(m.rleRuns(), runs);
    assert.is(m.toRLE(), str);
    assert.equal(m.toCocoRLE(), { size: [h, w], counts: str });
    assert.equal(decodeRleCounts(str), runs);
    const back = Mask.fromRLE({ size: [h, w], counts: str });
    assert.equal([...back.toUint8Array()], px);
    assert.equal([...Mask.fromRLE(str, [h, w]).toUint8Array()], px);
  });
}

test('RLE counts: large and negative deltas round trip', () => {
  const counts = [0, 1, 2 ** 20 + 5, 3, 70000, 2, 31, 32, 33, 1, 1000000, 0];
  assert.equal(decodeRleCounts(encodeRleCounts(counts)), counts);
  // 32 needs two groups (0 + 0x20, then 1); -16 is exactly one group (0x10).
  assert.is(encodeRleCounts([32]), 'P1');
  // [20, 0, 0, 4]: 'd0', '0', '0', then 4 - 0 = 4: '4'
  assert.is(encodeRleCounts([20, 0, 0, 4]), 'd0004');
});

test('RLE round trips on random non-square masks', () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (const [h, w] of [[1, 1], [1, 70], [70, 1], [7, 129], [33, 64], [64, 33], [5, 200]]) {
    for (const density of [0, 0.05, 0.5, 0.95, 1]) {
      const px = new Uint8Array(h * w).map(() => (rnd() < density ? 1 : 0));
      const m = Mask.fromUint8Array(px, w, h);
      const s = m.toRLE();
      const back = Mask.fromRLE(s, [h, w]);
      assert.equal(back.toUint8Array(), px, `${h}x${w} density ${density}`);
      assert.is(back.toRLE(), s);
      assert.is(back.area, px.reduce((a, b) => a + b, 0));
      assert.equal(back.box, m.box);
    }
  }
});

test('Mask: area, box (exclusive ends), get, empty box', () => {
  const w = 70, h = 5;
  const px = new Uint8Array(w * h);
  px[1 * w + 3] = 1;
  px[3 * w + 66] = 1;
  const m = Mask.fromUint8Array(px, w, h);
  assert.is(m.area, 2);
  assert.equal(m.box, [3, 1, 67, 4]);
  assert.ok(m.get(66, 3));
  assert.not.ok(m.get(65, 3));
  assert.not.ok(m.get(100, 0));
  assert.is(m.wordsPerRow, 2);
  const e = new Mask(9, 4);
  assert.is(e.area, 0);
  assert.equal(e.box, [0, 0, 0, 0]);
  assert.is(e.toRLE(), encodeRleCounts([36]));
});

test('Mask and RLE reject bad input', () => {
  assert.throws(() => new Mask(70, 2, new Uint32Array(3)), (e) => e instanceof SotrRangeError);
  const padded = new Uint32Array(4);
  padded[2] = 1 << 7; // x = 71 > width 70 in row 0's second 32-bit word... row 0 has words 0..3
  assert.throws(() => new Mask(70, 1, padded), (e) => e instanceof SotrRangeError && /past the width/.test(e.message));
  assert.throws(() => Mask.fromRLE('0d0', [4, 4]), (e) => e instanceof SotrRangeError && /cover 20 pixels/.test(e.message));
  assert.throws(() => Mask.fromRLE('0d0'), (e) => e instanceof SotrTypeError);
  assert.throws(() => decodeRleCounts('0d'), (e) => e instanceof SotrRangeError);
  assert.throws(() => decodeRleCounts('~'), (e) => e instanceof SotrRangeError);
  assert.throws(() => encodeRleCounts([1.5]), (e) => e instanceof SotrRangeError);
});

// masksToRLE encodes natively (the maskRle op, native/ops/mask_rle.cpp, whose own cases compare it with a
// pixel-at-a-time rleEncode); here it must give what the JavaScript toRLE gives, for masks of mixed sizes.
test('masksToRLE (native, off the JavaScript thread) = toRLE, masks of mixed sizes', async () => {
  let seed = 11;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const masks = [];
  for (const [h, w] of [[1, 1], [1, 65], [65, 1], [63, 64], [64, 65], [130, 97], [63, 64]]) {
    for (const kind of ['noise', 'disc', 'empty', 'full']) {
      const px = new Uint8Array(h * w);
      const [cx, cy, r] = [rnd() * w, rnd() * h, (0.2 + rnd() * 0.5) * Math.max(h, w)];
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = kind === 'noise' ? rnd() < 0.5 : kind === 'disc' ? (x - cx) ** 2 + (y - cy) ** 2 < r * r : kind === 'full';
          px[y * w + x] = v ? 1 : 0;
        }
      }
      masks.push(Mask.fromUint8Array(px, w, h));
    }
  }
  const got = await masksToRLE(masks);
  assert.is(got.length, masks.length);
  masks.forEach((m, i) => assert.equal(got[i], m.toCocoRLE(), `mask ${i} (${m.height}x${m.width})`));
  assert.equal(await masksToRLE([]), []);
  await rejects(() => masksToRLE([masks[0], {}]), SotrTypeError);
  await rejects(() => masksToRLE('no'), SotrTypeError);
});

test("predict's masks carry their RLE, computed natively (rle: true, the default), equal to toRLE's", async () => {
  const model = await Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 160, maxSize: 300 });  // 'auto': on a GPU machine the bits come to the host for maskRle
  try {
    const img = fixturePath('img_land.png');
    const plain = await model.predict(img, { rle: false });
    const withRle = await model.predict(img); // rle: true by default
    assert.ok(plain.instances.length > 0);
    assert.is(withRle.instances.length, plain.instances.length);
    withRle.instances.forEach((inst, i) => {
      const js = plain.instances[i].mask;
      assert.equal(inst.mask.toCocoRLE(), js.toCocoRLE());
      assert.equal(inst.mask.toUint8Array(), js.toUint8Array());
    });
    await rejects(() => model.predict(img, { rle: 'yes' }), SotrTypeError);
  } finally {
    await model.dispose();
  }
});

async function rejects(fn, Type) {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof Type, `expected ${Type.name}, received ${e?.constructor?.name}: ${e?.message}`);
    return;
  }
  assert.unreachable(`expected ${Type.name}`);
}

test('JSON.stringify(mask) is its COCO RLE, and a prediction sent as JSON comes back whole through Mask.fromRLE', async () => {
  const bytes = new Uint8Array(37 * 70);
  for (let y = 5; y < 30; y++) for (let x = 3 + (y % 7); x < 66; x++) bytes[y * 70 + x] = (x * y) % 5 ? 1 : 0;
  const m = Mask.fromUint8Array(bytes, 70, 37);
  const j = JSON.parse(JSON.stringify({ mask: m }));
  assert.equal(j.mask, m.toCocoRLE());
  assert.equal(Mask.fromRLE(j.mask).toUint8Array(), m.toUint8Array());
  const model = await Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 40, maxSize: 400 });
  try {
    const r = await model.predict(fixturePath('img_land.png'));
    assert.ok(r.instances.length > 0);
    const back = JSON.parse(JSON.stringify(r));
    r.instances.forEach((inst, i) => {
      assert.equal(back.instances[i].mask.size, [r.height, r.width]);
      assert.equal(Mask.fromRLE(back.instances[i].mask).toUint8Array(), inst.mask.toUint8Array(), `instance ${i}`);
    });
  } finally {
    await model.dispose();
  }
});

test.run();
