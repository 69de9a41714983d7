/**
 * The legacy format of torch.save (`_use_new_zipfile_serialization=False`, and every file before torch 1.6):
 * five pickles back to back (magic number, protocol version, sys info, the object, the list of storage keys),
 * then each storage in key order as an int64 element count followed by its raw bytes.
 */
import { CheckpointFormatError, UnsafeCheckpointError } from '../errors';
import { PickleTruncatedError, PyDict, describeValue, unpickle, type PyTuple, type PyValue, type UnpicklePolicy } from './pickle';
import { allocBytes, readBytes, type ByteSource } from './source';
import { DTYPES } from './types';
import { TorchPolicy, type ParsedTorchFile, type StorageInfo, type StoragePlan } from './torch';

const MAGIC = 0x1950a86a20f9469cfc6cn;
const PROTOCOL = 1001;

/** For the header pickles: plain values only. */
class PlainPolicy implements UnpicklePolicy {
  constructor(private label: string) {}
  findGlobal(module: string, name: string): PyValue {
    throw new UnsafeCheckpointError(`${this.label}: the pickle asks for global '${module}.${name}' in a header that holds plain values only; refusing`, {
      details: { global: `${module}.${name}` },
    });
  }
  persistentLoad(): PyValue {
    throw new CheckpointFormatError(`${this.label}: persistent id in a header pickle`);
  }
  call(fn: PyValue): PyValue {
    throw new UnsafeCheckpointError(`${this.label}: the pickle tries to call ${describeValue(fn)}; refusing`);
  }
  newObject(cls: PyValue, _args: PyTuple): PyValue {
    throw new UnsafeCheckpointError(`${this.label}: the pickle tries to create ${describeValue(cls)}; refusing`);
  }
  build(obj: PyValue): PyValue {
    throw new CheckpointFormatError(`${this.label}: BUILD on ${describeValue(obj)} in a header pickle`);
  }
}

/**
 * For the first pickle, where torch.save writes its magic number: a global there means the file is a plain pickle
 * (pickle.dump, a detectron2 model-zoo .pkl), not a torch.save file. Data globals make that a format error; anything
 * else is still refused as unsafe.
 */
class FirstPolicy extends PlainPolicy {
  constructor(private readonly where: string) {
    super(where);
  }
  override findGlobal(module: string, name: string): PyValue {
    const q = `${module}.${name}`;
    const msg = `${this.where}: a plain pickle, not a torch.save file (it asks for global '${q}' where torch.save writes its magic number)`;
    if (/^(numpy|torch|collections)(\.|$)/.test(module) || q === '_codecs.encode') {
      throw new CheckpointFormatError(`${msg}; load it in Python and save the state_dict with torch.save, or as safetensors`, { details: { global: q } });
    }
    throw new UnsafeCheckpointError(`${msg}; refusing`, { details: { global: q } });
  }
}

export interface LegacyOptions {
  maxPickleBytes: number;
  warn: (m: string) => void;
}

interface Head {
  root: PyValue;
  policy: TorchPolicy;
  littleEndian: boolean;
  keys: string[];
  dataStart: number;
}

function parseHead(buf: Uint8Array, label: string): Head {
  const plain = new PlainPolicy(label);
  const magic = unpickle(buf, 0, new FirstPolicy(label), label);
  if (magic.value !== MAGIC) {
    throw new CheckpointFormatError(`${label}: not a torch.save file: wrong magic number (a plain pickle, or a damaged file)`);
  }
  const proto = unpickle(buf, magic.end, plain, label);
  if (proto.value !== PROTOCOL) {
    throw new CheckpointFormatError(`${label}: unsupported legacy protocol version ${String(proto.value)} (expected ${PROTOCOL})`);
  }
  const sys = unpickle(buf, proto.end, plain, label);
  if (!(sys.value instanceof PyDict)) throw new CheckpointFormatError(`${label}: sys info is ${describeValue(sys.value)}, expected a dict`);
  const le = sys.value.map.get('little_endian');
  if (typeof le !== 'boolean') throw new CheckpointFormatError(`${label}: sys info has no little_endian flag`);
  const policy = new TorchPolicy(label, true, buf.length);
  const main = unpickle(buf, sys.end, policy, label);
  const keysP = unpickle(buf, main.end, plain, label);
  const keys = keysP.value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) {
    throw new CheckpointFormatError(`${label}: storage key list is ${describeValue(keys)}, expected a list of strings`);
  }
  return { root: main.value, policy, littleEndian: le, keys: keys as string[], dataStart: keysP.end };
}

export async function parseTorchLegacy(src: ByteSource, o: LegacyOptions): Promise<ParsedTorchFile> {
  const label = src.name;
  const cap = Math.min(src.size, o.maxPickleBytes);
  let window = Math.min(cap, 1 << 20);
  let head: Head;
  for (;;) {
    const buf = await readBytes(src, 0, window);
    try {
      head = parseHead(buf, label);
      break;
    } catch (e) {
      if (!(e instanceof PickleTruncatedError)) throw e;
      if (window >= cap) {
        if (cap < src.size) {
          throw new CheckpointFormatError(`${label}: the pickles at the start of the file are larger than ${o.maxPickleBytes} bytes (maxPickleBytes)`);
        }
        throw e;
      }
      window = Math.min(cap, window * 4);
    }
  }
  const { keys, littleEndian } = head;
  // Storage positions follow from the sizes in the pickle; each storage's recorded element count is checked
  // when it is read, so storages that are not needed (optimizer state) are never touched.
  let located: Map<string, { start: number; length: number }> | null = null;
  const locateAll = (): Map<string, { start: number; length: number }> => {
    const m = new Map<string, { start: number; length: number }>();
    let pos = head.dataStart;
    for (const key of keys) {
      const info = head.policy.storages.get(key);
      if (info === undefined) throw new CheckpointFormatError(`${label}: storage '${key}' is listed but never referenced`);
      if (m.has(key)) throw new CheckpointFormatError(`${label}: storage '${key}' is listed twice`);
      const length = info.numel * DTYPES[info.dtype].size;
      if (!Number.isSafeInteger(length) || length > src.size) {
        throw new CheckpointFormatError(`${label}: storage '${key}' of ${info.numel} × ${info.dtype} is larger than the file`);
      }
      m.set(key, { start: pos + 8, length });
      pos += 8 + length;
    }
    if (pos > src.size) o.warn(`${label}: the file ends ${pos - src.size} bytes early (truncated?); storages past the end cannot be read`);
    else if (pos < src.size) o.warn(`${label}: ${src.size - pos} bytes after the last storage were ignored`);
    return m;
  };
  const plan = async (info: StorageInfo): Promise<StoragePlan> => {
    located ??= locateAll();
    const at = located.get(info.key);
    if (at === undefined) throw new CheckpointFormatError(`${label}: storage '${info.key}' is not in the file's storage list`);
    if (at.start + at.length > src.size) {
      throw new CheckpointFormatError(`${label}: storage '${info.key}' runs past the end of the file (truncated?)`);
    }
    const read = async (): Promise<Uint8Array> => {
      // One read for the element count and the data; offset 8 keeps every element size aligned.
      const buf = allocBytes(at.length + 8);
      await src.readInto(at.start - 8, buf);
      // torch writes every storage little-endian whatever the host; only the element count of files from
      // big-endian hosts before torch 1.6 is in the host's order (the sys info flag is all that says so).
      const count = new DataView(buf.buffer, buf.byteOffset, 8);
      let n = count.getBigInt64(0, true);
      if (n !== BigInt(info.numel) && !littleEndian && count.getBigInt64(0, false) === BigInt(info.numel)) n = BigInt(info.numel);
      if (n !== BigInt(info.numel)) {
        throw new CheckpointFormatError(
          `${label}: storage '${info.key}' at byte ${at.start - 8} records ${n} elements, the pickle says ${info.numel} (corrupt file)`,
        );
      }
      return buf.subarray(8);
    };
    return { start: at.start - 8, length: at.length + 8, read };
  };
  return {
    format: 'torch-legacy',
    label,
    root: head.root,
    policy: head.policy,
    byteOrder: 'little',
    plan,
  };
}
