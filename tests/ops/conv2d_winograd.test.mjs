import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, backendInfo, conv2d } from '../../dist/index.js';
import { loadFixture, nmse } from '../helpers/fixture.mjs';
import { convGoldenRunner } from '../helpers/conv_golden.mjs';
import { cpuSimdLevels, atSimdLevel } from '../helpers/simd_levels.mjs';

// PyTorch goldens (float64 convolutions rounded to float32) of geometries the CPU's Winograd engines take, run
// through every CPU algorithm (the Winograd tiles at every SIMD level: their transforms have scalar, AVX2 and
// AVX-512 code) and through CUDA's implicit GEMM when a GPU is there.
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
  ...cpuSimdLevels().flatMap((level) => [['cpu', 'winograd2', 1e-11, level], ['cpu', 'winograd4', 1e-10, level]]),
  ...(backendInfo().cuda.available ? [['cuda', 'auto', 1e-11]] : []),
];
for (const [device, algorithm, bound, level] of runs) {
  for (const c of cases) {
    const where = level ? `${device} (${level})` : device;
    const body = async () => {
      const out = await runCase(c, device, { algorithm });
      assert.equal([...out.shape], fx.tensors[`${c[0]}.out`].shape);
      const e = nmse(await out.data(), fx.tensors[`${c[0]}.out`].data);
      assert.ok(e < bound, `nmse ${e}`);
    };
    test(`conv2d ${c[0]} matches PyTorch on ${where} with algorithm '${algorithm}'`, level ? () => atSimdLevel(level, body) : body);
  }
}

// Each SIMD level's transforms against the scalar level's on sizes with partial chunks (16 tiles), partial
// halves (8), image borders on every side and every epilogue: the transforms are the same arithmetic, so only
// the GEMM's summation order may differ.
test('conv2d Winograd: every SIMD level agrees with the scalar one on awkward sizes', async () => {
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const T = (shape) => Tensor.from(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, rnd), shape);
  const shapes = [
    { n: 1, c: 16, o: 16, h: 5, w: 3, act: 'none' },
    { n: 2, c: 24, o: 20, h: 13, w: 37, act: 'relu', res: true },
    { n: 1, c: 32, o: 17, h: 22, w: 75, act: 'leakyRelu', bias: true },
    { n: 1, c: 19, o: 33, h: 9, w: 131, act: 'sigmoid', bias: true, res: true },
    { n: 1, c: 16, o: 16, h: 31, w: 18, act: 'none', pad: 0 },
  ];
  for (const sh of shapes) {
    const x = T([sh.n, sh.c, sh.h, sh.w]);
    const w = T([sh.o, sh.c, 3, 3]);
    const pad = sh.pad ?? 1;
    const ho = sh.h + 2 * pad - 2, wo = sh.w + 2 * pad - 2;
    const opts = {
      padding: pad,
      activation: sh.act,
      bias: sh.bias ? T([sh.o]) : undefined,
      residual: sh.res ? T([sh.n, sh.o, ho, wo]) : undefined,
      beta: 0.5,
    };
    for (const algorithm of ['winograd2', 'winograd4']) {
      const results = [];
      for (const level of cpuSimdLevels()) {
        const y = await atSimdLevel(level, () => conv2d(x, w, { ...opts, algorithm }));
        assert.equal([...y.shape], [sh.n, sh.o, ho, wo]);
        results.push([level, await y.data()]);
      }
      const [, ref] = results[0];
      for (const [level, got] of results.slice(1)) {
        const e = nmse(got, ref);
        assert.ok(e < 1e-12, `${algorithm} ${JSON.stringify(sh)} at ${level}: nmse ${e} against scalar`);
      }
    }
  }
});

test.run();
