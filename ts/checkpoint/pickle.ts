/**
 * A restricted, bounded unpickler (protocols 2-5 binary opcodes; what torch.save writes by default).
 *
 * Nothing here ever runs code: globals are resolved through a policy that returns inert markers or rejects
 * the name, and REDUCE / NEWOBJ / BUILD are interpreted by the same policy. The machine is iterative (no
 * recursion), every opcode consumes at least one byte, and every allocation is bounded by the bytes that remain,
 * so a hostile pickle costs at most O(its size) time and memory.
 */
import { CheckpointFormatError, UnsafeCheckpointError } from '../errors';

/** A Python tuple (immutable sequence). Lists are plain JS arrays. */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python dict / OrderedDict. Keys are primitives (str, int, bool, None); other keys are kept by identity. */
export class PyDict {
  readonly map = new Map<unknown, PyValue>();
  /** Instance state set by BUILD (e.g. a state_dict's `_metadata`); never interpreted. */
  state: PyValue = null;
  constructor(readonly kind: 'dict' | 'OrderedDict' | 'Counter' = 'dict') {}
}

/** A Python set / frozenset: plain data, its items kept as a list's are. */
export class PySet {
  constructor(
    readonly items: PyValue[],
    readonly frozen = false,
  ) {}
}

/** An opaque object produced by a policy (torch storages, tensors, allowed globals). */
export abstract class PyOpaque {
  abstract describe(): string;
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PySet
  | PyDict
  | PyOpaque;

export interface UnpicklePolicy {
  /** Resolves GLOBAL / STACK_GLOBAL; throws UnsafeCheckpointError for anything not allowed. */
  findGlobal(module: string, name: string): PyValue;
  /** BINPERSID. */
  persistentLoad(pid: PyValue): PyValue;
  /** REDUCE: callable(*args). */
  call(callable: PyValue, args: PyTuple): PyValue;
  /** NEWOBJ: cls.__new__(cls, *args). */
  newObject(cls: PyValue, args: PyTuple): PyValue;
  /** BUILD: obj.__setstate__(state); returns the object that replaces obj on the stack. */
  build(obj: PyValue, state: PyValue): PyValue;
}

export interface UnpickleResult {
  value: PyValue;
  /** Offset just past the STOP opcode. */
  end: number;
}

/** Raised when the pickle runs past the bytes given (the caller may retry with more bytes). */
export class PickleTruncatedError extends CheckpointFormatError {
  readonly truncated = true;
}

const MARK: unique symbol = Symbol('mark');

const OPNAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** The text opcodes of protocols 0 and 1 that have no binary twin here (FLOAT, INT, LONG, PERSID, STRING, UNICODE, GET, PUT). */
const TEXT_OPS = new Set([0x46, 0x49, 0x4c, 0x50, 0x53, 0x56, 0x67, 0x70]);

export function opcodeName(op: number): string {
  return OPNAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
}

/** Longest integer accepted from LONG1/LONG4, in bytes (torch's magic number needs 10). */
const MAX_LONG_BYTES = 64;
/** Longest module / name of a GLOBAL. */
const MAX_GLOBAL_NAME = 256;

export function describeValue(v: PyValue | typeof MARK | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === MARK) return 'a MARK';
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'a bool';
  if (typeof v === 'number' || typeof v === 'bigint') return 'a number';
  if (typeof v === 'string') return 'a str';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof PyTuple) return 'a tuple';
  if (v instanceof PySet) return v.frozen ? 'a frozenset' : 'a set';
  if (v instanceof PyDict) return v.kind === 'OrderedDict' ? 'an OrderedDict' : `a ${v.kind}`;
  return v.describe();
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/**
 * Runs the pickle in `buf` from `start` until STOP.
 * `label` names the pickle in error messages (e.g. 'archive/data.pkl').
 */
export function unpickle(buf: Uint8Array, start: number, policy: UnpicklePolicy, label: string): UnpickleResult {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const end = buf.length;
  let pos = start;
  let stack: (PyValue | typeof MARK)[] = [];
  const metastack: (PyValue | typeof MARK)[][] = [];
  const memo = new Map<number, PyValue>();
  let op = 0;
  let opPos = 0;

  const fail = (msg: string): never => {
    throw new CheckpointFormatError(`${label}: corrupt pickle at byte ${opPos} (${opcodeName(op)}): ${msg}`);
  };
  const need = (n: number): void => {
    if (n < 0 || pos + n > end) {
      throw new PickleTruncatedError(
        `${label}: pickle truncated at byte ${opPos} (${opcodeName(op)} needs ${n} more bytes, ${Math.max(0, end - pos)} left)`,
      );
    }
  };
  const u8 = (): number => {
    need(1);
    return buf[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = dv.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('length out of range');
    return Number(v);
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = (): string => {
    const limit = Math.min(end, pos + MAX_GLOBAL_NAME + 1);
    for (let i = pos; i < limit; i++) {
      if (buf[i] === 0x0a) {
        const s = latin1.decode(buf.subarray(pos, i));
        pos = i + 1;
        return s;
      }
    }
    if (limit === end) throw new PickleTruncatedError(`${label}: pickle truncated inside ${opcodeName(op)} at byte ${opPos}`);
    return fail(`line longer than ${MAX_GLOBAL_NAME} characters`);
  };
  const text = (n: number): string => {
    const b = bytes(n);
    try {
      return utf8.decode(b);
    } catch {
      return fail('invalid UTF-8 in a string');
    }
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined) return fail('stack underflow');
    if (v === MARK) return fail('unexpected MARK on the stack');
    return v;
  };
  const top = (): PyValue => {
    if (stack.length === 0) return fail('stack underflow');
    const v = stack[stack.length - 1]!;
    if (v === MARK) return fail('unexpected MARK on the stack');
    return v;
  };
  const popMark = (): PyValue[] => {
    const items = stack;
    const prev = metastack.pop();
    if (prev === undefined) return fail('no MARK to pop to');
    stack = prev;
    for (const it of items) if (it === MARK) fail('nested MARK');
    return items as PyValue[];
  };
  const memoGet = (i: number): PyValue => {
    const v = memo.get(i);
    if (v === undefined) return fail(`memo entry ${i} does not exist`);
    return v;
  };
  const memoPut = (i: number): void => {
    memo.set(i, top());
  };
  const dictKey = (k: PyValue): unknown => k;
  const setItems = (d: PyValue, items: PyValue[]): void => {
    if (!(d instanceof PyDict)) fail(`SETITEM(S) on ${describeValue(d)}`);
    if (items.length % 2 !== 0) fail('odd number of items for SETITEMS');
    for (let i = 0; i < items.length; i += 2) (d as PyDict).map.set(dictKey(items[i]!), items[i + 1]!);
  };
  const decodeLong = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    if (b.length > MAX_LONG_BYTES) fail(`integer of ${b.length} bytes is too large`);
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    opPos = pos;
    op = u8();
    switch (op) {
      case 0x80: {
        // PROTO
        const p = u8();
        if (p > 5) fail(`unsupported pickle protocol ${p}`);
        break;
      }
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: {
        // STOP
        const v = pop();
        return { value: v, end: pos };
      }
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length === 0) fail('stack underflow');
        if (stack[stack.length - 1] === MARK) popMark();
        else stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(dv.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(bytes(u8())));
        break;
      case 0x8b: {
        // LONG4
        need(4);
        const n = dv.getInt32(pos, true);
        pos += 4;
        if (n < 0) fail('negative length');
        if (n > MAX_LONG_BYTES) fail(`integer of ${n} bytes is too large`);
        stack.push(decodeLong(bytes(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x54: {
        // BINSTRING (Python 2 str): signed 4-byte length
        need(4);
        const n = dv.getInt32(pos, true);
        pos += 4;
        if (n < 0) fail('negative length');
        stack.push(latin1.decode(bytes(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(bytes(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8 (protocol 5: numpy's in-band array data); read as bytes
        stack.push(bytes(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x74: {
        // TUPLE (popMark swaps `stack`: take the items before touching it)
        const items = popMark();
        stack.push(new PyTuple(items));
        break;
      }
      case 0x85: {
        // TUPLE1
        const a = pop();
        stack.push(new PyTuple([a]));
        break;
      }
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: {
        // LIST
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail(`APPEND to ${describeValue(l)}`);
        (l as PyValue[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) fail(`APPENDS to ${describeValue(l)}`);
        for (const it of items) (l as PyValue[]).push(it);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new PySet([]));
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const st = top();
        if (!(st instanceof PySet) || st.frozen) fail(`ADDITEMS to ${describeValue(st)}`);
        for (const it of items) (st as PySet).items.push(it);
        break;
      }
      case 0x91: {
        // FROZENSET
        const items = popMark();
        stack.push(new PySet(items, true));
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const d = new PyDict();
        setItems(d, items);
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memoPut(u8());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push(policy.findGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        if ((module as string).length > MAX_GLOBAL_NAME || (name as string).length > MAX_GLOBAL_NAME) fail('global name too long');
        stack.push(policy.findGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!(args instanceof PyTuple)) fail(`REDUCE arguments are ${describeValue(args)}, not a tuple`);
        stack.push(policy.call(fn, args as PyTuple));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!(args instanceof PyTuple)) fail(`NEWOBJ arguments are ${describeValue(args)}, not a tuple`);
        stack.push(policy.newObject(cls, args as PyTuple));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = pop();
        stack.push(policy.build(obj, state));
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        stack.push(policy.persistentLoad(pid));
        break;
      }
      case 0x69: // INST: module and name inline, then a call
      case 0x6f: {
        // OBJ
        let what = 'a class given on the stack';
        if (op === 0x69) {
          const module = line();
          const name = line();
          what = `'${module}.${name}'`;
        }
        throw new UnsafeCheckpointError(
          `${label}: pickle opcode ${opcodeName(op)} (instantiate ${what}) at byte ${opPos} is not allowed in a checkpoint`,
        );
      }
      case 0x82:
      case 0x83:
      case 0x84:
        throw new UnsafeCheckpointError(
          `${label}: pickle opcode ${opcodeName(op)} (copyreg extension registry) at byte ${opPos} is not allowed in a checkpoint`,
        );
      case 0x92:
        throw new UnsafeCheckpointError(`${label}: pickle opcode NEWOBJ_EX at byte ${opPos} is not allowed in a checkpoint`);
      default:
        if (TEXT_OPS.has(op)) {
          throw new CheckpointFormatError(
            `${label}: pickle opcode ${opcodeName(op)} at byte ${opPos} is not supported: pickle protocols 0 and 1 are not (re-save with torch.save's default pickle_protocol)`,
          );
        }
        if (OPNAMES[op] !== undefined) throw new CheckpointFormatError(`${label}: pickle opcode ${opcodeName(op)} at byte ${opPos} is not supported`);
        throw new CheckpointFormatError(`${label}: corrupt pickle: invalid opcode ${opcodeName(op)} at byte ${opPos}`);
    }
  }
}
