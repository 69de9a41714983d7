/**
 * A CLI worker thread: decodes images for the model (with the model's own
 * decoder, so the pixels are exactly what the model would read from the path:
 * EXIF orientation, Pillow's conversions, interleaved BGR) and draws overlay
 * images and label maps from finished results, so none of it runs on the thread
 * that feeds the device. Started by pool.ts; one message in, one message out per job.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../model/preprocess';
import { baseImage, encodeOverlay, renderOverlay, type OverlayInstance } from '../render';
import { labelMap } from '../masks/label_map';
import { Mask } from '../masks/mask';
import { ioReason } from './out_files';

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

/** An instance to draw, its mask as the results file's RLE counts. */
export type VizInstance = OverlayInstance & { counts: string };

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

/** --label-maps: one image's instances (the results file's RLE counts and labels) painted into an 8- or 16-bit PNG. */
export interface LabelsJob {
  kind: 'labels';
  id: number;
  out: string;
  width: number;
  height: number;
  by: 'instance' | 'label';
  depth: 8 | 16;
  instances: Array<{ counts: string; label: number }>;
}

export interface LabelsDone {
  kind: 'labels';
  id: number;
  error?: string;
  ms: number;
}

export interface WorkerConfig {
  /** libvips threads for this process (the pool sets the same value in every worker). */
  vipsThreads: number;
  /** --limit-input-pixels (absent: the library's default). */
  limitInputPixels?: number;
}

const cfg = (workerData ?? { vipsThreads: 1 }) as WorkerConfig;
sharp.concurrency(Math.max(1, cfg.vipsThreads));
sharp.cache(false);

async function decode(job: DecodeJob): Promise<DecodeDone> {
  const t0 = performance.now();
  try {
    const img = await decodeImage(job.file, cfg.limitInputPixels !== undefined ? { limitInputPixels: cfg.limitInputPixels } : {});
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

// An output file of a job: `make` gives its bytes, written to a temporary name beside it (by Node, so a failure says
// why: a full disk is ENOSPC, not libvips' bare "write error"), then renamed into place (a reader never sees half a
// file); on a failure the temporary goes, and the error is one line with the system's reason (the caller names the
// option and the file).
async function writeOutput<K extends 'viz' | 'labels'>(
  kind: K,
  id: number,
  out: string,
  make: () => Promise<Buffer>,
): Promise<{ kind: K; id: number; error?: string; ms: number }> {
  const t0 = performance.now();
  const tmp = `${out}.partial-${process.pid}`;
  try {
    const bytes = await make();
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, out);
    return { kind, id, ms: performance.now() - t0 };
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // Not removable (the folder went): the next run's start removes it.
    }
    return { kind, id, error: ioReason(e), ms: performance.now() - t0 };
  }
}

function viz(job: VizJob): Promise<VizDone> {
  return writeOutput('viz', job.id, job.out, async () => {
    const { width: W, height: H } = job;
    const base = await baseImage(job.file, 0);
    if (base.width !== W || base.height !== H) throw new Error(`image is ${base.width}×${base.height}, results say ${W}×${H}`);
    const format = path.extname(job.out).toLowerCase() === '.png' ? 'png' : 'jpeg';
    return encodeOverlay(await renderOverlay(base, job.instances, { inPlace: true }), format).toBuffer();
  });
}

function labels(job: LabelsJob): Promise<LabelsDone> {
  return writeOutput('labels', job.id, job.out, async () => {
    const { width: W, height: H } = job;
    // The largest value, known before painting: the instance count, or 1 + the largest label.
    const top = job.by === 'instance' ? job.instances.length : job.instances.reduce((m, i) => Math.max(m, i.label + 1), 0);
    const max = job.depth === 16 ? 65535 : 255;
    if (top > max) {
      const what = job.by === 'instance' ? `more than ${max} instances` : `a label above ${max - 1}`;
      throw new Error(`a value of ${top} does not fit the ${job.depth}-bit map (${what})${job.depth === 8 ? ': --label-map-depth 16 holds it' : ''}`);
    }
    const instances = job.instances.map((i) => ({ label: i.label, mask: Mask.fromRLE({ size: [H, W], counts: i.counts }) }));
    const map = await labelMap({ width: W, height: H, instances }, { by: job.by });
    // One channel (b-w / grey16), which dataset tools read as a 2-D array of values (sharp would write RGB). sharp
    // takes the pixel depth from the typed array: the Uint16Array itself gives 16-bit samples.
    const raw = { raw: { width: W, height: H, channels: 1 as const } };
    const img = job.depth === 16 ? sharp(map.data, raw).toColourspace('grey16') : sharp(Uint8Array.from(map.data), raw).toColourspace('b-w');
    return img.png().toBuffer();
  });
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (job: DecodeJob | VizJob | LabelsJob) => {
    if (job.kind === 'decode') {
      void decode(job).then((r) => {
        try {
          port.postMessage(r, r.data ? [r.data.buffer as ArrayBuffer] : []);
        } catch {
          port.postMessage(r); // a buffer that cannot be transferred (a pooled one) is copied
        }
      });
    } else if (job.kind === 'labels') {
      void labels(job).then((r) => port.postMessage(r));
    } else {
      void viz(job).then((r) => port.postMessage(r));
    }
  });
}
