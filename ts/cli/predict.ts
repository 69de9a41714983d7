/**
 * `sotr predict`: images in, one JSON line per image out, resumable.
 *
 * Pipeline (one process):
 *   worker threads decode images ahead of the model (bounded prefetch, in order)
 *   → the main thread batches them and queues the model on the device; the next
 *     batch is queued before the previous one's results are encoded (RLE) and
 *     written, so the device does not wait for the JavaScript side
 *   → each result is one append to the JSON Lines file (fsync at intervals)
 *   → overlays (--viz) and label maps (--label-maps) are drawn by the worker threads
 *     from the encoded results.
 * Nothing is lost: an unreadable image becomes a line with `error`; Ctrl-C
 * finishes the batches in flight, flushes and exits 130; a rerun with the same
 * --out skips what is done and redoes a torn last line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backendInfo, resolveDevice, setNumThreads, usableCpus } from '../device';
import { SOTR_DEFAULTS } from '../model/config';
import { formatOpProfile, OpProfileSession, type OpProfile } from '../profile';
import { EXIT, UsageError, choiceOption, count, deviceOption, flag, listOption, num, parse, precisionOption, rewriteArgs, str, strs, threadsOption, PREDICT_USAGE, type Parsed } from './args';
import { expandInputs } from './inputs';
import { JournalWriter, cutTornLine, doneLookup, loadJournal, statusOf, type JournalState, type LineStatus, type ResultLine } from './journal';
import { Progress, formatDuration, type ProgressMode } from './progress';
import { checkImageIds, loadClassNames, loadImageIds, writeCocoResults, type ClassNamesFile, type ImageIdMap } from './coco';
import { WorkerPool } from './pool';
import { readRunSettings, runSettingsOf, settingsDifferences, settingsFile, writeRunSettings } from './run_settings';
import type { DecodeDone, VizInstance } from './worker';
import { instanceColour } from '../render';
import type { DecodedImage, ModelConfigFile, PostprocessFlags, Segmenter, SegmenterFactory } from './segmenter';
import { modelSettings, readConfigFile, readModelStoredSettings, storedClassNames } from './model_config';
import { exitNow, onExitNow } from './exit_now';
import { ScanStopped } from './journal';
import { realOutPath, removeOwnPartials, removeStalePartials, takeLock } from './out_files';
import { distinctPaths, folderOption, notInOutputFolders, outputsNotInputs, runOutputNames, toStdout, writableOption } from './output_paths';

export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WriteStream;
}

const PREDICT_OPTIONS = {
  model: { type: 'string', short: 'm' },
  input: { type: 'string', short: 'i', multiple: true },
  out: { type: 'string', short: 'o' },
  device: { type: 'string' },
  batch: { type: 'string' },
  precision: { type: 'string' },
  'min-size': { type: 'string' },
  'max-size': { type: 'string' },
  'limit-input-pixels': { type: 'string' },
  'score-threshold': { type: 'string' },
  'mask-threshold': { type: 'string' },
  'nms-pre': { type: 'string' },
  'nms-kernel': { type: 'string' },
  'nms-sigma': { type: 'string' },
  'update-threshold': { type: 'string' },
  'max-per-image': { type: 'string' },
  'min-score': { type: 'string' },
  classes: { type: 'string' },
  'class-names': { type: 'string' },
  config: { type: 'string' },
  coco: { type: 'string' },
  'image-ids': { type: 'string' },
  viz: { type: 'string' },
  'viz-threshold': { type: 'string' },
  'label-maps': { type: 'string' },
  'label-map-values': { type: 'string' },
  'label-map-depth': { type: 'string' },
  polygons: { type: 'boolean' },
  'polygon-epsilon': { type: 'string' },
  workers: { type: 'string' },
  threads: { type: 'string' },
  'retry-errors': { type: 'boolean' },
  overwrite: { type: 'boolean' },
  'allow-mixed-settings': { type: 'boolean' },
  profile: { type: 'boolean' },
  // `--profile ops` (rewritten to this before parsing; see opsProfileArgs).
  'profile-ops': { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Settings {
  model: string;
  inputs: string[];
  out: string;
  /** realOutPath(out), once ('-' for stdout). */
  outFile: string;
  device: string;
  batch?: number;
  precision?: string;
  minSize?: number;
  maxSize?: number;
  /** --limit-input-pixels: the largest decoded image (0: none); an image above it is an error line. */
  limitInputPixels?: number;
  post: PostprocessFlags;
  /** --class-names: the checkpoint's classes when it was trained on another dataset. */
  classNames?: ClassNamesFile;
  /** --config: the training run's detectron2 config (its post-processing and sizes are merged into post/minSize/maxSize). */
  config?: ModelConfigFile;
  coco?: string;
  imageIds?: ImageIdMap;
  imageIdsFile?: string;
  viz?: string;
  vizThreshold: number;
  /** --label-maps: a folder of PNG maps, one per image; --label-map-values: what a pixel holds. */
  labelMaps?: string;
  labelMapBy: 'instance' | 'label';
  /** --label-map-depth: bits per pixel of every map of the run (8 unless a value could exceed 255). */
  labelMapDepth: 8 | 16;
  workers?: number;
  threads?: number;
  retryErrors: boolean;
  overwrite: boolean;
  allowMixedSettings: boolean;
  profile: boolean;
  /** `--profile ops`: also an op table (top ops by time, device busy and idle). */
  profileOps: boolean;
  quiet: boolean;
  polygons: boolean;
  polygonEpsilon?: number;
}

/** `--profile ops` / `--profile=ops` → `--profile --profile-ops`; `--profile=stages` → `--profile` (bare `--profile` is a flag). */
function opsProfileArgs(argv: string[]): string[] {
  return rewriteArgs(argv, (a, next) => {
    if (a === '--profile' && next === 'ops') return { args: ['--profile', '--profile-ops'], takesNext: true };
    if (a === '--profile=ops') return { args: ['--profile', '--profile-ops'] };
    return a === '--profile=stages' ? { args: ['--profile'] } : null;
  });
}

async function settings(p: Parsed): Promise<Settings> {
  const model = str(p, 'model');
  const out = str(p, 'out');
  const inputs = [...strs(p, 'input'), ...p.positionals];
  if (!model) throw new UsageError('--model is required (a checkpoint file, or "tiny")');
  if (!inputs.length) throw new UsageError('--input is required (images, folders, globs or a list file)');
  if (!out) throw new UsageError('--out is required (the results file, JSON Lines)');
  // A name ending in a slash is a folder's, made or not (it would be made as one at the first write).
  if (out !== '-' && (/[/\\]$/.test(out) || (fs.existsSync(out) && fs.statSync(out).isDirectory()))) {
    throw new UsageError(`--out ${out} is a folder; give a file name such as ${path.join(out, 'results.jsonl')}`);
  }
  const device = deviceOption(p);
  const precision = precisionOption(p);
  const prob = { min: 0, max: 1 };
  const post: PostprocessFlags = {};
  const set = <K extends Exclude<keyof PostprocessFlags, 'classes' | 'nmsKernel'>>(k: K, v: number | undefined) => {
    if (v !== undefined) post[k] = v;
  };
  set('scoreThreshold', num(p, 'score-threshold', prob));
  set('maskThreshold', num(p, 'mask-threshold', prob));
  set('nmsPre', num(p, 'nms-pre', { min: 1, integer: true }));
  const nmsKernel = choiceOption(p, 'nms-kernel', ['gaussian', 'linear'] as const);
  if (nmsKernel !== undefined) post.nmsKernel = nmsKernel;
  set('nmsSigma', num(p, 'nms-sigma', { min: 0, exclusiveMin: true, max: 1e6 }));
  // The sigma is the Gaussian kernel's only: with the linear one it would be recorded yet change nothing.
  if (post.nmsSigma !== undefined && post.nmsKernel === 'linear') throw new UsageError('--nms-sigma is only used with the gaussian --nms-kernel');
  set('updateThreshold', num(p, 'update-threshold', prob));
  set('maxPerImage', num(p, 'max-per-image', { min: 1, integer: true }));
  set('minScore', num(p, 'min-score', prob));
  // --classes person,car,3: names or labels (checked against the model's classes at load).
  const classes = listOption(p, 'classes', 'class names or labels');
  if (classes) post.classes = [...new Set(classes)].map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  // --config and the settings a safetensors model stores: the training run's settings, for what no flag gives.
  const configFile = str(p, 'config');
  const stored = model !== 'tiny' ? await readModelStoredSettings(model) : null;
  const config = modelSettings(post, model, configFile !== undefined ? { file: configFile, cfg: readConfigFile(configFile) } : undefined, stored);
  const minFlag = num(p, 'min-size', { min: 1, max: 16384, integer: true });
  const maxFlag = num(p, 'max-size', { min: 1, max: 16384, integer: true });
  const minSize = minFlag ?? config?.minSize;
  const maxSize = maxFlag ?? config?.maxSize;
  if (minSize !== undefined && maxSize !== undefined && maxSize < minSize) {
    // Say where a size no flag gave comes from (--config's INPUT.*_SIZE_TEST, or the model's stored settings).
    const from = (flagGiven: boolean, k: 'minSize' | 'maxSize') => (flagGiven ? '' : ` from ${config!.sizeFrom[k]!}`);
    throw new UsageError(
      `--max-size (${maxSize}${from(maxFlag !== undefined, 'maxSize')}) is below --min-size (${minSize}${from(minFlag !== undefined, 'minSize')})` +
        (minFlag !== undefined && maxFlag === undefined ? ': give --max-size too' : ''),
    );
  }
  const imageIdsFile = str(p, 'image-ids');
  const coco = str(p, 'coco');
  if (imageIdsFile && !coco) throw new UsageError('--image-ids is only used with --coco');
  if (toStdout({ out }) && coco) throw new UsageError('--coco reads the results back from --out: give --out a file, not -');
  const s: Settings = {
    ...(config ? { config } : {}),
    model,
    inputs,
    out,
    outFile: toStdout({ out }) ? out : realOutPath(out),
    device,
    post,
    vizThreshold: num(p, 'viz-threshold', prob) ?? 0.3,
    labelMapBy: 'instance',
    labelMapDepth: 8,
    retryErrors: flag(p, 'retry-errors'),
    overwrite: flag(p, 'overwrite'),
    allowMixedSettings: flag(p, 'allow-mixed-settings'),
    profile: flag(p, 'profile') || flag(p, 'profile-ops'),
    profileOps: flag(p, 'profile-ops'),
    quiet: flag(p, 'quiet'),
    polygons: flag(p, 'polygons'),
  };
  const polygonEpsilon = num(p, 'polygon-epsilon', { min: 0, max: 1e6 });
  if (polygonEpsilon !== undefined) {
    if (!s.polygons) throw new UsageError('--polygon-epsilon is only used with --polygons');
    s.polygonEpsilon = polygonEpsilon;
  }
  const batch = num(p, 'batch', { min: 1, max: 256, integer: true });
  if (batch !== undefined) s.batch = batch;
  if (precision !== undefined) s.precision = precision;
  if (minSize !== undefined) s.minSize = minSize;
  if (maxSize !== undefined) s.maxSize = maxSize;
  const limitInputPixels = num(p, 'limit-input-pixels', { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true });
  if (limitInputPixels !== undefined) s.limitInputPixels = limitInputPixels;
  if (coco !== undefined) s.coco = coco;
  if (imageIdsFile !== undefined) {
    s.imageIds = loadImageIds(imageIdsFile);
    s.imageIdsFile = imageIdsFile;
  }
  const classNamesFile = str(p, 'class-names');
  const classNames = classNamesFile !== undefined ? loadClassNames(classNamesFile) : storedClassNames(model, stored);
  if (classNames) s.classNames = classNames;
  const viz = str(p, 'viz');
  if (viz === undefined && p.values['viz-threshold'] !== undefined) throw new UsageError('--viz-threshold is only used with --viz');
  if (viz !== undefined) {
    folderOption('--viz', viz);
    s.viz = viz;
  }
  const labelMaps = str(p, 'label-maps');
  const values = str(p, 'label-map-values');
  const depth = str(p, 'label-map-depth');
  const orphan = labelMaps === undefined && (values !== undefined ? '--label-map-values' : depth !== undefined ? '--label-map-depth' : undefined);
  if (orphan) throw new UsageError(`${orphan} is only used with --label-maps`);
  if (values !== undefined) {
    if (values !== 'instance' && values !== 'label') throw new UsageError(`--label-map-values: 'instance' or 'label', received '${values}'`);
    s.labelMapBy = values;
  }
  if (depth !== undefined && depth !== '8' && depth !== '16') throw new UsageError(`--label-map-depth: 8 or 16 (bits per pixel), received '${depth}'`);
  if (labelMaps !== undefined) {
    folderOption('--label-maps', labelMaps);
    // One depth for every map of the run, so a reader sees one format: 8 bits unless 1 + an instance's index
    // could exceed 255 (a label map's 1 + label fits 8 bits for COCO's 80 classes; the worker names a label that
    // does not, with the fix).
    const maxPerImage = s.post.maxPerImage ?? SOTR_DEFAULTS.maxPerImage;
    const needs16 = s.labelMapBy === 'instance' && maxPerImage > 255;
    if (s.labelMapBy === 'instance' && maxPerImage > 65535) {
      throw new UsageError(`--label-maps holds 1 + an instance's index up to 65535 (16 bits): --max-per-image must be 65535 or less, received ${maxPerImage}`);
    }
    if (depth === '8' && needs16) {
      throw new UsageError(`--label-map-depth 8 holds 1 + an instance's index up to 255: --max-per-image ${maxPerImage} needs --label-map-depth 16`);
    }
    s.labelMapDepth = depth === '16' || (depth === undefined && needs16) ? 16 : 8;
    s.labelMaps = labelMaps;
  }
  const workers = num(p, 'workers', { min: 1, max: 64, integer: true });
  if (workers !== undefined) s.workers = workers;
  const threads = threadsOption(p);
  if (threads !== undefined) s.threads = threads;
  distinctPaths(s, [
    ...(configFile !== undefined ? [['--config', configFile] as [string, string]] : []),
    ...(imageIdsFile !== undefined ? [['--image-ids', imageIdsFile] as [string, string]] : []),
    ...(classNamesFile !== undefined ? [['--class-names', classNamesFile] as [string, string]] : []),
  ]);
  if (!toStdout(s)) writableOption('--out', s.out, 'file');
  if (s.coco !== undefined) writableOption('--coco', s.coco, 'file');
  if (s.viz !== undefined) writableOption('--viz', s.viz, 'folder');
  if (s.labelMaps !== undefined) writableOption('--label-maps', s.labelMaps, 'folder');
  return s;
}

const FATAL_CODES = new Set(['SOTR_DEVICE_LOST', 'SOTR_NATIVE_LOAD']);

function errorText(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const msg = String(err?.message ?? e).split('\n')[0];
  return err?.code ? `[${err.code}] ${msg}` : msg;
}

/** Ordered, bounded read-ahead over the worker pool. */
class DecodeQueue {
  #ahead: Array<{ file: string; done: Promise<DecodeDone> }> = [];
  #next = 0;
  constructor(
    private readonly pool: WorkerPool,
    private readonly files: string[],
    private readonly depth: number,
  ) {
    this.#fill();
  }
  #fill(): void {
    while (this.#ahead.length < this.depth && this.#next < this.files.length) {
      const file = this.files[this.#next++]!;
      this.#ahead.push({ file, done: this.pool.run({ kind: 'decode', file }) });
    }
  }
  async take(n: number): Promise<Array<{ file: string; d: DecodeDone }>> {
    const items = this.#ahead.splice(0, n);
    this.#fill();
    return Promise.all(items.map(async (it) => ({ file: it.file, d: await it.done })));
  }
}

export async function predictCommand(argv: string[], io: CliIO, factory: SegmenterFactory): Promise<number> {
  const p = parse('predict', opsProfileArgs(argv), PREDICT_OPTIONS as never);
  if (flag(p, 'help')) {
    io.stdout.write(PREDICT_USAGE + '\n');
    return EXIT.ok;
  }
  const s = await settings(p);
  const warn = (m: string) => io.stderr.write(`sotr: ${m}\n`); // printed with -q too
  // Folders that cannot be read and names that cannot be passed on are skipped, each with a warning (also with -q),
  // and the run ends with exit 2 (some inputs not done) rather than 0.
  const skips = { folders: 0, names: 0 };
  const files = notInOutputFolders(s, expandInputs(s.inputs, warn, skips), warn);
  if (!files.length) throw new UsageError('no images found in the inputs');
  outputsNotInputs(s, files);
  resolveDevice(s.device); // a device that is not there fails now, before a model is read

  // One process per results file: a second run on the same --out would mix its lines and settings with this one's.
  // The lock goes on every way out: a return or an error (finally), a signal's immediate exit (onExitNow); a killed
  // process's is stale, and the next run takes it over. It goes by the file --out names, so a second name of it
  // (a symbolic link, a linked folder) finds the same lock.
  const release = toStdout(s) ? () => {} : takeLock(s.out, s.outFile);
  const unhook = onExitNow(release);
  // And should the event loop run dry before the run returns (the process ends with its exit code, no finally).
  process.once('exit', release);
  // Ctrl-C and SIGTERM are handled from here to the end, by the handler of the stage the run is in (route.current):
  // with none, the default would end the process mid-write, leaving temporaries and the lock.
  const route: SignalRoute = {
    current: (name) => {
      io.stderr.write(`sotr: interrupted (${name}); nothing written\n`);
      exitNow(EXIT.interrupted);
    },
  };
  const onSignal = (name: NodeJS.Signals) => route.current(name);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Kept once the run has returned: the process still ends its workers, and a signal then (the default would end it
  // by the signal, exit code lost) ends it at once with the run's code; everything is written and the lock gone.
  let code: number = EXIT.usage; // what main returns for an error thrown
  try {
    code = await predictLocked(s, files, skips, io, factory, route);
    return code;
  } finally {
    route.current = () => exitNow(code);
    unhook();
    process.off('exit', release);
    release();
  }
}

/** How to stop at once after a first signal: any second one (Ctrl-C for a terminal's SIGINT; SIGTERM comes from a supervisor). */
const againHint = (name: NodeJS.Signals): string => (name === 'SIGINT' ? 'Ctrl-C again to stop at once' : 'a second signal stops at once');

/** Where Ctrl-C and SIGTERM go: the handler of the stage the run is in. */
interface SignalRoute {
  current: (name: NodeJS.Signals) => void;
}

async function predictLocked(s: Settings, files: string[], skips: { folders: number; names: number }, io: CliIO, factory: SegmenterFactory, route: SignalRoute): Promise<number> {
  const warn = (m: string) => io.stderr.write(`sotr: ${m}\n`); // printed with -q too

  const mode: ProgressMode = s.quiet ? 'none' : io.stderr.isTTY ? 'bar' : 'lines';
  const say = (m: string) => {
    if (!s.quiet) io.stderr.write(`sotr: ${m}\n`);
  };

  // Resume. Nothing is modified yet: the torn last line is cut once the model has loaded (a run refused or
  // stopped before that leaves the file as it was). With --overwrite the file is read only to check it is ours.
  const fresh: JournalState = { done: new Map<string, LineStatus>(), lines: 0, truncatedBytes: 0, size: 0, badLines: [] };
  // The lines' paths are relative to the folder the file was started from (recorded as `base`), whatever folder a
  // resume runs in: a resume from elsewhere matches them, and writes its own relative to the same folder. When the
  // file has moved with its images (the record's base, also kept relative to the file, no longer leads to them), the
  // base under which the lines name the inputs is taken: the same place relative to the file, or this folder.
  // The settings record is beside the file --out names (a link's target: one record for every name of the file);
  // a record beside the link itself, from a run before records went by the target, is read when that one is missing.
  const settingsKey = s.outFile;
  const prevSettings =
    toStdout(s) || s.overwrite || !fs.existsSync(s.out) ? null : (readRunSettings(settingsKey) ?? (settingsKey === path.resolve(s.out) ? null : readRunSettings(s.out)));
  const recordedBase = prevSettings?.base ?? process.cwd();
  const besideOut = prevSettings?.baseFromOut === undefined ? [] : [path.resolve(path.dirname(path.resolve(s.out)), prevSettings.baseFromOut)];
  const bases = [...new Set([recordedBase, ...besideOut, process.cwd()])];
  const journal = toStdout(s) ? { ...fresh, base: recordedBase } : loadJournal(s.out, prevSettings ? bases : recordedBase, files.map((f) => path.resolve(f)));
  const base = journal.base;
  if (base !== recordedBase) say(`${s.out}: reading its images' paths relative to ${base} (its first run's folder, ${recordedBase}, does not hold these inputs)`);
  if (s.overwrite) Object.assign(journal, fresh);
  if (journal.badLines.length) warn(`${s.out}: ignoring ${count(journal.badLines.length, 'line')} that ${journal.badLines.length === 1 ? 'is not a valid result' : 'are not valid results'} (line ${journal.badLines.slice(0, 5).join(', ')})`);
  // What the file was made with (<out>.settings.json): resuming with other settings would mix two kinds of results.
  const runSettings = { ...runSettingsOf(s), ...(toStdout(s) ? {} : { base, baseFromOut: path.relative(path.dirname(path.resolve(s.out)), base) || '.' }) };
  const resuming = !s.overwrite && journal.done.size > 0;
  // Refused, or with --allow-mixed-settings a warning.
  const refuseMixed = (diff: string[]) => {
    if (diff.length && !s.allowMixedSettings) {
      throw new UsageError(
        `${s.out} holds results made with other settings: ${diff.join('; ')}. ` +
          'Resuming would mix them in one file: --overwrite starts it again, another --out keeps both, --allow-mixed-settings resumes anyway',
      );
    }
    if (diff.length) warn(`resuming ${s.out} with other settings (--allow-mixed-settings): ${diff.join('; ')}`);
  };
  let toldEarly: string[] = [];
  if (resuming) {
    if (!prevSettings) {
      warn(`${s.out}: no record of the settings its results were made with (${settingsFile(settingsKey)}); resuming without checking them`);
    } else {
      // A checkpoint that is not there is not "another model": its load says so (nothing is written before it).
      // A --min-size against the checkpoint's default is told after the load (open() below).
      const missingModel = s.model !== 'tiny' && !fs.existsSync(s.model);
      toldEarly = settingsDifferences(prevSettings, runSettings);
      refuseMixed(toldEarly.filter((d) => !(missingModel && d.startsWith('--model '))));
    }
  }
  // Temporaries of runs killed while they wrote an output (a live process's are left: the folder may be shared).
  if (s.viz) removeStalePartials(s.viz);
  if (s.labelMaps) removeStalePartials(s.labelMaps);
  if (s.coco) removeStalePartials(path.dirname(path.resolve(s.coco)), `${path.basename(s.coco)}.partial-`);
  if (!toStdout(s)) {
    const record = settingsFile(settingsKey);
    removeStalePartials(path.dirname(record), `${path.basename(record)}.partial-`);
  }
  // Output names, unique over this run's images and those already in --out: an earlier run's image with the same
  // name (another folder) keeps its overlay.
  const outputs = {
    viz: s.viz ? runOutputNames(files, journal.done, 'viz', s.viz, base) : undefined,
    labelMaps: s.labelMaps ? runOutputNames(files, journal.done, 'label_map', s.labelMaps, base, '.png') : undefined,
  };
  // Redo: images not in the file, images the model failed on (the model, device or settings may differ now),
  // and with --retry-errors also the images that could not be read. An image with results whose overlay or label
  // map is missing is redone too: a run stopped (SIGKILL, a second Ctrl-C) after writing its line, before its
  // outputs; its new line supersedes the old one (--coco and eval take an image's last line).
  const doneOf = doneLookup(journal.done);
  const outputMissing = (f: string) => [outputs.viz?.get(f), outputs.labelMaps?.get(f)].some((o) => o !== undefined && !fs.existsSync(o));
  let redoneForOutputs = 0;
  const todo = files.filter((f) => {
    const prev = doneOf(f);
    if (!prev || (prev.error !== undefined && (s.retryErrors || prev.error_kind !== 'image'))) return true;
    if (prev.error !== undefined || !outputMissing(f)) return false;
    redoneForOutputs++;
    return true;
  });
  const lineName = (f: string): string => (path.isAbsolute(f) || base === process.cwd() ? f : path.relative(base, path.resolve(f)));
  // The COCO ids of the images are known now: a clash, or an image --image-ids lacks, is found before the run.
  // Images of the file this run does not redo count too (an earlier run's other folder): their records go into the
  // same COCO file.
  if (s.coco) {
    const thisRun = files.map((f) => ({ file: lineName(f), key: path.resolve(f) }));
    // This run's images matched as doneOf matches them (a linked folder's other spelling included).
    const ofThisRun = new Set(files.map(doneOf).filter((st) => st !== undefined));
    const earlier = [...journal.done].filter(([, st]) => st.error === undefined && st.file !== undefined && !ofThisRun.has(st)).map(([key, st]) => ({ file: st.file!, key }));
    checkImageIds(thisRun, s.imageIds, s.imageIdsFile, earlier);
  }
  const skipped = files.length - todo.length;
  if (skipped && todo.length) say(`${skipped} of ${count(files.length, 'image')} already in ${s.out}; resuming`);
  const redoneSay = () => `${count(redoneForOutputs, 'image')} of ${s.out} redone: ${redoneForOutputs === 1 ? 'its' : 'their'} --viz / --label-maps output was missing (a run stopped before writing it)`;
  if (redoneForOutputs) say(redoneSay());

  const cores = usableCpus(); // a container's CPU quota counts, not only the cores it sees
  const stats = { processed: 0, failed: 0, interrupted: false, stopped: false, stdoutClosed: false, outputsFailed: 0 };
  // --out - read by a reader that stopped (`| head`): the rest of the work is for nobody; stop as after Ctrl-C, quietly.
  if (toStdout(s)) {
    io.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') stats.interrupted = stats.stdoutClosed = true;
    });
  }
  // journal.done follows the lines this run writes, so it ends as the status of the whole input set.
  // Once the model has loaded: cut the torn line (or empty the file for --overwrite), then record the settings, so
  // that a run stopped at any point never leaves a record that disagrees with the results under it.
  // `modelMinSize`: the loaded checkpoint's default short side, for a --min-size given on one side only (800 against
  // a file made with the checkpoint's default, 800, is the same setting).
  const open = (modelMinSize: number | undefined): JournalWriter => {
    if (resuming && prevSettings && modelMinSize !== undefined) {
      refuseMixed(settingsDifferences(prevSettings, runSettings, modelMinSize).filter((d) => !toldEarly.includes(d)));
    }
    if (toStdout(s)) return new JournalWriter(s.out, false, 1000, (buf) => void (stats.stdoutClosed || io.stdout.write(buf)));
    if (!s.overwrite && journal.truncatedBytes) {
      cutTornLine(s.out, journal);
      warn(`${s.out}: removed a torn last line (${journal.truncatedBytes} bytes); that image is redone`);
    }
    const writer = new JournalWriter(s.out, s.overwrite, 1000);
    writeRunSettings(settingsKey, runSettings);
    return writer;
  };
  if (todo.length) await runModel(s, todo, outputs, io, factory, mode, cores, stats, journal.done, open, lineName, route);
  if (stats.stopped) return EXIT.usage;
  const failedTotal = files.reduce((n, f) => n + (doneOf(f)?.error !== undefined ? 1 : 0), 0);
  if (stats.stdoutClosed) return EXIT.interrupted;
  if (stats.interrupted) {
    say(`interrupted: ${count(stats.processed, 'image')} written to ${toStdout(s) ? 'stdout' : `${s.out}; run the same command again to resume`}`);
    return EXIT.interrupted;
  }
  if (s.coco) {
    // Ctrl-C while the COCO file is written: stopped at the next piece read, its temporary removed, an earlier
    // file left as it was; a second signal exits at once (the temporary removed on the way out).
    const coco = s.coco;
    route.current = (name) => {
      if (stats.interrupted) exitNow(EXIT.interrupted);
      stats.interrupted = true;
      process.exitCode = EXIT.interrupted;
      warn(`interrupted (${name}) while writing ${coco}: stopping (${againHint(name)})`);
    };
    const dropTemporary = onExitNow(() => fs.rmSync(`${coco}.partial-${process.pid}`, { force: true }));
    let r: Awaited<ReturnType<typeof writeCocoResults>>;
    try {
      r = await writeCocoResults(s.out, coco, s.imageIds, { base, stop: () => stats.interrupted, ...(s.imageIdsFile ? { idsFile: s.imageIdsFile } : {}) });
    } catch (e) {
      if (!(e instanceof ScanStopped)) throw e;
      warn(`interrupted: ${coco} not written${fs.existsSync(coco) ? ' (the earlier one left as it was)' : ''}; the results are complete in ${s.out}: run the same command again to write it`);
      return EXIT.interrupted;
    } finally {
      dropTemporary();
    }
    say(`COCO results: ${count(r.detections, 'instance')} from ${count(r.images, 'image')} in ${s.coco}`);
    if (r.unmapped.length) {
      // Lines of earlier runs for images this one was not given: left out rather than given a guessed id.
      warn(`--coco: left out ${count(r.unmapped.length, 'image')} of ${s.out} that ${r.unmapped.length === 1 ? 'is' : 'are'} not in --image-ids: ${r.unmapped.slice(0, 5).join(', ')}${r.unmapped.length > 5 ? ', ...' : ''}`);
      return EXIT.usage;
    }
  }
  if (!todo.length) say(`nothing to do: ${files.length === 1 ? 'the image is' : `all ${files.length} images are`} in ${s.out}`);
  if (redoneForOutputs) say(redoneSay());
  if (failedTotal) say(`${count(failedTotal, 'image')} failed; ${failedTotal === 1 ? 'its line' : 'their lines'} in ${s.out} ${failedTotal === 1 ? 'carries' : 'carry'} "error"`);
  // An overlay or label map that could not be written is a failed output, even where the image's line is fine.
  if (stats.outputsFailed) warn(`${count(stats.outputsFailed, 'overlay or label map', 'overlays or label maps')} could not be written (see above)`);
  const inputsSkipped = skips.folders + skips.names;
  if (inputsSkipped) {
    const what = [skips.folders ? count(skips.folders, 'folder') + ' that could not be read' : '', skips.names ? count(skips.names, 'file') + ' whose name is not valid UTF-8' : ''];
    warn(`skipped ${what.filter(Boolean).join(' and ')} (see above): not in ${s.out}`);
  }
  return failedTotal || stats.outputsFailed || inputsSkipped ? EXIT.someFailed : EXIT.ok;
}

/** The model's answer for one image. */
type Outcome = { raw?: unknown; error?: string; imageFault?: boolean; ms: number };

/** A model failure that ends the run (device lost, or the model fails on every image): exit 1, resumable. */
class FatalError extends Error {}

/** Consecutive model failures, with no success yet, after which the run stops as misconfigured. */
const SYSTEMIC_FAILURES = 3;

async function runModel(
  s: Settings,
  todo: string[],
  outputs: { viz?: Map<string, string>; labelMaps?: Map<string, string> },
  io: CliIO,
  factory: SegmenterFactory,
  mode: ProgressMode,
  cores: number,
  stats: { processed: number; failed: number; interrupted: boolean; stopped: boolean; stdoutClosed: boolean; outputsFailed: number },
  status: Map<string, LineStatus>,
  open: (modelMinSize: number | undefined) => JournalWriter,
  lineName: (file: string) => string,
  route: SignalRoute,
): Promise<void> {
  // Messages go above the progress bar once there is one (the model warns on first use, mid-run).
  let progress: Progress | undefined;
  const say = (m: string) => {
    if (s.quiet) return;
    if (progress) progress.log(`sotr: ${m}`);
    else io.stderr.write(`sotr: ${m}\n`);
  };
  const t0 = performance.now();
  // Ctrl-C or SIGTERM while the model loads: nothing has been written yet (the results are opened after the
  // load), so stop at once, with the interrupted exit code rather than the signal's default. `--model tiny` being
  // generated: its temporary file (`<name>.partial-<pid>-<tag>`, renamed into place when complete) goes too.
  const cacheDir = toStdout(s) ? path.join(os.tmpdir(), 'sotr-cache') : path.join(path.dirname(path.resolve(s.out)), '.sotr-cache');
  const previousRoute = route.current;
  route.current = (name: NodeJS.Signals) => {
    io.stderr.write(`sotr: interrupted (${name}) while the model loaded; nothing written\n`);
    onExitNow(() => removeOwnPartials(cacheDir));
    exitNow(EXIT.interrupted);
  };
  if (s.threads !== undefined) setNumThreads(s.threads); // before the load: the first kernels run there
  let seg: Segmenter;
  try {
    seg = await factory({
      model: s.model,
      cacheDir,
      device: s.device,
      ...(s.precision ? { precision: s.precision } : {}),
      ...(s.minSize !== undefined ? { minSize: s.minSize } : {}),
      ...(s.maxSize !== undefined ? { maxSize: s.maxSize } : {}),
      ...s.post,
      ...(s.classNames ? { classNames: s.classNames } : {}),
      ...(s.config ? { config: s.config } : {}),
      ...(s.polygons ? { polygons: true, polygonEpsilon: s.polygonEpsilon ?? 0 } : {}),
      log: say,
    });
  } catch (e) {
    route.current = previousRoute;
    throw e;
  }
  const cpuThreads = seg.device === 'cpu' ? ` (${count(backendInfo().cpu.threads, 'thread')})` : '';
  say(`${seg.description} on ${seg.device}${cpuThreads}, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const onCpu = seg.device === 'cpu';
  const batch = s.batch ?? (onCpu ? 1 : 4);
  // Decode threads: on the CPU the model uses every core, so one worker with one libvips thread; with a GPU,
  // enough workers to keep it fed, each with a libvips thread or two.
  const workers = s.workers ?? (onCpu ? 1 : Math.max(1, Math.min(4, cores - 2)));
  const vipsThreads = onCpu ? 1 : Math.max(1, Math.min(2, Math.floor((cores - 1) / workers)));
  let writer: JournalWriter;
  try {
    writer = open(seg.defaultMinSize);
  } catch (e) {
    await seg.dispose();
    throw e;
  }
  const pool = new WorkerPool(workers, { vipsThreads, ...(s.limitInputPixels !== undefined ? { limitInputPixels: s.limitInputPixels } : {}) });
  const queue = new DecodeQueue(pool, todo, Math.max(4, 3 * batch));
  progress = new Progress(todo.length, mode, io.stderr);
  const pendingOutputs = new Set<Promise<void>>();

  // Ctrl-C, and SIGTERM (docker stop, Kubernetes, systemd, `timeout`): finish the batch in flight, write it, exit 130;
  // a second signal exits at once (every line written so far is complete). Kept after the run: the summary, the
  // model's disposal.
  let signals = 0;
  const onSignal = (name: NodeJS.Signals) => {
    if (++signals === 1) {
      stats.interrupted = true;
      // Should the process end before the run returns its code (a second signal during the last steps), it still
      // says "interrupted", never 0.
      process.exitCode = EXIT.interrupted;
      progress.log(`sotr: interrupted (${name}): finishing the batch in flight (${againHint(name)})`);
    } else {
      writer.syncNow(); // every line written so far is complete; make it durable and go
      exitNow(EXIT.interrupted);
    }
  };
  route.current = onSignal;

  // Time with a model call outstanding (the device's share when the model keeps no profile).
  const occupancy = { busyMs: 0 };
  let successes = 0;
  let failStreak = 0;
  let lastFailure = '';

  const timed = async (images: DecodedImage[]): Promise<unknown[]> => {
    const t = performance.now();
    try {
      return await seg.predict(images);
    } finally {
      occupancy.busyMs += performance.now() - t;
    }
  };

  const predict = async (images: DecodedImage[]): Promise<Outcome[]> => {
    const t = performance.now();
    try {
      const raws = await timed(images);
      const ms = (performance.now() - t) / images.length;
      return raws.map((raw) => ({ raw, ms }));
    } catch (e) {
      if (FATAL_CODES.has((e as { code?: string })?.code ?? '')) throw new FatalError(errorText(e));
      if (images.length === 1) {
        // The image's own fault (too thin for the resize): kept on resume like an unreadable file, and not a sign
        // that the model fails.
        if ((e as { code?: string })?.code === 'SOTR_IMAGE_SIZE') return [{ error: errorText(e), imageFault: true, ms: performance.now() - t }];
        return [{ error: `inference failed: ${errorText(e)}`, ms: performance.now() - t }];
      }
      // Find the image that fails: one at a time.
      const out: Outcome[] = [];
      for (const im of images) out.push(...(await predict([im])));
      return out;
    }
  };

  const write = (line: ResultLine) => {
    const name = lineName(line.file);
    writer.append(name === line.file ? line : { ...line, file: name });
    status.set(path.resolve(line.file), statusOf(line));
    stats.processed++;
    if (line.error !== undefined) {
      stats.failed++;
      progress.log(`sotr: ${line.file}: ${line.error}`);
    }
  };

  // Drawn by the worker threads; at most a few jobs wait at a time.
  const queueJob = async (run: () => Promise<{ error?: string }>, what: string) => {
    while (pendingOutputs.size >= 2 * pool.size + 2) await Promise.race(pendingOutputs);
    const failed = (m: string) => {
      stats.outputsFailed++;
      progress.log(`sotr: ${what}: ${m}`);
    };
    const job: Promise<void> = run()
      .then(
        (r) => r.error && failed(r.error),
        (e) => failed(errorText(e)),
      )
      .then(() => undefined)
      .finally(() => pendingOutputs.delete(job));
    pendingOutputs.add(job);
  };
  const queueOutputs = async (line: ResultLine) => {
    if (!line.instances || line.width === undefined || line.height === undefined) return;
    const { width, height } = line;
    const lm = outputs.labelMaps?.get(line.file);
    if (lm) {
      const instances = line.instances.map((i) => ({ counts: i.segmentation.counts, label: i.label }));
      await queueJob(() => pool.run({ kind: 'labels', out: lm, width, height, by: s.labelMapBy, depth: s.labelMapDepth, instances }), `--label-maps ${lm}`);
    }
    const viz = outputs.viz?.get(line.file);
    if (viz) {
      const instances: VizInstance[] = line.instances
        .filter((i) => i.score >= s.vizThreshold)
        .map((i, k) => ({ counts: i.segmentation.counts, label: i.class, score: i.score, bbox: i.bbox, color: instanceColour(k) }));
      await queueJob(() => pool.run({ kind: 'viz', file: line.file, out: viz, width, height, instances }), `--viz ${viz}`);
    }
  };

  /** Encodes and writes a finished batch (runs while the next batch is on the device). */
  const finish = async (images: DecodedImage[], outs: Outcome[]) => {
    for (let i = 0; i < images.length; i++) {
      const im = images[i]!;
      const o = outs[i]!;
      const line: ResultLine = { file: im.file, width: im.width, height: im.height };
      if (o.error !== undefined && o.imageFault) {
        line.error = o.error;
        line.error_kind = 'image';
      } else if (o.error !== undefined) {
        line.error = o.error;
        line.error_kind = 'model';
        failStreak = o.error === lastFailure || failStreak === 0 ? failStreak + 1 : 1;
        lastFailure = o.error;
      } else {
        try {
          line.instances = seg.encode(o.raw, im);
          successes++;
          failStreak = 0;
          // The outputs' names, kept by later runs (runOutputNames).
          const viz = outputs.viz?.get(im.file);
          const lm = outputs.labelMaps?.get(im.file);
          if (viz !== undefined) line.viz = path.basename(viz);
          if (lm !== undefined) line.label_map = path.basename(lm);
        } catch (e) {
          line.error = `encoding the results failed: ${errorText(e)}`;
          line.error_kind = 'model';
        }
      }
      line.ms = Math.round(o.ms * 10) / 10;
      write(line);
      await queueOutputs(line);
    }
    progress.tick(images.length, outs.filter((o) => o.error !== undefined).length);
    if (successes === 0 && failStreak >= SYSTEMIC_FAILURES) {
      throw new FatalError(`the model failed on the first ${failStreak} images with the same error (${lastFailure}); a configuration problem?`);
    }
  };

  const tRun = performance.now();
  // The model's ops on this thread (the decode workers run none), over the whole run.
  const opSession = s.profileOps ? new OpProfileSession({ thisThreadOnly: true }) : null;
  let prev: { images: DecodedImage[]; result: Promise<Outcome[]> } | null = null;
  let fatal: FatalError | null = null;
  try {
    for (;;) {
      const got = stats.interrupted ? [] : await queue.take(batch);
      const images: DecodedImage[] = [];
      for (const { file, d } of got) {
        if (d.error !== undefined || !d.data) {
          write({ file, error: d.error ?? 'cannot decode the image', error_kind: 'image' });
          progress.tick(1, 1);
        } else images.push({ file, data: d.data, width: d.width!, height: d.height! });
      }
      // One model call at a time (so the model's profile adds up), but the next one starts as soon as the
      // previous one returns, before its results are encoded and written.
      const outs = prev ? await prev.result : null;
      const cur = images.length && !stats.interrupted ? { images, result: predict(images) } : null;
      cur?.result.catch(() => {});
      if (prev) await finish(prev.images, outs!);
      prev = cur;
      if (!prev && (!got.length || stats.interrupted)) break;
    }
  } catch (e) {
    if (!(e instanceof FatalError)) throw e;
    fatal = e;
  } finally {
    const runMs = performance.now() - tRun;
    const opProfile = opSession?.stop();
    await Promise.allSettled(pendingOutputs);
    if (fatal) progress.clear();
    else progress.finish();
    await writer.close();
    await pool.close();
    // The summary is progress (-q drops it); a profile asked for with --profile is printed with -q too.
    if (!fatal && (!s.quiet || s.profile)) summary(s, seg, say, (m) => io.stderr.write(`sotr: ${m}\n`), { runMs, batch, workers, processed: stats.processed, failed: stats.failed, occupancy, opProfile });
    await seg.dispose();
  }
  if (fatal) {
    stats.stopped = true;
    io.stderr.write(`sotr: stopping: ${fatal.message}\n`);
    if (!toStdout(s)) io.stderr.write(`sotr: the images not in ${s.out}, and those the model failed on, are redone when you run the command again\n`);
  }
}

function summary(
  s: Settings,
  seg: Segmenter,
  say: (m: string) => void,
  report: (m: string) => void,
  r: { runMs: number; batch: number; workers: number; processed: number; failed: number; occupancy: { busyMs: number }; opProfile?: OpProfile | undefined },
): void {
  const rate = r.processed / (r.runMs / 1000);
  const prof = seg.profile?.();
  // The device waits whenever it has no model stage to run: from the model's profile (the stages that run on the
  // device), else from the time with a model call outstanding.
  const deviceMs = prof?.device ?? r.occupancy.busyMs;
  const wait = r.runMs > 0 ? Math.min(1, Math.max(0, 1 - deviceMs / r.runMs)) : 0;
  say(
    `${count(r.processed, 'image')} in ${formatDuration(r.runMs / 1000)}: ${rate.toFixed(2)} images/s (batch ${r.batch}, ${count(r.workers, 'decode worker')}); ` +
      `the device waited ${(100 * wait).toFixed(1)}% of the time${prof?.device !== undefined ? ' (model profile)' : ''}` +
      (r.failed ? `; ${r.failed} failed` : ''),
  );
  if (s.profile && prof) {
    const { device: _device, ...stages } = prof;
    const total = Object.values(stages).reduce((a, b) => a + b, 0);
    report(`model profile, summed over the images (${(total / 1000).toFixed(2)} s in all):`);
    for (const [k, v] of Object.entries(stages).sort((a, b) => b[1] - a[1])) {
      report(`  ${k.padEnd(14)} ${(v / 1000).toFixed(3).padStart(9)} s ${((100 * v) / (total || 1)).toFixed(1).padStart(5)}%`);
    }
  }
  if (r.opProfile) {
    report(`op profile, summed over the images (top ops by time; "idle before": the device's idle time just before the op):`);
    for (const line of formatOpProfile(r.opProfile, { top: 20 }).split('\n')) report(`  ${line}`);
  }
}
