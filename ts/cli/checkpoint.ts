/** `sotr inspect` and `sotr convert`: checkpoints from the command line. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCheckpointWithInfo, readSafetensorsHeader, inferSotrConfig, isSafetensorsFile, writeSafetensors } from '../checkpoint';
import { describeNonFinite } from '../checkpoint/finite';
import type { SotrKeyProblems } from '../checkpoint';
import { stripPrefixes } from '../checkpoint/torch';
import { CheckpointFormatError, ConfigFileError } from '../errors';
import { resolveConfig, type ConfigOverrides } from '../model/config';
import { STORED_SETTINGS_KEY, readStoredSettings, storedSettingsMetadata } from '../model/stored_settings';
import { readConfigFile } from './model_config';
import { classCountMismatch, loadClassNames } from './coco';
import { inspectCheckpoint, type SotrSource } from '../model/sotr';
import { CONVERT_USAGE, EXIT, INSPECT_USAGE, UsageError, count, flag, parse, str } from './args';
import type { CliIO } from './predict';
import { exitNow } from './exit_now';

/** The problems, 20 of each kind at most; `all` says where the rest are listed. */
function problemLines(problems: SotrKeyProblems, all: string, limit = 20): string[] {
  const out: string[] = [];
  const show = (title: string, xs: string[]) => {
    if (!xs.length) return;
    out.push(`${title} (${xs.length}):`);
    for (const x of xs.slice(0, limit)) out.push(`  ${x}`);
    if (xs.length > limit) out.push(`  … ${xs.length - limit} more (${all} lists all)`);
  };
  show('missing keys', problems.missing);
  show('unexpected keys', problems.unexpected);
  show('mis-shaped keys', problems.misshaped.map((m) => `${m.key}: [${m.actual.join(', ')}], expected [${m.expected.join(', ')}]`));
  return out;
}

// A safetensors file is a flat map of tensors: there is no training checkpoint's dict to pick an entry from.
const NO_KEY = '--key picks the state_dict entry of a wrapped PyTorch checkpoint; a safetensors file has no wrapping dict';

function checkFile(file: string | undefined, what: string): string {
  if (!file) throw new UsageError(`a ${what} is required`);
  if (!fs.existsSync(file)) throw new UsageError(`${what} not found: ${file}`);
  if (fs.statSync(file).isDirectory()) throw new UsageError(`${file} is a folder, not a ${what}`);
  return file;
}

/**
 * convert's output, checked before the input is read: an existing file is replaced only with --overwrite, and a
 * PyTorch name (.pth, .pt, .pkl) is refused, since that is almost always swapped arguments that would replace the
 * source with safetensors.
 */
function checkOutput(output: string, overwrite: boolean): string {
  // predict's --out - is stdout; convert writes a binary file by renaming it into place, so '-' would be a file.
  if (output === '-') throw new UsageError("the output cannot be '-' (stdout): convert writes a binary file; give its name");
  // Checked here, or the errors would name writeSafetensors' temporary file (`outdir.partial-…`, `newdir/.partial-…`).
  if (/[/\\]$/.test(output)) throw new UsageError(`the output ${output} ends in a slash: give a file name (${path.join(output, 'model.safetensors')})`);
  if (fs.statSync(output, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`the output ${output} is a folder: give a file name (${path.join(output, 'model.safetensors')})`);
  }
  const ext = /\.(pth|pt|pkl)$/i.exec(output)?.[0];
  if (ext) throw new UsageError(`the output ${output} ends in ${ext}, a PyTorch name, but convert writes safetensors (arguments swapped? sotr convert <in.pth> <out.safetensors>)`);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(output);
  } catch {
    return output;
  }
  // Only a plain file is replaced: the rename would put a file in the place of a link or a device, not write to it.
  if (st.isSymbolicLink()) throw new UsageError(`the output ${output} is a symbolic link: give the path of the file itself`);
  if (!st.isFile()) throw new UsageError(`the output ${output} exists and is not a plain file`);
  if (!overwrite) throw new UsageError(`the output ${output} exists (--overwrite replaces it)`);
  return output;
}

export async function inspectCommand(argv: string[], io: CliIO): Promise<number> {
  const p = parse('inspect', argv, {
    json: { type: 'boolean' },
    keys: { type: 'boolean' },
    key: { type: 'string' },
    verify: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flag(p, 'help')) {
    io.stdout.write(INSPECT_USAGE + '\n');
    return EXIT.ok;
  }
  if (p.positionals.length > 1) throw new UsageError(`one checkpoint at a time, received ${p.positionals.length}`);
  const file = checkFile(p.positionals[0], 'checkpoint');
  const warnings: string[] = [];
  const t0 = performance.now();
  let entries: Map<string, { shape: number[]; dtype: string }>;
  let meta: {
    format: string;
    metadata?: Record<string, string>;
    stateDictKey?: string | null;
    ignoredEntries?: string[];
    strippedKeys: number;
    locations?: string[];
    checksums?: string;
  };
  const key = str(p, 'key');
  const safetensors = await isSafetensorsFile(file);
  if (safetensors && key !== undefined) throw new UsageError(NO_KEY);
  if (safetensors && !flag(p, 'verify')) {
    // The header says everything: no tensor data is read. Names are stripped of 'module.' as Sotr.load strips them
    // (readCheckpointWithInfo's default), so that the verdict below is Sotr.load's.
    const h = await readSafetensorsHeader(file);
    entries = new Map();
    let stripped = 0;
    for (const [k, v] of h.tensors) {
      const name = stripPrefixes(k, ['module.']);
      if (name !== k) stripped++;
      if (entries.has(name)) throw new CheckpointFormatError(`${file}: key '${name}' appears twice (after stripping prefixes)`);
      entries.set(name, v);
    }
    if (entries.size === 0) throw new CheckpointFormatError(`${file}: the safetensors file holds no tensors`);
    meta = { format: 'safetensors', metadata: h.metadata, strippedKeys: stripped };
  } else {
    const { tensors, info } = await readCheckpointWithInfo(file, {
      onWarning: (m) => warnings.push(m),
      ...(key ? { stateDictKey: key } : {}),
      ...(flag(p, 'verify') ? { verifyChecksums: true } : {}),
    });
    entries = tensors;
    meta = {
      format: info.format,
      ...(info.format === 'safetensors' ? { metadata: info.metadata } : {}),
      stateDictKey: info.stateDictKey ?? null,
      ignoredEntries: info.ignoredEntries,
      strippedKeys: info.strippedKeys,
      locations: info.locations,
    };
  }
  // A mismatch has thrown by now; only zip files carry checksums.
  if (flag(p, 'verify')) meta.checksums = meta.format === 'torch-zip' ? 'ok' : 'none';
  const ms = performance.now() - t0;
  // The settings the file stores (sotr convert --config --class-names), applied as Sotr.load applies them.
  let stored: ConfigOverrides | null = null;
  let storedError: string | null = null;
  try {
    stored = readStoredSettings(meta.metadata ?? null, file);
  } catch (e) {
    storedError = (e as Error).message;
  }
  // What the model makes of the names and shapes (no tensor data is needed for that).
  const x = await inspectCheckpoint(entries as unknown as SotrSource, { onWarning: (m) => warnings.push(m), ...(stored ?? {}) });
  const dtypes: Record<string, number> = {};
  for (const e of entries.values()) dtypes[e.dtype] = (dtypes[e.dtype] ?? 0) + 1;
  const bytes = fs.statSync(file).size;
  const bad = x.problems.missing.length + x.problems.unexpected.length + x.problems.misshaped.length;
  // With no SOTR key at all, the inferred configuration is only the R50 defaults: there is no variant to name.
  const notSotr = x.problems.unexpected.length === x.tensors ? `none of its ${count(x.tensors, 'name')} is a SOTR key` : null;
  if (flag(p, 'json')) {
    const doc: Record<string, unknown> = {
      file: path.resolve(file),
      bytes,
      ...meta,
      tensors: x.tensors,
      parameters: x.parameters,
      dtypes,
      variant: notSotr ? null : x.variant,
      loadable: x.loadable,
      complete: x.loadable && bad === 0,
      config: notSotr ? null : x.config,
      configError: notSotr ? null : x.configError,
      reason: notSotr ? `not a SOTR state_dict: ${notSotr}` : null,
      problems: x.problems,
      nonFinite: x.nonFinite,
      storedSettings: stored,
      storedSettingsError: storedError,
      warnings,
    };
    if (flag(p, 'keys')) doc.keys = Object.fromEntries([...entries].map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape }]));
    io.stdout.write(JSON.stringify(doc, null, 2) + '\n');
    return EXIT.ok;
  }
  const lines = [
    `${file}: ${meta.format}, ${x.tensors} tensors, ${(x.parameters / 1e6).toFixed(2)} M values (${Object.entries(dtypes)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')}), ${(bytes / 1e6).toFixed(1)} MB, read in ${ms.toFixed(0)} ms`,
  ];
  if (meta.stateDictKey) lines.push(`state_dict from '${meta.stateDictKey}'; other entries (not read): ${meta.ignoredEntries?.join(', ') || 'none'}`);
  if (meta.strippedKeys) lines.push(`'module.' stripped from ${count(meta.strippedKeys, 'name')}, as Sotr.load strips it`);
  if (meta.locations?.length) lines.push(`saved from: ${meta.locations.join(', ')}`);
  if (meta.checksums) lines.push(meta.checksums === 'ok' ? 'CRC-32 of every zip entry: ok' : `no checksums in a ${meta.format} file: only the values read (NaN and infinities checked)`);
  for (const [k, v] of Object.entries(meta.metadata ?? {})) {
    if (k !== STORED_SETTINGS_KEY) lines.push(`metadata ${k}: ${v.length > 200 ? v.slice(0, 200) + '…' : v}`);
  }
  if (stored) lines.push(`stored settings (Sotr.load and sotr predict use them unless told otherwise): ${describeSettings(stored)}`);
  if (storedError) lines.push(`stored settings NOT readable: ${storedError}`);
  const c = x.config ?? inferSotrConfig(entries); // the structure, even when the constants do not fit it
  const verdict = !x.loadable ? 'NOT loadable by Sotr.load' : bad ? 'loadable (unexpected keys are ignored)' : 'a complete SOTR state_dict';
  if (notSotr) lines.push(`SOTR: not a SOTR state_dict (${notSotr}); NOT loadable by Sotr.load`);
  else {
    lines.push(`SOTR: ${verdict}; variant ${x.variant}`);
    lines.push(
      `  ResNet-${c.resnetDepth} [${c.blocksPerStage.join(', ')}]${c.dcnBlocks.some((b) => b.some(Boolean)) ? ' with DCN' : ''}, FPN ${c.fpnChannels}, ` +
        `transformer ${c.transformerDepth} layers × ${c.transformerWidth}, ${c.numClasses} classes, ${c.numKernels}-value kernels, ` +
        `mask branch ${c.maskChannels} → ${c.numMasks}` +
        (x.config ? `; test short side ${x.config.minSize}, long side ≤ ${x.config.maxSize}` : ''),
    );
    if (x.configError) lines.push(`  configuration error: ${x.configError}`);
    lines.push(...problemLines(x.problems, '--json'));
    if (x.nonFinite.length) lines.push(`  NaN or infinite values in ${describeNonFinite(x.nonFinite)}: predictions would be wrong (Sotr.load warns; strict refuses)`);
  }
  for (const w of warnings) lines.push(`warning: ${w}`);
  if (flag(p, 'keys')) for (const [k, v] of entries) lines.push(`  ${k}  ${v.dtype} [${v.shape.join(', ')}]`);
  io.stdout.write(lines.join('\n') + '\n');
  return EXIT.ok;
}

/** Stored settings in a line: "minSize 640, numGrids 36,30,24,16,12, 5 class names with category ids". */
export function describeSettings(o: ConfigOverrides): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (k === 'classNames' || k === 'cocoCategoryIds' || v === undefined) continue;
    parts.push(`${k} ${Array.isArray(v) ? v.join(',') : String(v)}`);
  }
  if (o.classNames) parts.push(`${o.classNames.length} class names (${o.classNames.slice(0, 3).join(', ')}${o.classNames.length > 3 ? ', …' : ''})${o.cocoCategoryIds ? ' with category ids' : ''}`);
  else if (o.cocoCategoryIds) parts.push(`${o.cocoCategoryIds.length} category ids`);
  return parts.join(', ') || 'none';
}

export async function convertCommand(argv: string[], io: CliIO): Promise<number> {
  const p = parse('convert', argv, {
    'no-check': { type: 'boolean' },
    key: { type: 'string' },
    'keep-prefix': { type: 'boolean' },
    overwrite: { type: 'boolean' },
    config: { type: 'string' },
    'class-names': { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flag(p, 'help')) {
    io.stdout.write(CONVERT_USAGE + '\n');
    return EXIT.ok;
  }
  // The settings to store, read (and their files checked) before the checkpoint is.
  const configFile = str(p, 'config');
  const cfg = configFile !== undefined ? readConfigFile(configFile) : undefined;
  const classFile = str(p, 'class-names');
  const classes = classFile !== undefined ? loadClassNames(classFile) : undefined;
  if (p.positionals.length !== 2) throw new UsageError(`expected <in.pth> <out.safetensors>, received ${count(p.positionals.length, 'path')}`);
  const input = checkFile(p.positionals[0], 'checkpoint');
  if (path.resolve(input) === path.resolve(p.positionals[1]!)) throw new UsageError('the output must not be the input');
  const output = checkOutput(p.positionals[1]!, flag(p, 'overwrite'));
  const say = (m: string) => {
    if (!flag(p, 'quiet')) io.stderr.write(`sotr: ${m}\n`);
  };
  const key = str(p, 'key');
  if (key !== undefined && (await isSafetensorsFile(input))) throw new UsageError(NO_KEY);
  // Ctrl-C or SIGTERM: writeSafetensors writes `<out>.partial-<pid>-<t>` and renames it into place only when complete
  // (it removes it on an error, not on a signal): remove this process's, and exit 130. Should the exit wait for
  // stderr to drain, the write goes on meanwhile, and then fails to rename what was removed: that is not reported.
  let interrupted = false;
  const awaitExit = () => new Promise<never>(() => {}); // exitNow ends the process
  const onSignal = (name: NodeJS.Signals) => {
    interrupted = true;
    const dir = path.dirname(path.resolve(output));
    const partial = `${path.basename(output)}.partial-${process.pid}-`;
    try {
      for (const f of fs.readdirSync(dir)) if (f.startsWith(partial)) fs.rmSync(path.join(dir, f), { force: true });
    } catch {
      // No folder yet, or no way to remove it: exit all the same.
    }
    io.stderr.write(`sotr: interrupted (${name}); nothing written, ${output} is as it was\n`);
    exitNow(EXIT.interrupted);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let t1: number;
  try {
    const t0 = performance.now();
    const { tensors, info } = await readCheckpointWithInfo(input, {
      onWarning: (m) => io.stderr.write(`sotr: warning: ${m}\n`),
      // A one-time migration: a CRC-32 pass over the storages costs little, and corrupt data must not be copied on.
      verifyChecksums: true,
      ...(key ? { stateDictKey: key } : {}),
      ...(flag(p, 'keep-prefix') ? { stripPrefixes: [] } : {}),
    });
    t1 = performance.now();
    say(
      `read ${input}: ${info.format}, ${tensors.size} tensors, ${(info.storageBytes / 1e6).toFixed(1)} MB in ${((t1 - t0) / 1000).toFixed(1)} s` +
        (info.stateDictKey ? ` (state_dict from '${info.stateDictKey}')` : ''),
    );
    const config = inferSotrConfig(tensors);
    const bad = config.problems.missing.length + config.problems.unexpected.length + config.problems.misshaped.length;
    if (bad) {
      // As inspect says it: with no SOTR key at all, 549 "missing keys" of an R50 would describe a model it is not.
      const keep = flag(p, 'keep-prefix');
      if (config.problems.unexpected.length === tensors.size && tensors.size > 0) {
        const prefixed = keep && [...tensors.keys()].some((k) => k.startsWith('module.'));
        io.stderr.write(`sotr: none of its ${count(tensors.size, 'name')} is a SOTR key${prefixed ? " (they keep their 'module.' prefix: --keep-prefix)" : ''}\n`);
      } else {
        // inspect strips 'module.' as Sotr.load does: with --keep-prefix it would not list these names.
        const all = keep ? 'sotr inspect --keys, with the prefix stripped,' : `sotr inspect --json ${input}`;
        for (const l of problemLines(config.problems, all)) io.stderr.write(`sotr: ${l}\n`);
      }
      if (!flag(p, 'no-check')) {
        io.stderr.write('sotr: not a SOTR state_dict as expected; nothing written (--no-check converts anyway)\n');
        return EXIT.usage;
      }
    }
    const { problems: _problems, ...structure } = config;
    const metadata: Record<string, string> = { format: 'pt', source: path.basename(input), source_format: info.format, sotr_config: JSON.stringify(structure) };
    // The settings to store: the input's own (a safetensors file), then --config's, then --class-names'.
    const settings: ConfigOverrides = {
      ...(readStoredSettings(info.metadata, input) ?? {}),
      ...(cfg?.options ?? {}),
      ...(classes ? { classNames: classes.names, cocoCategoryIds: classes.categoryIds ?? undefined } : {}),
    };
    if (classes && !classes.categoryIds) delete settings.cocoCategoryIds;
    // Checked as Sotr.load will check them, and --config against the checkpoint's structure, before anything is written.
    try {
      cfg?.checkStructure(config);
      if (Object.keys(settings).length) resolveConfig(config, settings);
    } catch (e) {
      const what =
        e instanceof ConfigFileError
          ? `--config ${e.message}`
          : ((classes && classCountMismatch(e, classes, `--class-names ${classes.file}`)) ?? `the settings to store: ${(e as Error).message.replace(/^Sotr\.load: /, '')}`);
      throw new UsageError(`${what}; nothing written`);
    }
    if (Object.keys(settings).length) {
      Object.assign(metadata, storedSettingsMetadata(settings));
      say(`storing settings: ${describeSettings(settings)}`);
    }
    fs.mkdirSync(path.dirname(path.resolve(output)), { recursive: true });
    await writeSafetensors(output, tensors, metadata);
  } catch (e) {
    if (interrupted) return awaitExit();
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  say(`wrote ${output} (${(fs.statSync(output).size / 1e6).toFixed(1)} MB) in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
  return EXIT.ok;
}
