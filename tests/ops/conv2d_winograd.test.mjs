import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backendInfo } from '../../dist/index.js';
import { loadFixture, nmse } from '../helpers/fixture.mjs';
import { convGoldenRunner } from '../helpers/conv_golden.mjs';

// PyTorch goldens (float64 convolutions rounded to float32) of geometries the CPU's Winograd engines take, run
// through every CPU algorithm and through CUDA's implicit GEMM when a GPU is there.
const fx = loadFixture('conv2d_winograd');
const cases = JSON.parse(fx.meta.cases);

const runCase = convGoldenRunner(fx);

// F(4x4, 3x3) rounds ~10x more than F(2x2, 3x3) (measured here: <= ~1e-13 vs <= ~1e-14).
const runs = [
  ['cpu', 'auto', 1e-10],
  ['cpu', 'direct', 1e-11],
  ['cpu', 'winograd', 1e-10],
  ['cpu', 'winograd2', 1e-11],
  ['cpu', 'winograd4', 1e-10],
  ...(backendInfo().cuda.available ? [['cuda', 'auto', 1e-11]] : []),
];
for (const [device, algorithm, bound] of runs) {
  for (const c of cases) {
    test(`conv2d ${c[0]} matches PyTorch on ${device} with algorithm '${algorithm}'`, async () => {
      const out = await runCase(c, device, { algorithm });
      assert.equal([...out.shape], fx.tensors[`${c[0]}.out`].shape);
      const e = nmse(await out.data(), fx.tensors[`${c[0]}.out`].data);
      assert.ok(e < bound, `nmse ${e}`);
    });
  }
}

test.run();
