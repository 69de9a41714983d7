// docs/api.md, the API reference, is generated from the TypeScript sources (scripts/api-reference.mjs): it must be
// current (regenerated here in memory and compared), every export and every public class member must carry a doc
// comment, and every value the package exports at run time must have its entry (and no entry names a value that is
// not exported).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApiReference } from '../../scripts/api-reference.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ref = buildApiReference();
const committed = readFileSync(path.join(root, 'docs', 'api.md'), 'utf8');

test('every export and public member has a doc comment', () => {
  assert.equal(ref.missing, [], `no doc comment: ${ref.missing.join(', ')}`);
});

test('docs/api.md is current (node scripts/api-reference.mjs rewrites it)', () => {
  if (committed !== ref.md) {
    const a = committed.split('\n');
    const b = ref.md.split('\n');
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    assert.unreachable(`docs/api.md is stale from line ${i + 1}:\n  committed: ${a[i]}\n  generated: ${b[i]}\nrun: node scripts/api-reference.mjs`);
  }
});

test('the reference has an entry for each value exported at run time, and names no other value', async () => {
  const mod = await import('../../dist/index.js');
  // (Node 24 adds 'module.exports' to a CommonJS module's namespace.)
  const runtime = Object.keys(mod).filter((k) => k !== 'default' && k !== '__esModule' && k !== 'module.exports');
  const entries = new Map([...ref.md.matchAll(/^### `([^`]+)` \((\w+)\)$/gm)].map((m) => [m[1], m[2]]));
  const undocumented = runtime.filter((k) => !entries.has(k));
  assert.equal(undocumented, [], `exported without an entry: ${undocumented.join(', ')}`);
  const stale = [...entries].filter(([k, kind]) => (kind === 'function' || kind === 'class' || kind === 'const') && !(k in mod)).map(([k]) => k);
  assert.equal(stale, [], `entries for values not exported: ${stale.join(', ')}`);
  // The model's main methods are listed with their signatures.
  for (const m of ['static async load(', 'predict(', 'predictEach<', 'async warmup(', 'dispose()']) assert.ok(ref.md.includes(`| \`${m}`), m);
});

test.run();
