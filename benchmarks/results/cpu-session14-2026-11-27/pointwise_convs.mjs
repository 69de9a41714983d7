// console.md: 1x1 convs of the backbone alone (plain, bias + ReLU, bias + residual + ReLU), medians of 7.
import { Tensor, conv2d } from '../../../dist/index.mjs';
const rnd = (n, s=0.05) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = (Math.random()*2-1)*s; return a; };
const cases = [[64, 256, 256, 336], [128, 512, 128, 168], [256, 1024, 64, 84], [1024, 256, 64, 84], [256, 64, 256, 336]];
for (const [C, O, H, W] of cases) {
  const x = Tensor.from(rnd(C*H*W, 1), [1,C,H,W]);
  const w = Tensor.from(rnd(O*C), [O,C,1,1]);
  const b = Tensor.from(rnd(O), [O]);
  const r = Tensor.from(rnd(O*H*W, 1), [1,O,H,W]);
  for (const [name, o] of [['plain', {}], ['bias+relu', { bias: b, activation: 'relu' }], ['bias+res+relu', { bias: b, residual: r, activation: 'relu' }]]) {
    for (let i = 0; i < 2; i++) (await conv2d(x, w, o)).dispose();
    const ts = [];
    for (let i = 0; i < 7; i++) { const t = performance.now(); (await conv2d(x, w, o)).dispose(); ts.push(performance.now() - t); }
    ts.sort((a, b) => a - b);
    const gf = 2 * C * O * H * W / 1e9;
    console.log(`${C}->${O} ${H}x${W} ${name}: ${ts[3].toFixed(2)} ms, ${(gf / ts[3] * 1000).toFixed(0)} GF/s`);
  }
}
