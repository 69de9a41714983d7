// Fuzzes the checkpoint reader with a fixed seed: mutated and truncated fixtures, hostile pickles, wrong magic
// numbers, zip bombs. Every input must either load into well-formed tensors or be rejected with a typed
// checkpoint error (SOTR_CHECKPOINT_FORMAT / SOTR_CHECKPOINT_UNSAFE): never another exception, a crash, a hang
// or a large allocation.
// Run: node tests/checkpoint-fuzz.test.mjs          (about 3000 cases)
//      FUZZ_CASES=100000 FUZZ_SEED=7 node tests/checkpoint-fuzz.test.mjs   (a longer run)
// A failing input is written to $TMPDIR/sotr-fuzz-<seed>-<case>.bin for replay.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readCheckpoint } from '../dist/checkpoint/index.js';
import { FIXTURE_DIR } from './helpers/fixture.mjs';
import { Pickle, f32bytes, makeZip, safetensorsBytes, stateDictPickle, torchLegacy, torchZip } from './helpers/checkpoint-craft.mjs';

const SEED = Number(process.env.FUZZ_SEED ?? 20240601);
const CASES = Number(process.env.FUZZ_CASES ?? 3000);
const CASE_TIME_LIMIT_MS = 5000; // a hang detector; the slowest case takes well under 1 s
const OPTS = { maxCopyBytes: 16 << 20, maxInflatedBytes: 64 << 20 };

function mulberry32(a) {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rng = mulberry32(SEED);
const rint = (n) => Math.floor(rng() * n);
const pick = (xs) => xs[rint(xs.length)];

const CK = path.join(FIXTURE_DIR, 'checkpoints');
const simple = [
  { name: 'w', storage: { cls: 'FloatStorage', key: '0', numel: 6 }, shape: [3, 2], stride: [1, 3] },
  { name: 'g', storage: { cls: 'FloatStorage', key: '1', numel: 1 }, shape: [], parameter: true },
  { name: 'v', storage: { cls: 'FloatStorage', key: '0', numel: 6 }, shape: [2], offset: 4 },
];
const simpleData = { 0: f32bytes([1, 2, 3, 4, 5, 6]), 1: f32bytes([0.25]) };
const SEEDS = [
  ['basic_zip', readFileSync(path.join(CK, 'basic_zip.pth')), 6],
  ['basic_legacy', readFileSync(path.join(CK, 'basic_legacy.pth')), 6],
  ['basic_wrapped_zip', readFileSync(path.join(CK, 'basic_wrapped_zip.pth')), 4],
  ['basic_expected', readFileSync(path.join(CK, 'basic_expected.safetensors')), 3],
  ['tiny_sotr_wrapped_legacy', readFileSync(path.join(CK, 'tiny_sotr_wrapped_legacy.pth')), 1],
  ['tiny_sotr_zip', readFileSync(path.join(CK, 'tiny_sotr_zip.pth')), 1],
  ['deflated_zip', torchZip(stateDictPickle(simple), simpleData, { pklMethod: 8, storageMethod: 8 }), 3],
  ['zip64', torchZip(stateDictPickle(simple), simpleData, { zip64: true, byteorder: 'little' }), 3],
  ['legacy_big_endian', torchLegacy(stateDictPickle(simple, { legacy: true }), { 0: f32bytes([1, 2, 3, 4, 5, 6], true), 1: f32bytes([0.25], true) }, { littleEndian: false }), 3],
];
const weighted = SEEDS.flatMap((s) => Array(s[2]).fill(s));

const INTERESTING32 = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe];

/** A position biased towards the structures: the start (pickles, headers) and the end (zip directory). */
function position(len) {
  const r = rng();
  if (r < 0.4) return rint(Math.min(len, 2048));
  if (r < 0.7) return Math.max(0, len - 1 - rint(Math.min(len, 1024)));
  return rint(len);
}

function mutate(src) {
  let b = Buffer.from(src);
  const ops = [];
  const n = 1 + rint(3);
  for (let k = 0; k < n && b.length > 0; k++) {
    const op = rint(10);
    const p = position(b.length);
    switch (op) {
      case 0: {
        const bits = 1 + rint(8);
        for (let i = 0; i < bits; i++) b[position(b.length)] ^= 1 << rint(8);
        ops.push(`flip${bits}@${p}`);
        break;
      }
      case 1:
        b[p] = pick([0, 0xff, 0x7f, 0x80, rint(256)]);
        ops.push(`set@${p}`);
        break;
      case 2: {
        if (p + 4 <= b.length) b.writeUInt32LE(pick(INTERESTING32), p);
        if (rng() < 0.3 && p + 8 <= b.length) b.writeBigUInt64LE(pick([0n, 1n << 40n, (1n << 63n) - 1n, (1n << 64n) - 1n]), p);
        ops.push(`int@${p}`);
        break;
      }
      case 3:
        b = b.subarray(0, rint(b.length));
        ops.push(`trunc${b.length}`);
        break;
      case 4: {
        const ins = Buffer.alloc(1 + rint(16));
        for (let i = 0; i < ins.length; i++) ins[i] = rint(256);
        b = Buffer.concat([b.subarray(0, p), ins, b.subarray(p)]);
        ops.push(`ins${ins.length}@${p}`);
        break;
      }
      case 5: {
        const len = 1 + rint(32);
        b = Buffer.concat([b.subarray(0, p), b.subarray(Math.min(b.length, p + len))]);
        ops.push(`del${len}@${p}`);
        break;
      }
      case 6: {
        const len = 1 + rint(64);
        b = Buffer.concat([b.subarray(0, p), b.subarray(p, p + len), b.subarray(p)]);
        ops.push(`dup${len}@${p}`);
        break;
      }
      case 7: {
        const len = 1 + rint(64);
        b = Buffer.from(b);
        b.fill(0, p, Math.min(b.length, p + len));
        ops.push(`zero${len}@${p}`);
        break;
      }
      case 8: {
        const other = pick(SEEDS)[1];
        const q = rint(other.length);
        b = Buffer.concat([b.subarray(0, p), other.subarray(q, q + 1 + rint(256))]);
        ops.push(`splice@${p}`);
        break;
      }
      default: {
        // copy one region over another (misplaced headers, pickles in the wrong place)
        const q = position(b.length);
        const len = 1 + rint(32);
        b = Buffer.from(b);
        b.copy(b, p, q, Math.min(b.length, q + len));
        ops.push(`copy${len}@${q}->${p}`);
      }
    }
  }
  return { bytes: b, desc: ops.join(',') };
}

// ------------------------------------------------------------------ hostile corpus

function hostileCases() {
  const out = [];
  const add = (name, bytes, expect) => out.push({ name, bytes, expect });
  const globals = [
    ['os', 'system'], ['posix', 'system'], ['nt', 'system'], ['builtins', 'eval'], ['builtins', 'exec'],
    ['builtins', 'getattr'], ['builtins', '__import__'], ['builtins', 'open'], ['__builtin__', 'eval'],
    ['subprocess', 'Popen'], ['subprocess', 'check_output'], ['pickle', 'loads'], ['torch', 'load'],
    ['torch.storage', '_load_from_bytes'], ['torch.serialization', 'load'], ['functools', 'partial'],
    ['copyreg', '_reconstructor'], ['numpy.core.multiarray', '_reconstruct'], ['numpy', 'load'],
    ['collections', 'defaultdict'], ['torch', 'Tensor'],
    ['torch.nn.modules.conv', 'Conv2d'], ['webbrowser', 'open'], ['runpy', '_run_code'], ['types', 'FunctionType'],
  ];
  for (const [m, n] of globals) {
    const call = (p) => p.str('payload').tuple1().reduce().stop().bytes();
    const g = call(new Pickle().proto(2).global(m, n));
    const sg = call(new Pickle().proto(4).stackGlobal(m, n));
    // hidden inside an otherwise valid state_dict, as a value and as a reduce argument
    const inDict = stateDictPickle(simple, { extra: (p) => p.str('evil').global(m, n).str('x').tuple1().reduce() });
    for (const [kind, pk] of [['GLOBAL', g], ['STACK_GLOBAL', sg], ['in dict', inDict]]) {
      add(`${m}.${n} ${kind} zip`, torchZip(pk, simpleData), ['SOTR_CHECKPOINT_UNSAFE', `${m}.${n}`]);
      add(`${m}.${n} ${kind} legacy`, torchLegacy(kind === 'in dict' ? stateDictPickle(simple, { legacy: true, extra: (p) => p.str('evil').global(m, n).str('x').tuple1().reduce() }) : pk, simpleData), ['SOTR_CHECKPOINT_UNSAFE', `${m}.${n}`]);
    }
  }
  // torch's own rebuilders of tensors this reader cannot hold: a format error, never constructed either
  for (const n of ['_rebuild_qtensor', '_rebuild_sparse_tensor', '_rebuild_sparse_csr_tensor', '_rebuild_meta_tensor_no_storage']) {
    const pk = new Pickle().proto(2).global('torch._utils', n).str('payload').tuple1().reduce().stop().bytes();
    add(`torch._utils.${n} zip`, torchZip(pk, simpleData), ['SOTR_CHECKPOINT_FORMAT', 'not supported']);
    add(`torch._utils.${n} legacy`, torchLegacy(pk, simpleData), ['SOTR_CHECKPOINT_FORMAT', 'not supported']);
  }
  // __reduce__ tricks with allowed names or odd opcodes
  const opcodes = [
    ['INST', new Pickle().proto(2).mark().str('id').raw(0x69).raw(Buffer.from('os\nsystem\n')).stop(), 'SOTR_CHECKPOINT_UNSAFE'],
    ['OBJ', new Pickle().proto(2).mark().global('os', 'system').str('id').raw(0x6f).stop(), 'SOTR_CHECKPOINT_UNSAFE'],
    ['EXT1', new Pickle().proto(2).raw(0x82, 1).emptyTuple().reduce().stop(), 'SOTR_CHECKPOINT_UNSAFE'],
    ['EXT2', new Pickle().proto(2).raw(0x83, 1, 0).stop(), 'SOTR_CHECKPOINT_UNSAFE'],
    ['EXT4', new Pickle().proto(2).raw(0x84, 1, 0, 0, 0).stop(), 'SOTR_CHECKPOINT_UNSAFE'],
    ['NEWOBJ_EX', new Pickle().proto(4).global('collections', 'OrderedDict').emptyTuple().emptyDict().raw(0x92).stop(), 'SOTR_CHECKPOINT_UNSAFE'],
    ['REDUCE on str', new Pickle().proto(2).str('os.system').str('id').tuple1().reduce().stop(), 'SOTR_CHECKPOINT_UNSAFE'],
    ['REDUCE on storage class', new Pickle().proto(2).global('torch', 'FloatStorage').emptyTuple().reduce().stop(), 'SOTR_CHECKPOINT_UNSAFE'],
    ['REDUCE on dtype', new Pickle().proto(2).global('torch', 'float32').emptyTuple().reduce().stop(), 'SOTR_CHECKPOINT_UNSAFE'],
    ['_codecs.encode utf-16', new Pickle().proto(2).global('_codecs', 'encode').str('x').str('utf-16').tuple2().reduce().stop(), 'SOTR_CHECKPOINT_UNSAFE'],
    ['text PERSID', new Pickle().proto(2).raw(0x50).raw(Buffer.from('0\n')).stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['text GET', new Pickle().proto(2).raw(0x67).raw(Buffer.from('0\n')).stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['protocol 6', new Pickle().proto(6).none().stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['BUILD on list', new Pickle().proto(2).emptyList().emptyDict().build().stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['persistent id not storage', new Pickle().proto(2).str('module').tuple1().binpersid().stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['rebuild with junk', new Pickle().proto(2).global('torch._utils', '_rebuild_tensor_v2').str('a').int(0).tuple2().reduce().stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['OrderedDict of junk', new Pickle().proto(2).global('collections', 'OrderedDict').int(5).tuple1().reduce().stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['memo miss', new Pickle().proto(2).get(7).stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['stack underflow', new Pickle().proto(2).reduce().stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['no STOP', new Pickle().proto(2).emptyDict(), 'SOTR_CHECKPOINT_FORMAT'],
    ['BINUNICODE 4 GiB', new Pickle().proto(2).raw(0x58, 0xff, 0xff, 0xff, 0xff).raw(Buffer.from('abc')).stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['BINBYTES8 huge', new Pickle().proto(4).raw(0x8e).raw(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0x10])).stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['LONG4 huge', new Pickle().proto(2).raw(0x8b, 0xff, 0xff, 0xff, 0x7f).stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['FRAME huge', new Pickle().proto(4).raw(0x95).raw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])).none().stop(), 'SOTR_CHECKPOINT_FORMAT'],
    ['invalid utf8', new Pickle().proto(2).raw(0x8c, 2, 0xc3, 0x28).stop(), 'SOTR_CHECKPOINT_FORMAT'],
  ];
  // 200k nested MARKs / lists: memory stays proportional to the input
  const deep = new Pickle().proto(2);
  for (let i = 0; i < 200000; i++) deep.raw(0x28);
  opcodes.push(['200k MARKs', deep.stop(), 'SOTR_CHECKPOINT_FORMAT']);
  const lists = new Pickle().proto(2);
  for (let i = 0; i < 100000; i++) lists.emptyList();
  for (let i = 0; i < 99999; i++) lists.raw(0x61); // APPEND: 100k-deep nested list
  opcodes.push(['100k nested lists', lists.stop(), 'SOTR_CHECKPOINT_FORMAT']);
  // amplification: a few bytes per call copying one large memoised object, over and over (memory and time bombs)
  const amplify = (build, callable) => {
    const p = new Pickle().proto(2);
    callable(p);
    p.put(1).raw(0x30); // memo 1 = the callable
    build(p);
    p.put(0).raw(0x30); // memo 0 = the big object
    for (let i = 0; i < 200000; i++) p.get(1).get(0).tuple1().reduce(); // results stay on the stack
    return p.stop();
  };
  const bigDict = (p) => {
    p.emptyDict().mark();
    for (let i = 0; i < 50000; i++) p.int(i).none();
    p.setitems();
  };
  const bigTuple = (p) => {
    p.mark();
    for (let i = 0; i < 50000; i++) p.int(1);
    p.tuple();
  };
  opcodes.push(['OrderedDict copy bomb', amplify(bigDict, (p) => p.global('collections', 'OrderedDict')), 'SOTR_CHECKPOINT_FORMAT']);
  opcodes.push(['torch.Size copy bomb', amplify(bigTuple, (p) => p.global('torch', 'Size')), 'SOTR_CHECKPOINT_FORMAT']);
  const enc = new Pickle().proto(2).global('_codecs', 'encode').put(1).raw(0x30).str('x'.repeat(1 << 20)).put(0).raw(0x30);
  for (let i = 0; i < 100000; i++) enc.get(1).get(0).str('latin1').tuple2().reduce();
  opcodes.push(['_codecs.encode bomb', enc.stop(), 'SOTR_CHECKPOINT_FORMAT']);
  // a self-referencing "state_dict"
  opcodes.push(['cyclic model', new Pickle().proto(2).emptyDict().put(0).str('model').get(0).setitem().stop(), 'SOTR_CHECKPOINT_FORMAT']);
  for (const [name, p, code] of opcodes) {
    const bytes = p.bytes();
    add(`${name} zip`, torchZip(bytes, simpleData), [code]);
    add(`${name} legacy`, torchLegacy(bytes, simpleData), [code]);
  }
  // wrong magic numbers and headers
  const lp = stateDictPickle(simple, { legacy: true });
  for (const magic of [0n, 1n, 0x1950a86a20f9469cfc6dn, 0x1950a86a20f9469cfc6bn, -0x1950a86a20f9469cfc6cn, 1n << 79n]) {
    add(`legacy magic ${magic}`, torchLegacy(lp, simpleData, { magic }), ['SOTR_CHECKPOINT_FORMAT', 'magic']);
  }
  add('legacy magic as str', Buffer.concat([new Pickle().proto(2).str('magic').stop().bytes(), torchLegacy(lp, simpleData).subarray(14)]), ['SOTR_CHECKPOINT_FORMAT']);
  for (const protocol of [0, 1000, 1002, -1]) add(`legacy protocol ${protocol}`, torchLegacy(lp, simpleData, { protocol }), ['SOTR_CHECKPOINT_FORMAT', 'protocol']);
  add('plain pickle', new Pickle().proto(2).emptyDict().stop().bytes(), ['SOTR_CHECKPOINT_FORMAT', 'magic']);
  add('zip magic only', Buffer.from('PK\x03\x04'), ['SOTR_CHECKPOINT_FORMAT']);
  add('safetensors-ish', Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]), ['SOTR_CHECKPOINT_FORMAT']);
  add('gzip', Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), ['SOTR_CHECKPOINT_FORMAT']);
  add('ELF', Buffer.from('\x7fELF\x02\x01\x01\x00', 'latin1'), ['SOTR_CHECKPOINT_FORMAT']);
  // zip bombs and directory tricks
  const pkl = stateDictPickle(simple);
  add('bomb storage', makeZip([{ name: 'archive/data.pkl', data: pkl }, { name: 'archive/data/0', data: Buffer.alloc(32 << 20), method: 8, size: 24 }, { name: 'archive/data/1', data: simpleData[1] }]), ['SOTR_CHECKPOINT_FORMAT', 'inflate']);
  add('bomb pickle', makeZip([{ name: 'archive/data.pkl', data: Buffer.alloc(32 << 20, 0x4e), method: 8, size: pkl.length }]), ['SOTR_CHECKPOINT_FORMAT']);
  add('bomb declared 10 GB', makeZip([{ name: 'archive/data.pkl', data: pkl }, { name: 'archive/data/0', data: Buffer.alloc(1 << 16), method: 8, size: 10e9 }, { name: 'archive/data/1', data: simpleData[1] }]), ['SOTR_CHECKPOINT_FORMAT']);
  add('pickle declared 10 GB', makeZip([{ name: 'archive/data.pkl', data: pkl, method: 8, size: 10e9 }]), ['SOTR_CHECKPOINT_FORMAT']);
  const many = [];
  const entries = [{ name: 'archive/data.pkl', data: null }, { name: 'archive/data/0', data: Buffer.alloc(1 << 16) }];
  for (let i = 0; i < 2000; i++) {
    many.push({ name: `t${i}`, storage: { cls: 'FloatStorage', key: String(i), numel: 1 << 14 }, shape: [1 << 14] });
    if (i > 0) entries.push({ name: `archive/data/${i}`, offsetOf: 'archive/data/0' });
  }
  entries[0].data = stateDictPickle(many);
  add('entries sharing a local header', makeZip(entries), ['SOTR_CHECKPOINT_FORMAT', 'another entry']);
  const dup = makeZip([{ name: 'archive/data.pkl', data: pkl }, { name: 'archive/data.pkl', data: pkl }]);
  add('duplicate names', dup, ['SOTR_CHECKPOINT_FORMAT']);
  const expand = stateDictPickle([{ name: 'w', storage: { cls: 'FloatStorage', key: '0', numel: 1 }, shape: [1 << 26, 1 << 26], stride: [0, 0] }]);
  add('expanded 2^52 elements', torchZip(expand, { 0: f32bytes([1]) }), ['SOTR_CHECKPOINT_FORMAT']);
  const overflow = stateDictPickle([{ name: 'w', storage: { cls: 'FloatStorage', key: '0', numel: 1 }, shape: [2 ** 40, 2 ** 40], stride: [0, 0] }]);
  add('shape overflow', torchZip(overflow, { 0: f32bytes([1]) }), ['SOTR_CHECKPOINT_FORMAT']);
  const hugeNumel = stateDictPickle([{ name: 'w', storage: { cls: 'FloatStorage', key: '0', numel: 2 ** 50 }, shape: [4] }]);
  add('storage numel 2^50', torchZip(hugeNumel, { 0: f32bytes([1, 2, 3, 4]) }), ['SOTR_CHECKPOINT_FORMAT']);
  add('legacy numel 2^50', torchLegacy(stateDictPickle([{ name: 'w', storage: { cls: 'FloatStorage', key: '0', numel: 2 ** 50 }, shape: [4] }], { legacy: true }), { 0: f32bytes([1, 2, 3, 4]) }), ['SOTR_CHECKPOINT_FORMAT']);
  // safetensors lies
  add('st huge header', (() => { const b = Buffer.alloc(16); b.writeBigUInt64LE((1n << 64n) - 1n); b[8] = 0x7b; return b; })(), ['SOTR_CHECKPOINT_FORMAT']);
  add('st shape overflow', safetensorsBytes({ a: { dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 4] } }, Buffer.alloc(4)), ['SOTR_CHECKPOINT_FORMAT']);
  add('st negative offset', safetensorsBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, Buffer.alloc(4)), ['SOTR_CHECKPOINT_FORMAT']);
  add('st __proto__', safetensorsBytes(JSON.parse('{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'), Buffer.alloc(4)), null);
  return out;
}

// ------------------------------------------------------------------ runner

function checkResult(tensors) {
  assert.ok(tensors instanceof Map);
  for (const [k, e] of tensors) {
    assert.type(k, 'string');
    let n = 1;
    for (const d of e.shape) {
      assert.ok(Number.isSafeInteger(d) && d >= 0, `dim of ${k}`);
      n *= d;
    }
    assert.ok(ArrayBuffer.isView(e.data), `data of ${k}`);
    assert.is(e.data.length, n, `length of ${k}`);
  }
}

const failures = [];
let maxMs = 0;
let maxCase = '';

async function runCase(label, bytes, opts, expect) {
  const t0 = performance.now();
  let outcome;
  try {
    const tensors = await readCheckpoint(bytes, { ...OPTS, ...opts });
    checkResult(tensors);
    outcome = { ok: true };
  } catch (e) {
    outcome = { ok: false, e };
  }
  const ms = performance.now() - t0;
  if (ms > maxMs) {
    maxMs = ms;
    maxCase = label;
  }
  let problem = null;
  if (!outcome.ok) {
    const e = outcome.e;
    if (e?.code !== 'SOTR_CHECKPOINT_FORMAT' && e?.code !== 'SOTR_CHECKPOINT_UNSAFE') problem = `untyped error ${e?.name}: ${e?.message}\n${e?.stack}`;
    else if (e.details?.internal) problem = `internal error: ${e.message}\n${e.cause?.stack}`;
    else if (expect && e.code !== expect[0]) problem = `expected ${expect[0]}, got ${e.code}: ${e.message}`;
    else if (expect && expect[1] && !e.message.includes(expect[1])) problem = `message does not name '${expect[1]}': ${e.message}`;
  } else if (expect) {
    problem = 'loaded, but must be rejected';
  }
  if (ms > CASE_TIME_LIMIT_MS) problem = `took ${ms.toFixed(0)} ms`;
  if (problem) {
    const file = path.join(tmpdir(), `sotr-fuzz-${SEED}-${failures.length}.bin`);
    writeFileSync(file, bytes);
    failures.push(`${label}: ${problem} (input saved to ${file})`);
  }
  return outcome.ok;
}

const HOSTILE = hostileCases();

test(`${HOSTILE.length} hostile inputs are all rejected with typed errors`, async () => {
  const cases = HOSTILE;
  for (const c of cases) await runCase(`hostile '${c.name}'`, c.bytes, {}, c.expect);
  assert.ok(cases.length > 150, `${cases.length} hostile cases`);
  if (failures.length) assert.unreachable(`${failures.length} failures:\n${failures.slice(0, 10).join('\n')}`);
});

test(`${CASES - HOSTILE.length} mutated inputs (seed ${SEED}): loaded or rejected, never a crash or a hang`, async () => {
  const t0 = performance.now();
  const n = Math.max(0, CASES - HOSTILE.length);
  let loaded = 0;
  const before = failures.length;
  for (let i = 0; i < n; i++) {
    const [name, bytes] = pick(weighted);
    const { bytes: m, desc } = mutate(bytes);
    const opts = { verifyChecksums: rng() < 0.6 ? false : 'metadata' };
    if (await runCase(`case ${i} ${name} [${desc}]`, m, opts, null)) loaded++;
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`  fuzz: ${n} mutated cases in ${s.toFixed(1)} s (${loaded} still loaded), slowest ${maxMs.toFixed(0)} ms (${maxCase})`);
  if (failures.length > before) assert.unreachable(`${failures.length - before} failures:\n${failures.slice(before, before + 10).join('\n')}`);
});

test.run();
