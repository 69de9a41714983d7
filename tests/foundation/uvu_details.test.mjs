// tests/helpers/uvu_details_hook.mjs, which tests/run.mjs loads to rerun a file whose failures uvu's reporter could
// not print: a test failing with a SotrError whose `details` is an object shows its message (the reporter threw on it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const hook = pathToFileURL(path.join(root, 'tests', 'helpers', 'uvu_details_hook.mjs')).href;

test("a failing test's SotrError with object details: its message and details are printed", () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sotr-uvu-'));
  const file = path.join(dir, 'fails.mjs');
  const uvu = pathToFileURL(path.join(root, 'node_modules', 'uvu', 'dist', 'index.mjs')).href;
  const lib = pathToFileURL(path.join(root, 'dist', 'index.js')).href;
  writeFileSync(
    file,
    `import { test } from ${JSON.stringify(uvu)};\nimport lib from ${JSON.stringify(lib)};\n` +
      `test('fails', () => { throw new lib.SotrError('SOTR_INTERNAL', 'the real failure', { details: { key: 'w', shape: [2, 3] } }); });\ntest.run();\n`,
  );
  const r = spawnSync(process.execPath, ['--import', hook, file], { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  rmSync(dir, { recursive: true });
  const out = r.stdout + r.stderr;
  assert.match(out, /FAIL\s+"fails"/);
  assert.match(out, /the real failure/);
  assert.match(out, /"key": "w"/);
  assert.match(out, /Total:\s+1/);
  assert.match(out, /Passed:\s+0/);
});

test.run();
