// Spawns the `sotr` command (dist/cli/main.js), or the same command with a stand-in model (fake-cli.mjs).
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const cli = path.join(root, 'dist', 'cli', 'main.js');
export const fakeCli = path.join(root, 'tests', 'cli', 'helpers', 'fake-cli.mjs');

/** Runs a command; resolves to { code, signal, stdout, stderr }. `onSpawn(child)` may signal it. */
export function run(script, args, { env = {}, cwd = root, onSpawn, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { cwd, env: { ...process.env, FORCE_COLOR: '0', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    onSpawn?.(child);
  });
}

export const sotr = (args, o) => run(cli, args, o);
export const fakeSotr = (args, o) => run(fakeCli, args, o);

/** A temp folder with the example images, a corrupt JPEG and a text file posing as a PNG. */
export function imageFolder() {
  const dir = mkdtempSync(path.join(tmpdir(), 'sotr-cli-'));
  const images = path.join(dir, 'images');
  cpSync(path.join(root, 'examples', 'images'), images, { recursive: true });
  const good = readFileSync(path.join(images, 'street.jpg'));
  writeFileSync(path.join(images, 'truncated.jpg'), good.subarray(0, 300));
  writeFileSync(path.join(images, 'not-an-image.png'), 'this is text, not a PNG\n');
  return { dir, images, good: ['grey.jpg', 'portrait.png', 'street.jpg', 'table.jpg'], bad: ['not-an-image.png', 'truncated.jpg'] };
}

export function readLines(file) {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** Run lengths of a COCO compressed RLE string (column-major, zeros first). */
export function rleRuns(counts) {
  const runs = [];
  let p = 0;
  while (p < counts.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      const c = counts.charCodeAt(p++) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (runs.length > 2) x += runs[runs.length - 2];
    runs.push(x);
  }
  return runs;
}

/** Checks one result instance against the image size; returns the mask area from its RLE. */
export function checkInstance(assert, inst, width, height) {
  assert.type(inst.label, 'number');
  assert.type(inst.class, 'string');
  assert.type(inst.category_id, 'number');
  assert.ok(inst.score >= 0 && inst.score <= 1, `score ${inst.score}`);
  assert.equal(inst.segmentation.size, [height, width]);
  const runs = rleRuns(inst.segmentation.counts);
  assert.ok(runs.every((r) => r >= 0), 'runs are non-negative');
  assert.is(runs.reduce((a, b) => a + b, 0), width * height, 'runs cover the image');
  const area = runs.reduce((a, r, i) => a + (i % 2 ? r : 0), 0);
  assert.is(inst.area, area, 'area matches the RLE');
  const [x, y, w, h] = inst.bbox;
  assert.ok(x >= 0 && y >= 0 && x + w <= width && y + h <= height, `bbox ${inst.bbox} inside ${width}x${height}`);
  return area;
}
