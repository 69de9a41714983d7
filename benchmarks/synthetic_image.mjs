// The deterministic synthetic BGR image of the end-to-end runs (benchmarks/e2e_bench.mjs, scripts/gpu-e2e.mjs):
// smooth gradients plus 40 coloured ellipses and mild noise, interleaved BGR, W x H x 3 bytes.
export function syntheticImage(W, H) {
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const img = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      img[i] = (60 + (120 * x) / W) | 0;
      img[i + 1] = (80 + (100 * y) / H) | 0;
      img[i + 2] = (100 + 60 * Math.sin(x / 97 + y / 53)) | 0;
    }
  for (let k = 0; k < 40; k++) {
    const cx = rnd() * W, cy = rnd() * H, rx = 20 + rnd() * 150, ry = 20 + rnd() * 150;
    const col = [rnd() * 255, rnd() * 255, rnd() * 255];
    for (let y = Math.max(0, (cy - ry) | 0); y < Math.min(H, cy + ry); y++)
      for (let x = Math.max(0, (cx - rx) | 0); x < Math.min(W, cx + rx); x++) {
        if (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1) {
          const i = (y * W + x) * 3;
          for (let c = 0; c < 3; c++) img[i + c] = col[c];
        }
      }
  }
  for (let i = 0; i < img.length; i++) img[i] = Math.max(0, Math.min(255, img[i] + ((rnd() * 9) | 0) - 4));
  return img;
}
