// The library's CPU results do not depend on its thread count: the same image predicted with 1, 2, 3 and 5 CPU
// threads gives the same instances bit for bit (labels, float32 scores, masks' RLE). Every parallel loop splits
// independent outputs, never a sum, so this holds by design; the test keeps it so. (The official code's own results
// do move with PyTorch's thread count: docs/model.md, "Against the official code itself".)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sotr, setNumThreads } from '../../dist/index.js';
import { fixturePath } from './helpers.mjs';

test('predictions are the same with 1, 2, 3 and 5 CPU threads', async () => {
  const m = await Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 320, maxSize: 600, device: 'cpu' });
  const key = (p) => JSON.stringify(p.instances.map((i) => [i.label, i.score, i.mask.toRLE()]));
  try {
    const got = {};
    for (const t of [1, 2, 3, 5]) {
      setNumThreads(t);
      got[t] = [key(await m.predict(fixturePath('img_land.png'))), key(await m.predict(fixturePath('img_down.png')))];
    }
    assert.ok(JSON.parse(got[1][0]).length > 0);
    for (const t of [2, 3, 5]) assert.equal(got[t], got[1], `${t} threads`);
  } finally {
    setNumThreads(0);
    await m.dispose();
  }
});

test.run();
