// console.md: the transformer's two conv branches as four 256-channel convs against one 256->512 and one 512->256
// (the fusion not made), per grid size: node .../ff_branch_fusion.mjs 40x80 [fp32|bf16]
import { Tensor, conv2d } from '../../../dist/index.mjs';
const rnd = (n, s=0.05) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = (Math.random()*2-1)*s; return a; };
const [H, W] = (process.argv[2] ?? '40x80').split('x').map(Number);
const prec = process.argv[3] ?? 'fp32';
const x = Tensor.from(rnd(256*H*W, 1), [1,256,H,W]);
const w1 = Tensor.from(rnd(256*256*9), [256,256,3,3]), w2 = Tensor.from(rnd(256*256*9), [256,256,3,3]);
const b = Tensor.from(rnd(256), [256]);
const w512 = Tensor.from(rnd(512*256*9), [512,256,3,3]), b512 = Tensor.from(rnd(512), [512]);
const wK = Tensor.from(rnd(256*512*9), [256,512,3,3]);
const u512 = Tensor.from(rnd(512*H*W, 1), [1,512,H,W]);
const u1 = Tensor.from(rnd(256*H*W, 1), [1,256,H,W]);
const o = { padding: 1, precision: prec };
async function sep() {
  const a = await conv2d(x, w1, { ...o, bias: b, activation: 'leakyRelu' });
  const c = await conv2d(x, w2, { ...o, bias: b, activation: 'leakyRelu' });
  const r1 = await conv2d(a, w1, { ...o, bias: b, residual: x });
  const r2 = await conv2d(c, w2, { ...o, bias: b, residual: r1 });
  a.dispose(); c.dispose(); r1.dispose(); r2.dispose();
}
async function fused() {
  const a = await conv2d(x, w512, { ...o, bias: b512, activation: 'leakyRelu' });
  const r = await conv2d(a, wK, { ...o, bias: b, residual: x });
  a.dispose(); r.dispose();
}
for (let i = 0; i < 3; i++) { await sep(); await fused(); }
const ts = [], tf = [];
for (let i = 0; i < 15; i++) {
  let t = performance.now(); await sep(); ts.push(performance.now() - t);
  t = performance.now(); await fused(); tf.push(performance.now() - t);
}
const med = (a) => a.sort((x,y)=>x-y)[a.length>>1].toFixed(2);
console.log(`${H}x${W} ${prec}: separate ${med(ts)} ms, fused ${med(tf)} ms`);
