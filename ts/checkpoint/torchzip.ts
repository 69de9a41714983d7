/**
 * The zip format of torch.save (torch >= 1.6): `<archive>/data.pkl`, `<archive>/data/<key>` storages,
 * optional `<archive>/byteorder`. The archive folder name is whatever the writer chose.
 */
import { CheckpointFormatError } from '../errors';
import { unpickle } from './pickle';
import type { ByteSource } from './source';
import { DTYPES } from './types';
import { TORCHSCRIPT_MESSAGE, TorchPolicy, type ParsedTorchFile, type StorageInfo, type StoragePlan } from './torch';
import { entryDataOffset, readZipDirectory, readZipEntry } from './zip';

export interface TorchZipOptions {
  maxPickleBytes: number;
  verifyChecksums: boolean | 'metadata';
  inflate: { left: number };
}

export async function parseTorchZip(src: ByteSource, o: TorchZipOptions): Promise<ParsedTorchFile> {
  const entries = await readZipDirectory(src, { maxDirectoryBytes: 64 * 1024 * 1024 });
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (pkls.length === 0) {
    throw new CheckpointFormatError(`${src.name}: a zip archive without <archive>/data.pkl: not written by torch.save`);
  }
  if (pkls.length > 1) throw new CheckpointFormatError(`${src.name}: several data.pkl records (${pkls.slice(0, 4).join(', ')})`);
  const pklName = pkls[0]!;
  const prefix = pklName.slice(0, pklName.length - 'data.pkl'.length);
  const label = `${src.name}:${pklName}`;
  // torch.jit.save writes code/ and constants.pkl next to data.pkl; torch.save never does.
  if (entries.has(prefix + 'constants.pkl') || [...entries.keys()].some((n) => n.startsWith(prefix + 'code/'))) {
    throw new CheckpointFormatError(`${src.name}: ${TORCHSCRIPT_MESSAGE}`);
  }
  const metaCrc = o.verifyChecksums !== false;

  let byteOrder: 'little' | 'big' = 'little';
  const bo = entries.get(prefix + 'byteorder');
  if (bo !== undefined) {
    const b = await readZipEntry(src, bo, { verifyCrc: metaCrc, inflate: o.inflate, maxSize: 16 });
    const s = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1').trim();
    if (s !== 'little' && s !== 'big') throw new CheckpointFormatError(`${src.name}: byteorder record says '${s.slice(0, 16)}'`);
    byteOrder = s;
  }
  const pklEntry = entries.get(pklName)!;
  if (pklEntry.size > o.maxPickleBytes) {
    throw new CheckpointFormatError(`${label}: pickle of ${pklEntry.size} bytes is over the limit of ${o.maxPickleBytes} (maxPickleBytes)`);
  }
  const pkl = await readZipEntry(src, pklEntry, { verifyCrc: metaCrc, inflate: o.inflate, maxSize: o.maxPickleBytes });
  const policy = new TorchPolicy(label, false, pkl.length);
  const { value } = unpickle(pkl, 0, policy, label);

  const fullCrc = o.verifyChecksums === true;
  const plan = async (info: StorageInfo): Promise<StoragePlan> => {
    const name = `${prefix}data/${info.key}`;
    const e = entries.get(name);
    if (e === undefined) throw new CheckpointFormatError(`${src.name}: storage record '${name}' is missing`);
    const nbytes = info.numel * DTYPES[info.dtype].size;
    if (!Number.isSafeInteger(nbytes) || e.size !== nbytes) {
      throw new CheckpointFormatError(
        `${src.name}: storage '${name}' has ${e.size} bytes, but the pickle says ${info.numel} × ${info.dtype} (${nbytes} bytes)`,
      );
    }
    const start = await entryDataOffset(src, e);
    return {
      start,
      length: e.compressedSize,
      read: () => readZipEntry(src, e, { verifyCrc: fullCrc, inflate: o.inflate, start }),
    };
  };
  return { format: 'torch-zip', label, root: value, policy, byteOrder, plan };
}
