/**
 * What a torch.save pickle may contain, and how its tensors are rebuilt from storages.
 *
 * The policy allows only the globals a state_dict (plus the optimizer / scheduler entries of a training
 * checkpoint) needs. Tensors are recorded as references (storage key, offset, shape, stride); storages are read
 * later, and only those of the tensors that are kept.
 */
import { CheckpointFormatError, UnsafeCheckpointError } from '../errors';
import { PyDict, PyOpaque, PySet, PyTuple, describeValue, type PyValue, type UnpicklePolicy } from './pickle';
import { DTYPES, numelOf, type CheckpointDType, type CheckpointEntry } from './types';

/** torch.<X>Storage classes and the dtypes they hold. */
const STORAGE_CLASSES: Record<string, CheckpointDType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};

/** torch.<dtype> globals (used by _rebuild_tensor_v3). */
const TORCH_DTYPES: Record<string, CheckpointDType> = {
  float32: 'float32', float: 'float32', float64: 'float64', double: 'float64', float16: 'float16',
  half: 'float16', bfloat16: 'bfloat16', int64: 'int64', long: 'int64', int32: 'int32', int: 'int32',
  int16: 'int16', short: 'int16', int8: 'int8', uint8: 'uint8', bool: 'bool', uint16: 'uint16',
  uint32: 'uint32', uint64: 'uint64',
};

const REBUILDERS = new Set([
  '_rebuild_tensor',
  '_rebuild_tensor_v2',
  '_rebuild_tensor_v3',
  '_rebuild_parameter',
  '_rebuild_parameter_with_state',
]);

/** Rebuilders of tensors this reader cannot represent: a format limit, not a safety matter. */
const UNSUPPORTED_TENSORS: Record<string, string> = {
  _rebuild_qtensor: 'a quantized tensor',
  _rebuild_sparse_tensor: 'a sparse tensor',
  _rebuild_sparse_csr_tensor: 'a sparse tensor',
  _rebuild_meta_tensor_no_storage: 'a meta tensor (no data)',
};

/**
 * Top-level modules whose classes are not models (standard library, numpy, torch outside torch.nn): no
 * torch.save(model) hint for them, so e.g. subprocess.Popen reads as what it is.
 */
const NOT_MODEL_MODULES = new Set(
  ('builtins __builtin__ os posix nt subprocess sys io argparse collections pathlib functools operator types copyreg ' +
    'copy_reg codecs _codecs shutil socket pickle marshal importlib runpy ctypes typing enum datetime decimal fractions re ' +
    'random numpy threading multiprocessing logging tempfile webbrowser pty code pdb platform signal select http urllib ' +
    'ssl email xml json sqlite3 zipfile tarfile uuid torch').split(' '),
);

/** The message for a TorchScript archive (its globals are __torch__.*, its zip holds code/ and constants.pkl). */
export const TORCHSCRIPT_MESSAGE =
  'a TorchScript archive (torch.jit.save) is not supported: save the state_dict instead (torch.save(model.state_dict(), path))';

const ALLOWED_SUMMARY =
  'collections.OrderedDict, torch._utils._rebuild_tensor(_v2/_v3), torch._utils._rebuild_parameter, torch.*Storage, torch.<dtype>, torch.Size and _codecs.encode';

/**
 * Data types that training checkpoints keep beside the state_dict (args, devices, numpy values). They become
 * placeholders, never constructed and their arguments dropped; selectStateDict refuses them inside the state_dict.
 */
const PLACEHOLDER_TYPES = new Set([
  'argparse.Namespace',
  'torch.device',
  'numpy.dtype',
  'numpy.ndarray',
  'numpy.core.multiarray.scalar',
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray.scalar',
  'numpy._core.multiarray._reconstruct',
  // Pickle protocol 5 (torch.save(..., pickle_protocol=5)): numpy writes an array as _frombuffer(bytearray, dtype,
  // shape, order).
  'numpy.core.numeric._frombuffer',
  'numpy._core.numeric._frombuffer',
  // Paths and times in a script's arguments or metadata (argparse type=Path, a save timestamp).
  'pathlib.Path',
  'pathlib.PosixPath',
  'pathlib.WindowsPath',
  'pathlib.PurePosixPath',
  'pathlib.PureWindowsPath',
  'datetime.date',
  'datetime.datetime',
  'datetime.time',
  'datetime.timedelta',
  'datetime.timezone',
]);

/** An allowed data type (kind 'type') or an object made from one (kind 'object'): inert, its content unread. */
export class Placeholder extends PyOpaque {
  constructor(
    readonly qualname: string,
    readonly kind: 'type' | 'object',
  ) {
    super();
  }
  describe(): string {
    return this.kind === 'type' ? `global ${this.qualname}` : `${this.qualname}(...)`;
  }
}

class Callable extends PyOpaque {
  constructor(
    readonly qualname: string,
    readonly kind: 'OrderedDict' | 'Counter' | 'rebuild' | 'Size' | 'encode' | 'set' | 'frozenset',
  ) {
    super();
  }
  describe(): string {
    return `global ${this.qualname}`;
  }
}

class StorageType extends PyOpaque {
  constructor(
    readonly qualname: string,
    readonly dtype: CheckpointDType,
  ) {
    super();
  }
  describe(): string {
    return `storage class ${this.qualname}`;
  }
}

class DTypeMarker extends PyOpaque {
  constructor(readonly dtype: CheckpointDType) {
    super();
  }
  describe(): string {
    return `torch.${this.dtype}`;
  }
}

/** A storage of the file as recorded in the pickle. */
export interface StorageInfo {
  key: string;
  dtype: CheckpointDType;
  /** Elements of `dtype` in the storage. */
  numel: number;
  location: string;
}

/** A storage (or, in very old legacy files, a view of a storage) referenced by a tensor. */
export class StorageRef extends PyOpaque {
  constructor(
    readonly root: StorageInfo,
    /** Element offset of this view within the root storage. */
    readonly viewOffset: number,
    readonly viewNumel: number,
  ) {
    super();
  }
  describe(): string {
    return `storage '${this.root.key}'`;
  }
}

export class TensorRef extends PyOpaque {
  constructor(
    readonly storage: StorageRef,
    readonly dtype: CheckpointDType,
    /** Offset in elements of `dtype` from the start of the root storage. */
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {
    super();
  }
  describe(): string {
    return 'a tensor';
  }
}

const isInt = (v: PyValue): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** Collects the storages a pickle references; checks that every reference to a key agrees. */
export class TorchPolicy implements UnpicklePolicy {
  readonly storages = new Map<string, StorageInfo>();
  readonly locations = new Set<string>();

  /** Elements copied by calls so far; see charge(). */
  private work = 0;
  private readonly workLimit: number;

  constructor(
    private label: string,
    /** true for the legacy format, whose persistent ids carry a 6th item (view metadata). */
    private legacy: boolean,
    /** Size of the pickle: bounds the copying work calls may do. */
    pickleBytes: number,
  ) {
    this.workLimit = pickleBytes + 100_000;
  }

  private bad(msg: string): never {
    throw new CheckpointFormatError(`${this.label}: ${msg}`);
  }

  /**
   * Calls that copy a container (OrderedDict(d), torch.Size(t), _codecs.encode(s)) could be repeated on one
   * large memoised object by a few bytes each; charging the copies keeps the total work linear in the pickle size.
   */
  private charge(n: number): void {
    this.work += n;
    if (this.work > this.workLimit) {
      throw new CheckpointFormatError(`${this.label}: the pickle copies far more data than it holds (amplification); refusing`);
    }
  }

  findGlobal(module: string, name: string): PyValue {
    const q = `${module}.${name}`;
    if (module === 'collections' && name === 'OrderedDict') return new Callable(q, 'OrderedDict');
    if (module === 'collections' && name === 'Counter') return new Callable(q, 'Counter');
    if (module === 'torch._utils' && REBUILDERS.has(name)) return new Callable(q, 'rebuild');
    if (module === 'torch' && name === 'Size') return new Callable(q, 'Size');
    if (module === '_codecs' && name === 'encode') return new Callable(q, 'encode');
    // protocol 2 writes a set as set([items])
    if ((module === 'builtins' || module === '__builtin__') && (name === 'set' || name === 'frozenset')) return new Callable(q, name);
    if (PLACEHOLDER_TYPES.has(q)) return new Placeholder(q, 'type');
    if (module === 'torch' && Object.prototype.hasOwnProperty.call(STORAGE_CLASSES, name)) {
      return new StorageType(q, STORAGE_CLASSES[name]!);
    }
    if (module === 'torch' && Object.prototype.hasOwnProperty.call(TORCH_DTYPES, name)) {
      return new DTypeMarker(TORCH_DTYPES[name]!);
    }
    if (module === 'torch' && /Storage$/.test(name)) {
      throw new CheckpointFormatError(`${this.label}: storage class '${q}' holds a dtype this reader does not support`);
    }
    if (module === 'torch._utils' && Object.prototype.hasOwnProperty.call(UNSUPPORTED_TENSORS, name)) {
      throw new CheckpointFormatError(
        `${this.label}: the checkpoint holds ${UNSUPPORTED_TENSORS[name]} (${q}); quantized/sparse/meta tensors are not supported`,
        { details: { global: q } },
      );
    }
    if (module === '__torch__' || module.startsWith('__torch__.')) {
      throw new CheckpointFormatError(`${this.label}: ${TORCHSCRIPT_MESSAGE}`, { details: { global: q } });
    }
    // A class (CapWords) of a model's module: __main__.Net, mymodels.Net, torch.nn.modules.conv.Conv2d.
    const top = module.split('.')[0]!;
    const modelClass = /^[A-Z][A-Za-z0-9_]*$/.test(name) && (module.startsWith('torch.nn.') || !NOT_MODEL_MODULES.has(top));
    const hint = modelClass
      ? ' If this file is a whole pickled model (torch.save(model)), re-save it with torch.save(model.state_dict(), path).'
      : ' If the file is one you trust and this is training state kept beside the weights (a scheduler, an object in ' +
        "the arguments), re-save the weights alone in Python: torch.save(checkpoint['model'], path). Loading an " +
        'untrusted file in Python runs whatever it asks for.';
    throw new UnsafeCheckpointError(
      `${this.label}: the pickle asks for global '${q}', which this reader does not allow; refusing to load it ` +
        `(allowed: ${ALLOWED_SUMMARY}).${hint}`,
      { details: { global: q } },
    );
  }

  persistentLoad(pid: PyValue): PyValue {
    if (!(pid instanceof PyTuple)) return this.bad(`persistent id is ${describeValue(pid)}, expected a tuple`);
    const it = pid.items;
    if (it[0] !== 'storage') {
      const kind = typeof it[0] === 'string' ? JSON.stringify(it[0].slice(0, 32)) : describeValue(it[0] ?? null);
      return this.bad(`persistent id of kind ${kind} is not supported`);
    }
    const want = this.legacy ? 6 : 5;
    if (it.length !== want) return this.bad(`storage persistent id has ${it.length} items, expected ${want}`);
    const [, type, key, location, numel] = it;
    if (!(type instanceof StorageType)) return this.bad(`storage type is ${describeValue(type!)}`);
    if (typeof key !== 'string' || key.length === 0 || key.length > 256) return this.bad('storage key is not a short string');
    if (typeof location !== 'string' || location.length > 64) return this.bad('storage location is not a short string');
    if (!isInt(numel!) || numel < 0) return this.bad(`storage '${key}' has an invalid size`);
    this.locations.add(location);
    let info = this.storages.get(key);
    if (info === undefined) {
      info = { key, dtype: type.dtype, numel, location };
      this.storages.set(key, info);
    } else if (info.dtype !== type.dtype || info.numel !== numel) {
      return this.bad(`storage '${key}' is referenced with two different types or sizes`);
    }
    const view = this.legacy ? it[5] : null;
    if (view === null || view === undefined) return new StorageRef(info, 0, numel);
    // Old legacy files: (view_key, offset, view_size) of a storage slice.
    if (!(view instanceof PyTuple) || view.items.length !== 3) return this.bad(`storage '${key}' has invalid view metadata`);
    const [, off, size] = view.items;
    if (!isInt(off!) || !isInt(size!) || off < 0 || size < 0 || off + size > numel) {
      return this.bad(`storage view of '${key}' lies outside the storage`);
    }
    return new StorageRef(info, off, size);
  }

  call(fn: PyValue, args: PyTuple): PyValue {
    if (fn instanceof Placeholder && fn.kind === 'type') return new Placeholder(fn.qualname, 'object');
    if (!(fn instanceof Callable)) {
      throw new UnsafeCheckpointError(`${this.label}: the pickle tries to call ${describeValue(fn)}; refusing`);
    }
    const a = args.items;
    switch (fn.kind) {
      case 'OrderedDict':
      case 'Counter': {
        const d = new PyDict(fn.kind);
        if (a.length === 0) return d;
        if (a.length !== 1) return this.bad(`${fn.qualname} called with ${a.length} arguments`);
        const src = a[0]!;
        this.charge(src instanceof PyDict ? src.map.size : Array.isArray(src) ? src.length : 0);
        if (src instanceof PyDict) {
          for (const [k, v] of src.map) d.map.set(k, v);
        } else if (Array.isArray(src)) {
          for (const p of src) {
            const pair = p instanceof PyTuple ? p.items : Array.isArray(p) ? p : null;
            if (pair === null || pair.length !== 2) return this.bad(`${fn.qualname} item is not a (key, value) pair`);
            d.map.set(pair[0], pair[1]!);
          }
        } else {
          return this.bad(`${fn.qualname} called with ${describeValue(src)}`);
        }
        return d;
      }
      case 'Size': {
        if (a.length === 1 && (a[0] instanceof PyTuple || Array.isArray(a[0]))) {
          const items = a[0] instanceof PyTuple ? a[0].items : (a[0] as PyValue[]);
          this.charge(items.length);
          if (items.every(isInt)) return new PyTuple(items.slice());
        }
        return this.bad('torch.Size needs a tuple of integers');
      }
      case 'encode': {
        const [s, enc] = a;
        if (a.length === 2 && typeof s === 'string' && (enc === 'latin1' || enc === 'latin-1')) {
          this.charge(s.length);
          const out = new Uint8Array(s.length);
          for (let i = 0; i < s.length; i++) {
            const c = s.charCodeAt(i);
            if (c > 255) return this.bad('_codecs.encode: character outside latin-1');
            out[i] = c;
          }
          return out;
        }
        throw new UnsafeCheckpointError(`${this.label}: _codecs.encode is only allowed as (str, 'latin1')`);
      }
      case 'set':
      case 'frozenset': {
        const src = a[0];
        if (a.length === 0) return new PySet([], fn.kind === 'frozenset');
        const items = src instanceof PyTuple ? src.items : src instanceof PySet ? src.items : Array.isArray(src) ? src : null;
        if (a.length !== 1 || items === null) return this.bad(`${fn.qualname} called with ${describeValue(src!)}`);
        this.charge(items.length);
        return new PySet(items.slice(), fn.kind === 'frozenset');
      }
      case 'rebuild':
        return this.rebuild(fn.qualname, a);
    }
  }

  private rebuild(q: string, a: PyValue[]): PyValue {
    const name = q.slice('torch._utils.'.length);
    if (name === '_rebuild_parameter' || name === '_rebuild_parameter_with_state') {
      const n = name === '_rebuild_parameter' ? 3 : 4;
      if (a.length !== n || !(a[0] instanceof TensorRef)) return this.bad(`${q} needs (tensor, requires_grad, hooks${n === 4 ? ', state' : ''})`);
      return a[0];
    }
    const min = name === '_rebuild_tensor' ? 4 : name === '_rebuild_tensor_v2' ? 6 : 7;
    const max = name === '_rebuild_tensor' ? 4 : min + 1;
    if (a.length < min || a.length > max) return this.bad(`${q} called with ${a.length} arguments`);
    const [storage, offset, size, stride] = a;
    // torch 2 adds the tensor's metadata when a lazy bit is set: a negated view (torch._neg_view, the imaginary
    // part of a conjugate) holds the values' negatives; read as they are, the signs would be wrong.
    const metadata = name === '_rebuild_tensor' || a.length < max ? null : a[max - 1];
    if (metadata instanceof PyDict) {
      const bits = [...metadata.map].filter(([, v]) => v === true).map(([k]) => String(k));
      if (bits.length > 0) {
        return this.bad(`${q}: a tensor with the ${bits.join(' and ')} bit set is not supported (save it resolved: t.resolve_neg() / t.resolve_conj())`);
      }
    }
    if (!(storage instanceof StorageRef)) return this.bad(`${q}: first argument is ${describeValue(storage!)}, not a storage`);
    let dtype = storage.root.dtype;
    if (name === '_rebuild_tensor_v3') {
      const d = a[6];
      if (!(d instanceof DTypeMarker)) return this.bad(`${q}: dtype argument is ${describeValue(d!)}`);
      dtype = d.dtype;
    }
    if (!isInt(offset!) || offset < 0) return this.bad(`${q}: invalid storage offset`);
    const shape = intTuple(size!);
    const strides = intTuple(stride!);
    if (shape === null || strides === null || shape.length !== strides.length || shape.length > 64) {
      return this.bad(`${q}: size and stride must be tuples of equal length (at most 64) of non-negative integers`);
    }
    // Offsets are in elements of `dtype`; translate a legacy view offset (in storage elements) to bytes first.
    const rootEs = DTYPES[storage.root.dtype].size;
    const es = DTYPES[dtype].size;
    const viewByte = storage.viewOffset * rootEs;
    if (viewByte % es !== 0) return this.bad(`${q}: storage view is not aligned to ${dtype}`);
    return new TensorRef(storage, dtype, viewByte / es + offset, shape, strides);
  }

  newObject(cls: PyValue, args: PyTuple): PyValue {
    if (cls instanceof Placeholder && cls.kind === 'type') return new Placeholder(cls.qualname, 'object');
    if (cls instanceof Callable && (cls.kind === 'OrderedDict' || cls.kind === 'Counter') && args.items.length === 0) {
      return new PyDict(cls.kind);
    }
    throw new UnsafeCheckpointError(`${this.label}: the pickle tries to create ${describeValue(cls)} with NEWOBJ; refusing`);
  }

  build(obj: PyValue, state: PyValue): PyValue {
    if (obj instanceof PyDict) {
      obj.state = state; // e.g. a state_dict's _metadata; never interpreted
      return obj;
    }
    if (obj instanceof TensorRef) return obj; // Parameter / tensor attributes: ignored
    if (obj instanceof Placeholder && obj.kind === 'object') return obj; // its state is never read
    return this.bad(`BUILD on ${describeValue(obj)}`);
  }
}

function intTuple(v: PyValue): number[] | null {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
  if (items === null || items.length > 64) return null;
  const out: number[] = [];
  for (const x of items) {
    if (!isInt(x) || x < 0) return null;
    out.push(x);
  }
  return out;
}

export interface SelectedStateDict {
  tensors: [string, TensorRef][];
  stateDictKey: string | null;
  ignoredEntries: string[];
  strippedKeys: number;
}

/** Removes the prefixes repeatedly (nested DataParallel wrappers add several), never down to an empty name. */
export function stripPrefixes(key: string, prefixes: readonly string[]): string {
  let name = key;
  for (let changed = true; changed; ) {
    changed = false;
    for (const p of prefixes) {
      if (p.length > 0 && name.startsWith(p) && name.length > p.length) {
        name = name.slice(p.length);
        changed = true;
      }
    }
  }
  return name;
}

/** The first placeholder reachable from `root` (iterative; each container visited once, so linear in the pickle). */
function firstPlaceholder(root: PyValue, seen: Set<object>): Placeholder | null {
  const todo: PyValue[] = [root];
  while (todo.length > 0) {
    const v = todo.pop()!;
    if (v instanceof Placeholder) return v;
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array || seen.has(v)) continue;
    seen.add(v);
    // Item by item, not push(...items): spread arguments overflow the stack past ~120k items (a training
    // checkpoint's list of losses), which failed the read.
    if (Array.isArray(v)) for (const x of v) todo.push(x);
    else if (v instanceof PyTuple || v instanceof PySet) for (const x of v.items) todo.push(x);
    else if (v instanceof PyDict) {
      for (const [k, x] of v.map) todo.push(k as PyValue, x);
      todo.push(v.state);
    }
  }
  return null;
}

/** Finds the state_dict in what torch.save stored, strips prefixes, and lists its tensors. */
export function selectStateDict(
  root: PyValue,
  label: string,
  opts: { stateDictKey?: string; stripPrefixes?: string[]; maxTensors: number; warn: (m: string) => void },
): SelectedStateDict {
  if (root instanceof Placeholder) refusePlaceholder(root, label, 'the checkpoint');
  if (!(root instanceof PyDict)) {
    throw new CheckpointFormatError(`${label}: the checkpoint holds ${describeValue(root)}, expected a dict (a state_dict or {"model": state_dict, ...})`);
  }
  let dict = root;
  let key: string | null = null;
  const ignored: string[] = [];
  const candidates = opts.stateDictKey !== undefined ? [opts.stateDictKey] : ['model', 'state_dict'];
  for (const c of candidates) {
    const v = root.map.get(c);
    if (v instanceof PyDict) {
      dict = v;
      key = c;
      break;
    }
  }
  if (key === null && opts.stateDictKey !== undefined) {
    throw new CheckpointFormatError(`${label}: the checkpoint has no dict entry '${opts.stateDictKey}'`);
  }
  if (key !== null) {
    for (const k of root.map.keys()) if (k !== key) ignored.push(String(k));
  }
  // Placeholders are tolerated only where nothing is read: inside the state_dict they are refused.
  const inside = firstPlaceholder(dict, new Set());
  if (inside !== null) refusePlaceholder(inside, label, key === null ? 'the state_dict' : `the state_dict '${key}'`);
  const held: string[] = [];
  const walked = new Set<object>([dict]);
  for (const k of ignored) {
    const ph = firstPlaceholder(root.map.get(k) ?? null, walked);
    if (ph !== null) held.push(`'${k}' (${ph.qualname})`);
  }
  if (held.length > 0) {
    opts.warn(`entries that are not read hold objects kept as inert placeholders, never constructed: ${held.slice(0, 10).join(', ')}${held.length > 10 ? ', ...' : ''}`);
  }
  const strip = opts.stripPrefixes ?? ['module.'];
  const tensors: [string, TensorRef][] = [];
  const seen = new Set<string>();
  let stripped = 0;
  for (const [k, v] of dict.map) {
    if (typeof k !== 'string') {
      opts.warn(`skipping a state_dict entry whose key is ${describeValue(k as PyValue)}`);
      continue;
    }
    if (!(v instanceof TensorRef)) {
      opts.warn(`skipping state_dict entry '${k}': it is ${describeValue(v)}, not a tensor`);
      continue;
    }
    const name = stripPrefixes(k, strip);
    if (name !== k) stripped++;
    if (seen.has(name)) throw new CheckpointFormatError(`${label}: key '${name}' appears twice (after stripping prefixes)`);
    seen.add(name);
    tensors.push([name, v]);
    if (tensors.length > opts.maxTensors) throw new CheckpointFormatError(`${label}: more than ${opts.maxTensors} tensors (maxTensors)`);
  }
  if (tensors.length === 0) {
    throw new CheckpointFormatError(
      `${label}: no tensors found${key === null ? ' (top-level keys: ' + [...root.map.keys()].slice(0, 10).map(String).join(', ') + ')' : ` in '${key}'`}`,
    );
  }
  return { tensors, stateDictKey: key, ignoredEntries: ignored, strippedKeys: stripped };
}

function refusePlaceholder(ph: Placeholder, label: string, where: string): never {
  throw new UnsafeCheckpointError(
    `${label}: ${where} holds ${ph.describe()}, which a state_dict never needs; refusing to load it ` +
      `(${ph.qualname} is accepted only outside the state_dict, in a training checkpoint's other entries)`,
    { details: { global: ph.qualname } },
  );
}

/** In-place byte swap of a storage from big-endian. */
export function byteSwap(bytes: Uint8Array, es: number): void {
  if (es === 1) return;
  for (let i = 0; i + es <= bytes.length; i += es) {
    for (let a = i, b = i + es - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

export interface Materializer {
  /** Bytes allocated so far for copies. */
  copied: number;
  limit: number;
}

/**
 * Makes the host entry of a tensor from its root storage bytes: a view when the tensor is contiguous and uses at
 * least half of the storage, else a copy (gathered for strided views).
 */
export function materialize(name: string, t: TensorRef, storage: Uint8Array, m: Materializer, label: string): CheckpointEntry {
  const d = DTYPES[t.dtype];
  const es = d.size;
  const numel = numelOf(t.shape);
  if (numel < 0) throw new CheckpointFormatError(`${label}: tensor '${name}' has too many elements`);
  const shape = t.shape.slice();
  if (numel === 0) return { shape, dtype: t.dtype, data: d.alloc(0) };
  if (storage.byteLength % es !== 0 || storage.byteOffset % es !== 0) {
    throw new CheckpointFormatError(`${label}: tensor '${name}': storage size is not a multiple of ${t.dtype}`);
  }
  const capacity = storage.byteLength / es;
  let last = t.offset;
  for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * t.stride[i]!;
  if (!Number.isSafeInteger(last) || last >= capacity) {
    throw new CheckpointFormatError(
      `${label}: tensor '${name}' (shape [${shape}], stride [${t.stride}], offset ${t.offset}) reaches past its storage of ${capacity} elements`,
    );
  }
  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
    if (shape[i] !== 1 && t.stride[i] !== expect) {
      contiguous = false;
      break;
    }
    expect *= shape[i]!;
  }
  const nbytes = numel * es;
  if (contiguous && nbytes * 2 >= storage.byteLength) {
    return { shape, dtype: t.dtype, data: new d.ctor(storage.buffer, storage.byteOffset + t.offset * es, numel) };
  }
  m.copied += nbytes;
  if (m.copied > m.limit) {
    throw new CheckpointFormatError(
      `${label}: copying strided / expanded tensors needs more than ${m.limit} bytes (maxCopyBytes); '${name}' has shape [${shape}]`,
    );
  }
  const out = d.alloc(numel);
  const dst = new Uint8Array(out.buffer, out.byteOffset, nbytes);
  if (contiguous) {
    dst.set(storage.subarray(t.offset * es, t.offset * es + nbytes));
  } else {
    gather(storage, dst, es, t.offset, shape, t.stride);
  }
  return { shape, dtype: t.dtype, data: out };
}

/** Copies a strided view into a contiguous buffer, bit-exactly, word by word. */
function gather(src: Uint8Array, dst: Uint8Array, es: number, offset: number, shape: number[], stride: number[]): void {
  // Work in 1/2/4-byte words; an 8-byte element is two 4-byte words.
  const w = es === 8 ? 4 : es;
  const per = es / w;
  const mk = (b: Uint8Array) =>
    w === 1 ? b : w === 2 ? new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2) : new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  const S = mk(src);
  const D = mk(dst);
  const nd = shape.length;
  const inner = nd === 0 ? 1 : shape[nd - 1]!;
  const istride = (nd === 0 ? 1 : stride[nd - 1]!) * per;
  const outer = nd <= 1 ? 1 : shape.slice(0, nd - 1).reduce((x, y) => x * y, 1);
  const idx = new Array<number>(Math.max(0, nd - 1)).fill(0);
  let base = offset;
  let o = 0;
  for (let r = 0; r < outer; r++) {
    let s = base * per;
    if (per === 1) {
      for (let j = 0; j < inner; j++, s += istride) D[o++] = S[s]!;
    } else {
      for (let j = 0; j < inner; j++, s += istride) {
        D[o++] = S[s]!;
        D[o++] = S[s + 1]!;
      }
    }
    // odometer over the outer dims
    for (let k = nd - 2; k >= 0; k--) {
      idx[k]!++;
      base += stride[k]!;
      if (idx[k]! < shape[k]!) break;
      base -= stride[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
}


/** Where one storage's bytes are, and how to read them into a buffer of their own. */
export interface StoragePlan {
  /** File range occupied (compressed range for deflated entries); used to reject overlapping storages. */
  start: number;
  length: number;
  read(): Promise<Uint8Array>;
}

/** A parsed torch.save file: the unpickled object and how to reach its storages. */
export interface ParsedTorchFile {
  format: 'torch-zip' | 'torch-legacy';
  label: string;
  root: PyValue;
  policy: TorchPolicy;
  byteOrder: 'little' | 'big';
  plan(info: StorageInfo): Promise<StoragePlan>;
}
