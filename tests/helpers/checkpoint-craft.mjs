// Hand-assembles torch.save-like files (pickles, zip and legacy containers, safetensors) for the checkpoint
// reader tests: big-endian files, deflated and zip64 archives, and the hostile inputs of the fuzz suite.
// Written from the formats' descriptions; independent of the code under test.
import { crc32, deflateRawSync } from 'node:zlib';

/** A small pickle assembler: each method appends one opcode. */
export class Pickle {
  constructor() {
    this.parts = [];
  }
  raw(...bytes) {
    for (const b of bytes) this.parts.push(typeof b === 'number' ? Buffer.from([b]) : Buffer.from(b));
    return this;
  }
  proto(v = 2) { return this.raw(0x80, v); }
  mark() { return this.raw(0x28); }
  stop() { return this.raw(0x2e); }
  none() { return this.raw(0x4e); }
  bool(v) { return this.raw(v ? 0x88 : 0x89); }
  int(n) {
    if (typeof n === 'bigint') {
      const bytes = [];
      let v = n;
      for (;;) {
        bytes.push(Number(v & 0xffn));
        v >>= 8n;
        if ((v === 0n && !(bytes[bytes.length - 1] & 0x80)) || (v === -1n && bytes[bytes.length - 1] & 0x80)) break;
      }
      return this.raw(0x8a, bytes.length, Buffer.from(bytes));
    }
    if (n >= 0 && n < 256) return this.raw(0x4b, n);
    if (n >= 0 && n < 65536) { const b = Buffer.alloc(2); b.writeUInt16LE(n); return this.raw(0x4d, b); }
    if (n >= -(2 ** 31) && n < 2 ** 31) { const b = Buffer.alloc(4); b.writeInt32LE(n); return this.raw(0x4a, b); }
    return this.int(BigInt(n));
  }
  float(x) { const b = Buffer.alloc(8); b.writeDoubleBE(x); return this.raw(0x47, b); }
  str(s) {
    const b = Buffer.from(s, 'utf8');
    const l = Buffer.alloc(4);
    l.writeUInt32LE(b.length);
    return this.raw(0x58, l, b);
  }
  global(mod, name) { return this.raw(0x63, Buffer.from(`${mod}\n${name}\n`, 'latin1')); }
  stackGlobal(mod, name) { return this.str(mod).str(name).raw(0x93); }
  emptyTuple() { return this.raw(0x29); }
  tuple() { return this.raw(0x74); }
  tuple1() { return this.raw(0x85); }
  tuple2() { return this.raw(0x86); }
  tuple3() { return this.raw(0x87); }
  emptyList() { return this.raw(0x5d); }
  emptyDict() { return this.raw(0x7d); }
  appends() { return this.raw(0x65); }
  setitem() { return this.raw(0x73); }
  setitems() { return this.raw(0x75); }
  reduce() { return this.raw(0x52); }
  build() { return this.raw(0x62); }
  newobj() { return this.raw(0x81); }
  binpersid() { return this.raw(0x51); }
  put(i) { return this.raw(0x71, i); }
  get(i) { return this.raw(0x68, i); }
  intTuple(xs) {
    this.mark();
    for (const x of xs) this.int(x);
    return this.tuple();
  }
  bytes() { return Buffer.concat(this.parts); }
}

/**
 * A tensor to pickle: { name, storage: { cls: 'FloatStorage', key: '0', location: 'cpu', numel }, offset, shape,
 * stride, parameter?: bool, metadata?: { neg?: bool, conj?: bool } (torch 2's 7th argument) }.
 */
function pickleTensor(p, t, legacy) {
  if (t.parameter) p.global('torch._utils', '_rebuild_parameter').mark();
  p.global('torch._utils', '_rebuild_tensor_v2').mark();
  // persistent id
  p.mark().str('storage').global('torch', t.storage.cls).str(t.storage.key).str(t.storage.location ?? 'cpu').int(t.storage.numel);
  if (legacy) p.none();
  p.tuple().binpersid();
  p.int(t.offset ?? 0).intTuple(t.shape).intTuple(t.stride ?? contiguousStride(t.shape)).bool(false);
  p.global('collections', 'OrderedDict').emptyTuple().reduce();
  if (t.metadata) {
    p.emptyDict().mark();
    for (const [k, v] of Object.entries(t.metadata)) p.str(k).bool(v);
    p.setitems();
  }
  p.tuple().reduce();
  if (t.parameter) p.bool(true).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
}

export function contiguousStride(shape) {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** The pickle of an OrderedDict state_dict, as torch.save writes it; `wrap` puts it under {"model": ...}. */
export function stateDictPickle(tensors, { legacy = false, wrap = null, extra = null } = {}) {
  const p = new Pickle().proto(2);
  if (wrap) p.emptyDict().mark().str(wrap);
  p.global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  for (const t of tensors) {
    p.str(t.name);
    pickleTensor(p, t, legacy);
  }
  p.setitems();
  if (extra) extra(p);
  if (wrap) p.setitems();
  return p.stop().bytes();
}

/** Writes a zip archive. entries: [{ name, data, method?: 0|8, size?: declared size, crc?: number, offsetOf?: name }]. */
export function makeZip(entries, { zip64 = false, align = 64 } = {}) {
  const chunks = [];
  let pos = 0;
  const central = [];
  const placed = new Map();
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const method = e.method ?? 0;
    const data = Buffer.from(e.data ?? []);
    const body = method === 8 ? deflateRawSync(data) : data;
    const crc = e.crc ?? crc32(data) >>> 0;
    const size = e.size ?? data.length;
    if (e.offsetOf) {
      // a second directory entry pointing at an earlier entry's data (overlapping entries)
      const at = placed.get(e.offsetOf);
      central.push({ name, method: at.method, crc: at.crc, csize: at.csize, size: at.size, lho: at.lho });
      continue;
    }
    let pad = 0;
    if (align) pad = (align - ((pos + 30 + name.length + 4) % align)) % align;
    const extra = align ? Buffer.alloc(4 + pad) : Buffer.alloc(0);
    if (align) {
      extra.writeUInt16LE(0x4246, 0); // 'FB' padding field, as torch writes
      extra.writeUInt16LE(pad, 2);
    }
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(zip64 ? 45 : 20, 4);
    lh.writeUInt16LE(method, 8);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(body.length, 18);
    lh.writeUInt32LE(Math.min(size, 0xffffffff), 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(extra.length, 28);
    const rec = { method, crc, csize: body.length, size, lho: pos };
    placed.set(e.name, rec);
    central.push({ name, ...rec });
    chunks.push(lh, name, extra, body);
    pos += 30 + name.length + extra.length + body.length;
  }
  const cdStart = pos;
  for (const c of central) {
    const z64 = zip64 || c.size > 0xfffffffe || c.csize > 0xfffffffe;
    const ex = z64 ? Buffer.alloc(4 + 24) : Buffer.alloc(0);
    if (z64) {
      ex.writeUInt16LE(1, 0);
      ex.writeUInt16LE(24, 2);
      ex.writeBigUInt64LE(BigInt(c.size), 4);
      ex.writeBigUInt64LE(BigInt(c.csize), 12);
      ex.writeBigUInt64LE(BigInt(c.lho), 20);
    }
    const h = Buffer.alloc(46);
    h.writeUInt32LE(0x02014b50, 0);
    h.writeUInt16LE(45, 4);
    h.writeUInt16LE(45, 6);
    h.writeUInt16LE(c.method, 10);
    h.writeUInt32LE(c.crc, 16);
    h.writeUInt32LE(z64 ? 0xffffffff : c.csize, 20);
    h.writeUInt32LE(z64 ? 0xffffffff : c.size, 24);
    h.writeUInt16LE(c.name.length, 28);
    h.writeUInt16LE(ex.length, 30);
    h.writeUInt32LE(z64 ? 0xffffffff : c.lho, 42);
    chunks.push(h, c.name, ex);
    pos += 46 + c.name.length + ex.length;
  }
  const cdSize = pos - cdStart;
  if (zip64) {
    const r = Buffer.alloc(56);
    r.writeUInt32LE(0x06064b50, 0);
    r.writeBigUInt64LE(44n, 4);
    r.writeUInt16LE(45, 12);
    r.writeUInt16LE(45, 14);
    r.writeBigUInt64LE(BigInt(central.length), 24);
    r.writeBigUInt64LE(BigInt(central.length), 32);
    r.writeBigUInt64LE(BigInt(cdSize), 40);
    r.writeBigUInt64LE(BigInt(cdStart), 48);
    const l = Buffer.alloc(20);
    l.writeUInt32LE(0x07064b50, 0);
    l.writeBigUInt64LE(BigInt(pos), 8);
    l.writeUInt32LE(1, 16);
    chunks.push(r, l);
    pos += 76;
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(zip64 ? 0xffff : central.length, 8);
  eocd.writeUInt16LE(zip64 ? 0xffff : central.length, 10);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : cdSize, 12);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : cdStart, 16);
  chunks.push(eocd);
  return Buffer.concat(chunks);
}

/**
 * A torch zip checkpoint. storages: { key: Buffer of raw bytes }. Options: archive folder name, byteorder record,
 * method for data.pkl / storages, zip64.
 */
export function torchZip(pickle, storages = {}, { archive = 'archive', byteorder = null, pklMethod = 0, storageMethod = 0, zip64 = false, extraEntries = [] } = {}) {
  const entries = [{ name: `${archive}/data.pkl`, data: pickle, method: pklMethod }];
  if (byteorder !== null) entries.push({ name: `${archive}/byteorder`, data: Buffer.from(byteorder) });
  for (const [k, v] of Object.entries(storages)) entries.push({ name: `${archive}/data/${k}`, data: v, method: storageMethod });
  entries.push({ name: `${archive}/version`, data: Buffer.from('3\n') }, ...extraEntries);
  return makeZip(entries, { zip64 });
}

export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/**
 * A legacy-format checkpoint: magic, protocol, sys info, main pickle, key list, then storages with element counts.
 * `littleEndian` is the sys info flag only: torch writes storages little-endian on every host (pass the data so);
 * `countOrder: 'big'` writes the counts as torch before 1.6 did on a big-endian host.
 */
export function torchLegacy(mainPickle, storages, { littleEndian = true, countOrder = 'little', magic = LEGACY_MAGIC, protocol = 1001, elementSizes = {} } = {}) {
  const parts = [];
  parts.push(new Pickle().proto(2).int(magic).stop().bytes());
  parts.push(new Pickle().proto(2).int(protocol).stop().bytes());
  parts.push(
    new Pickle().proto(2).emptyDict().mark()
      .str('protocol_version').int(protocol)
      .str('little_endian').bool(littleEndian)
      .str('type_sizes').emptyDict().mark().str('short').int(2).str('int').int(4).str('long').int(4).setitems()
      .setitems().stop().bytes(),
  );
  parts.push(mainPickle);
  const keys = Object.keys(storages);
  const kp = new Pickle().proto(2).emptyList().mark();
  for (const k of keys) kp.str(k);
  parts.push(kp.appends().stop().bytes());
  for (const k of keys) {
    const data = storages[k];
    const n = Buffer.alloc(8);
    const es = elementSizes[k] ?? 4;
    if (countOrder === 'little') n.writeBigInt64LE(BigInt(data.length / es));
    else n.writeBigInt64BE(BigInt(data.length / es));
    parts.push(n, data);
  }
  return Buffer.concat(parts);
}

/** float32 values as raw bytes. */
export function f32bytes(values, bigEndian = false) {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => (bigEndian ? b.writeFloatBE(v, i * 4) : b.writeFloatLE(v, i * 4)));
  return b;
}

/** A safetensors file from a JSON header object and a data section. */
export function safetensorsBytes(header, data = Buffer.alloc(0)) {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const l = Buffer.alloc(8);
  l.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([l, h, data]);
}
