import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { FIXTURE_DIR, loadFixture } from '../helpers/fixture.mjs';

function walk(dir) {
  const out = [];
  for (const n of readdirSync(dir)) {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

test('fixtures stay within budget: <= 1 MB a file, <= 8 MB in all', () => {
  const files = walk(FIXTURE_DIR);
  let total = 0;
  for (const f of files) {
    const s = statSync(f).size;
    total += s;
    assert.ok(s <= 1024 * 1024, `${path.relative(FIXTURE_DIR, f)} is ${s} bytes (> 1 MB)`);
  }
  assert.ok(total <= 8 * 1024 * 1024, `fixtures total ${total} bytes (> 8 MB)`);
});

test('every safetensors fixture names the script and seed that made it', () => {
  for (const f of walk(FIXTURE_DIR).filter((f) => f.endsWith('.safetensors'))) {
    const { meta } = loadFixture(f);
    assert.type(meta.script, 'string', f);
    assert.type(meta.seed, 'string', f);
  }
});

test.run();
