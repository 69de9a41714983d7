/**
 * A CLI worker thread: decodes images for the model (with the model's own
 * decoder, so the pixels are exactly what the model would read from the path:
 * EXIF orientation, Pillow's conversions, interleaved BGR) and draws overlay
 * images from finished results, so neither runs on the thread that feeds the
 * device. Started by pool.ts; one message in, one message out per job.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeRleCounts } from '../masks/rle';
import { decodeImage } from '../model/preprocess';

export interface DecodeJob {
  kind: 'decode';
  id: number;
  file: string;
}

export interface DecodeDone {
  kind: 'decode';
  id: number;
  /** Interleaved BGR, height × width × 3. */
  data?: Uint8Array;
  width?: number;
  height?: number;
  error?: string;
  ms: number;
}

export interface VizInstance {
  counts: string;
  label: string;
  score: number;
  bbox: [number, number, number, number];
  color: [number, number, number];
}

export interface VizJob {
  kind: 'viz';
  id: number;
  file: string;
  out: string;
  width: number;
  height: number;
  instances: VizInstance[];
}

export interface VizDone {
  kind: 'viz';
  id: number;
  error?: string;
  ms: number;
}

export interface WorkerConfig {
  /** libvips threads for this process (the pool sets the same value in every worker). */
  vipsThreads: number;
}

const cfg = (workerData ?? { vipsThreads: 1 }) as WorkerConfig;
sharp.concurrency(Math.max(1, cfg.vipsThreads));
sharp.cache(false);

async function decode(job: DecodeJob): Promise<DecodeDone> {
  const t0 = performance.now();
  try {
    const img = await decodeImage(job.file);
    return { kind: 'decode', id: job.id, data: img.bgr, width: img.width, height: img.height, ms: performance.now() - t0 };
  } catch (e) {
    return { kind: 'decode', id: job.id, error: decodeMessage(e, job.file), ms: performance.now() - t0 };
  }
}

function decodeMessage(e: unknown, file: string): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'file not found';
  if (err?.code === 'EISDIR') return 'a folder, not an image';
  // The decoder's messages start with the file name, which the result line already holds.
  const msg = String(err?.message ?? e).split('\n')[0]!.trim().replace(`${file}: `, '');
  return msg.startsWith('cannot decode') ? msg : `cannot decode the image: ${msg}`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

async function viz(job: VizJob): Promise<VizDone> {
  const t0 = performance.now();
  try {
    const { width: W, height: H } = job;
    const base = await sharp(job.file, { failOn: 'error' }).rotate().removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (base.info.width !== W || base.info.height !== H) throw new Error(`image is ${base.info.width}×${base.info.height}, results say ${W}×${H}`);
    // Paint masks (lowest score first, so the best sits on top) into an RGBA layer, column-major runs.
    const layer = new Uint8Array(W * H * 4);
    const alpha = 115;
    for (const inst of [...job.instances].reverse()) {
      const runs = decodeRleCounts(inst.counts);
      const [r, g, b] = inst.color;
      let pos = 0;
      for (let i = 0; i < runs.length; i++) {
        const n = runs[i]!;
        if (i & 1) {
          for (let q = pos; q < pos + n; q++) {
            const x = Math.floor(q / H);
            const y = q - x * H;
            const o = (y * W + x) * 4;
            layer[o] = r;
            layer[o + 1] = g;
            layer[o + 2] = b;
            layer[o + 3] = alpha;
          }
        }
        pos += n;
      }
    }
    const font = Math.max(11, Math.min(28, Math.round(Math.min(W, H) / 40)));
    const lh = font + 4;
    const placed: Array<[number, number, number, number]> = [];
    const overlaps = (x: number, y: number, w: number) => placed.some(([px, py, pw, ph]) => x < px + pw && px < x + w && y < py + ph && py < y + lh);
    const boxes: string[] = [];
    const labels: string[] = [];
    for (const inst of job.instances) {
      const [x, y, w, h] = inst.bbox;
      const [r, g, b] = inst.color;
      const text = `${inst.label} ${inst.score.toFixed(2)}`;
      const tw = Math.ceil(text.length * font * 0.6) + 6;
      const lx = Math.max(0, Math.min(x, W - tw));
      // Above the box when there is room, else inside it; moved down past labels already placed.
      let ly = y >= lh ? y - lh : y;
      for (let k = 0; k < 8 && overlaps(lx, ly, tw); k++) ly += lh;
      placed.push([lx, ly, tw, lh]);
      boxes.push(
        `<rect x="${x + 0.5}" y="${y + 0.5}" width="${Math.max(0, w - 1)}" height="${Math.max(0, h - 1)}" fill="none" stroke="rgb(${r},${g},${b})" stroke-width="${font > 16 ? 2 : 1}"/>`,
      );
      labels.push(
        `<rect x="${lx}" y="${ly}" width="${tw}" height="${lh}" fill="rgb(${r},${g},${b})" fill-opacity="0.85"/>`,
        `<text x="${lx + 3}" y="${ly + font}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${font}" fill="white">${escapeXml(text)}</text>`,
      );
    }
    const parts = [...boxes, ...labels];
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${parts.join('')}</svg>`;
    fs.mkdirSync(path.dirname(job.out), { recursive: true });
    const ext = path.extname(job.out).toLowerCase();
    let img = sharp(base.data, { raw: { width: W, height: H, channels: base.info.channels } }).composite([
      { input: Buffer.from(layer.buffer), raw: { width: W, height: H, channels: 4 } },
      { input: Buffer.from(svg) },
    ]);
    img = ext === '.png' ? img.png() : img.jpeg({ quality: 88 });
    const tmp = `${job.out}.partial-${process.pid}`;
    await img.toFile(tmp);
    fs.renameSync(tmp, job.out);
    return { kind: 'viz', id: job.id, ms: performance.now() - t0 };
  } catch (e) {
    return { kind: 'viz', id: job.id, error: String((e as Error)?.message ?? e).split('\n')[0], ms: performance.now() - t0 };
  }
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (job: DecodeJob | VizJob) => {
    if (job.kind === 'decode') {
      void decode(job).then((r) => {
        try {
          port.postMessage(r, r.data ? [r.data.buffer as ArrayBuffer] : []);
        } catch {
          port.postMessage(r); // a buffer that cannot be transferred (a pooled one) is copied
        }
      });
    } else {
      void viz(job).then((r) => port.postMessage(r));
    }
  });
}
