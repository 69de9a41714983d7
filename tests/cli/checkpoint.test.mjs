// `sotr convert` and `sotr inspect`: what convert refuses to write over, corrupt data, prefixes, --key, files that are
// not SOTR state_dicts, interruption. Everything is written under a temp folder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync, copyFileSync, readdirSync, rmSync, watch } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sotr, root } from './helpers/run.mjs';

const lib = createRequire(import.meta.url)(path.join(root, 'dist', 'index.js'));

const tmp = mkdtempSync(path.join(tmpdir(), 'sotr-checkpoint-'));
const tiny = path.join(root, 'tests', 'fixtures', 'model', 'tiny_sotr.pth'); // a loadable SOTR state_dict (torch zip)
const at = (name) => path.join(tmp, name);

test('convert refuses an existing output unless --overwrite, a PyTorch output name, and "-"', async () => {
  const pth = at('orig.pth');
  copyFileSync(tiny, pth);
  const st = at('orig.safetensors');
  let r = await sotr(['convert', '-q', pth, st]);
  assert.is(r.code, 0, r.stderr);
  const converted = readFileSync(st);
  // Swapped arguments: the source .pth survives.
  r = await sotr(['convert', st, pth]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /orig\.pth ends in \.pth, a PyTorch name, but convert writes safetensors/);
  assert.ok(readFileSync(pth).equals(readFileSync(tiny)), 'the source .pth is untouched');
  for (const name of ['x.pt', 'x.PKL']) {
    r = await sotr(['convert', pth, at(name), '--overwrite']);
    assert.is(r.code, 1, name);
    assert.not.ok(existsSync(at(name)));
  }
  // An existing output is refused and kept; --overwrite replaces it.
  const existing = at('existing.safetensors');
  writeFileSync(existing, 'precious\n');
  r = await sotr(['convert', '-q', pth, existing]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /existing\.safetensors exists \(--overwrite replaces it\)/);
  assert.is(readFileSync(existing, 'utf8'), 'precious\n');
  r = await sotr(['convert', '-q', pth, existing, '--overwrite']);
  assert.is(r.code, 0, r.stderr);
  assert.ok(readFileSync(existing).subarray(0, 8).equals(converted.subarray(0, 8)), 'replaced by the safetensors');
  // '-' is not stdout for convert, nor a file named '-'.
  r = await sotr(['convert', '-q', pth, '-'], { cwd: tmp });
  assert.is(r.code, 1);
  assert.match(r.stderr, /cannot be '-'/);
  assert.not.ok(existsSync(at('-')));
  assert.is(r.stdout, '');
  r = await sotr(['help', 'convert']);
  assert.match(r.stdout, /^ {6}--overwrite /m);
});

test('convert refuses corrupt tensor data (CRC-32); inspect --verify checks it too', async () => {
  // Flip 16 bytes inside the largest tensor's stored data (storages are stored, not deflated, in a torch zip).
  const file = readFileSync(tiny);
  const tensors = await lib.readCheckpoint(tiny);
  const big = [...tensors.values()].sort((a, b) => b.data.byteLength - a.data.byteLength)[0];
  const at0 = file.indexOf(Buffer.from(big.data.buffer, big.data.byteOffset, 64));
  assert.ok(at0 > 0);
  for (let i = at0; i < at0 + 16; i++) file[i] ^= 0xff;
  const bad = at('bitflip.pth');
  writeFileSync(bad, file);
  const out = at('bitflip.safetensors');
  let r = await sotr(['convert', '-q', bad, out]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /CRC-32 mismatch/);
  assert.not.ok(existsSync(out));
  assert.equal(readdirSync(tmp).filter((f) => f.includes('.partial-')), []);
  r = await sotr(['inspect', bad]);
  assert.is(r.code, 0, 'the metadata are intact: inspect reads it by default');
  r = await sotr(['inspect', bad, '--verify']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /CRC-32 mismatch/);
  r = await sotr(['inspect', tiny, '--verify']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^CRC-32 of every zip entry: ok$/m);
  r = await sotr(['inspect', tiny, '--verify', '--json']);
  assert.is(JSON.parse(r.stdout).checksums, 'ok');
});

test("inspect strips 'module.' from safetensors names as Sotr.load does; --key is refused for safetensors", async () => {
  const tensors = await lib.readCheckpoint(tiny);
  const prefixed = at('prefixed.safetensors');
  await lib.writeSafetensors(prefixed, new Map([...tensors].map(([k, v]) => ['module.' + k, v])));
  let r = await sotr(['inspect', prefixed]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /SOTR: a complete SOTR state_dict/);
  assert.match(r.stdout, /'module\.' stripped from 169 names/);
  r = await sotr(['inspect', prefixed, '--json', '--keys']);
  const doc = JSON.parse(r.stdout);
  assert.is(doc.loadable, true);
  assert.is(doc.strippedKeys, 169);
  assert.ok('cate_head.cate_pred.weight' in doc.keys);
  const model = await lib.Sotr.load(prefixed, { device: 'cpu' });
  await model.dispose();
  // --key picks an entry of a wrapped PyTorch checkpoint: a safetensors file has none (it was ignored silently).
  for (const args of [['inspect', prefixed, '--key', 'model'], ['convert', prefixed, at('k.safetensors'), '--key', 'model']]) {
    r = await sotr(args);
    assert.is(r.code, 1, args.join(' '));
    assert.match(r.stderr, /a safetensors file has no wrapping dict/);
  }
  assert.not.ok(existsSync(at('k.safetensors')));
});

test('inspect and convert recognise a damaged safetensors file as the loader does: --key refused, the header error named', async () => {
  // A header length past the end of the file: still safetensors to the loader (its parser says what is wrong).
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(4000n);
  const damaged = at('damaged.safetensors');
  writeFileSync(damaged, Buffer.concat([len, Buffer.from('{"x": 1}')]));
  for (const args of [['inspect', damaged, '--key', 'model'], ['convert', damaged, at('d.safetensors'), '--key', 'model']]) {
    const r = await sotr(args);
    assert.is(r.code, 1, args.join(' '));
    assert.match(r.stderr, /a safetensors file has no wrapping dict/);
  }
  const r = await sotr(['inspect', damaged]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /\[SOTR_CHECKPOINT_FORMAT\] .*damaged\.safetensors: invalid safetensors file: header of 4000 bytes runs past the end of the file/);
  assert.not.ok(existsSync(at('d.safetensors')));
});

test('inspect: a file with no SOTR key is "not a SOTR state_dict", not an R50 with default constants', async () => {
  const notSotr = path.join(root, 'tests', 'fixtures', 'checkpoints', 'basic_zip.pth');
  let r = await sotr(['inspect', notSotr]);
  assert.is(r.code, 0, 'as for other files Sotr.load refuses');
  assert.match(r.stdout, /^SOTR: not a SOTR state_dict \(none of its 23 names is a SOTR key\); NOT loadable by Sotr\.load$/m);
  assert.not.match(r.stdout, /R50|ResNet|missing keys/);
  r = await sotr(['inspect', notSotr, '--json']);
  const doc = JSON.parse(r.stdout);
  assert.is(doc.variant, null);
  assert.is(doc.config, null);
  assert.is(doc.loadable, false);
  assert.match(doc.reason, /^not a SOTR state_dict: none of its 23 names is a SOTR key$/);
  r = await sotr(['inspect', tiny, '--json']);
  assert.is(JSON.parse(r.stdout).reason, null);
  // convert says the same (not 549 missing keys of an R50), and writes nothing.
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'sotr-conv-')), 'x.safetensors');
  r = await sotr(['convert', notSotr, out]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /^sotr: none of its 23 names is a SOTR key$/m);
  assert.not.match(r.stderr, /missing keys/);
  assert.not.ok(existsSync(out));
});

test('Ctrl-C or SIGTERM while convert writes: the temporary file is removed, exit 130, the old output kept', async () => {
  // Many tensors: many writes, so the signal lands while the temporary file is being written.
  const dir = at('signal');
  mkdirSync(dir);
  const big = path.join(dir, 'big.safetensors');
  await lib.writeSafetensors(big, new Map(Array.from({ length: 32 }, (_, i) => [`t${i}`, { dtype: 'float32', shape: [1 << 20], data: new Float32Array(1 << 20).fill(i) }])));
  const out = path.join(dir, 'out.safetensors');
  for (const signal of ['SIGINT', 'SIGTERM']) {
    writeFileSync(out, 'old\n');
    const r = await sotr(['convert', '-q', '--no-check', '--overwrite', big, out], {
      onSpawn: (child) => {
        const w = watch(dir, (_, name) => {
          if (String(name).includes('.partial-')) {
            w.close();
            child.kill(signal);
          }
        });
        child.on('exit', () => w.close());
      },
    });
    assert.is(r.code, 130, `${signal}: ${r.code} ${r.signal} ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`interrupted \\(${signal}\\)`));
    assert.equal(readdirSync(dir).sort(), ['big.safetensors', 'out.safetensors'], signal);
    assert.is(readFileSync(out, 'utf8'), 'old\n');
  }
  rmSync(dir, { recursive: true });
});

test("convert: a folder as the output, or a path ending in '/', is a usage error naming it; the hint past 20 problems names inspect", async () => {
  const folder = at('outdir');
  mkdirSync(folder);
  for (const [out, re] of [
    [folder, /the output .*outdir is a folder: give a file name \(.*outdir\/model\.safetensors\)/],
    [at('newdir') + '/', /the output .*newdir\/ ends in a slash/],
  ]) {
    const r = await sotr(['convert', '-q', tiny, out]);
    assert.is(r.code, 1, out);
    assert.match(r.stderr, re);
    assert.not.match(r.stderr, /partial/);
  }
  assert.not.ok(existsSync(at('newdir')));
  const partial = at('missing25.safetensors');
  await lib.writeSafetensors(partial, new Map([...(await lib.readCheckpoint(tiny))].slice(25)));
  let r = await sotr(['convert', partial, at('partial.safetensors')]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /… \d+ more \(sotr inspect --json .*missing25\.safetensors lists all\)/);
  r = await sotr(['inspect', partial]);
  assert.match(r.stdout, /^ {2}… \d+ more \(--json lists all\)$/m);
});

test.run();
