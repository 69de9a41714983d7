// The documentation's code runs: every ```js block of README.md, docs/model.md and docs/checkpoints.md that imports
// or requires 'sotr-node' (a whole program, not a fragment) is written to a .mjs (.cjs) file in a scratch folder whose node_modules
// links to this checkout, next to the files it names (the tiny random model under each checkpoint name the block
// loads, example images under each image name), and run with this node; it must exit 0. A README example that does
// not parse or run fails here (until 2026-11-27 the first one used `await using` in a CommonJS snippet: a
// SyntaxError on Node 20).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { writeRandomSotrCheckpoint } = await import('../../dist/index.js');

const DOCS = ['README.md', 'docs/model.md', 'docs/checkpoints.md'];
const blocks = [];
for (const doc of DOCS) {
  const text = readFileSync(path.join(root, doc), 'utf8');
  const re = /```js\n([\s\S]*?)```/g;
  let m;
  let k = 0;
  while ((m = re.exec(text))) {
    k++;
    // Whole programs: ESM importing the package, or CommonJS requiring it (run as .cjs, where top-level await fails).
    if (/from 'sotr-node'/.test(m[1])) blocks.push({ name: `${doc} block ${k}`, code: m[1], ext: '.mjs' });
    else if (/require\('sotr-node'\)/.test(m[1])) blocks.push({ name: `${doc} block ${k}`, code: m[1], ext: '.cjs' });
  }
}

const dir = mkdtempSync(path.join(tmpdir(), 'sotr-readme-'));
mkdirSync(path.join(dir, 'node_modules'));
symlinkSync(root, path.join(dir, 'node_modules', 'sotr-node'), 'dir');
const tiny = path.join(dir, 'tiny.safetensors');

test.before(async () => {
  await writeRandomSotrCheckpoint(tiny, { preset: 'tiny', seed: 1 });
});

test('the documentation has runnable examples', () => {
  assert.ok(blocks.length >= 4, `${blocks.length} blocks`);
  assert.ok(blocks.some((b) => b.name.startsWith('README.md')));
});

for (const [i, b] of blocks.entries()) {
  test(`${b.name} runs`, () => {
    const work = path.join(dir, `ex${i}`);
    mkdirSync(work);
    symlinkSync(path.join(dir, 'node_modules'), path.join(work, 'node_modules'), 'dir');
    // The files the block names: checkpoints become the tiny model, images an example image.
    for (const [, name] of b.code.matchAll(/'([\w.-]+\.(?:pth|safetensors|jpg|png))'/g)) {
      if (/\.(pth)$/.test(name) && !/ to | out/.test(name)) copyFileSync(tiny, path.join(work, name));
      if (/\.(jpg|png)$/.test(name) && !/overlay/.test(name)) copyFileSync(path.join(root, 'examples', 'images', 'street.jpg'), path.join(work, name));
    }
    const file = path.join(work, `example${b.ext}`);
    writeFileSync(file, b.code);
    const r = spawnSync(process.execPath, [file], { cwd: work, encoding: 'utf8', timeout: 120_000 });
    assert.is(r.status, 0, `${b.name} exited ${r.status}:\n${r.stderr.slice(-2000)}`);
  });
}

test.run();
