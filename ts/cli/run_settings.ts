/**
 * What a results file was made with, kept beside it (`<out>.settings.json`), so that resuming with other settings
 * (another checkpoint, a different score threshold, polygons now wanted) does not silently mix two kinds of results
 * in one file, and then in one COCO evaluation. Only what changes the results is recorded: not the device (a run
 * may move between machines), the batch size, the workers or the outputs (--coco, --viz).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SOTR_DEFAULTS } from '../model/config';
import { COCO_CLASS_NAMES } from '../model/coco';
import { outputError } from './out_files';
import type { ClassNamesFile } from './coco';
import type { ModelConfigFile } from './segmenter';

export interface RunSettings {
  version: 1;
  /** The checkpoint's file name and size ('tiny': the generated random model). */
  model: { name: string; bytes: number | null };
  precision: string;
  /** Resize: as given, or 'checkpoint default'. */
  minSize: number | 'checkpoint default';
  maxSize: number;
  scoreThreshold: number;
  maskThreshold: number;
  nmsPre: number;
  /** Absent in older records, which were all made with the official kernel and sigma. */
  nmsKernel?: 'gaussian' | 'linear';
  /** null with the linear kernel (it has no sigma). */
  nmsSigma?: number | null;
  updateThreshold: number;
  maxPerImage: number;
  minScore: number;
  /** --classes as given (names and labels, sorted); null: every class. */
  classes: Array<string | number> | null;
  /** --config: the network's settings it gave that differ from the defaults (its sizes and post-processing are
   * recorded under their own keys); null, or absent in older records: none. */
  config?: { file: string; network: Record<string, unknown> } | null;
  /** --class-names: the names (and category ids) it gave; null, or absent in older records: the checkpoint's. */
  classNames?: { file: string; names: string[]; categoryIds: number[] | null } | null;
  polygons: boolean;
  polygonEpsilon: number | null;
  /** The folder the results' relative `file` paths are relative to (the first run's working folder); not a
   * setting (not compared), absent in older records. */
  base?: string;
  /** `base` relative to the results file's folder ('.' when it is that folder): where the paths are when the file
   * has moved with its images; not a setting, absent in older records. */
  baseFromOut?: string;
}

export interface RunSettingsInput {
  model: string;
  precision?: string;
  minSize?: number;
  maxSize?: number;
  post: Partial<Record<'scoreThreshold' | 'maskThreshold' | 'nmsPre' | 'nmsSigma' | 'updateThreshold' | 'maxPerImage' | 'minScore', number>> & {
    nmsKernel?: 'gaussian' | 'linear';
    classes?: Array<string | number>;
  };
  classNames?: ClassNamesFile;
  config?: ModelConfigFile;
  polygons: boolean;
  polygonEpsilon?: number;
}

type ClassNamesRecord = NonNullable<RunSettings['classNames']>;

/** The recorded --min-size of a run that gave none. */
const CHECKPOINT_DEFAULT = 'checkpoint default';

export function settingsFile(out: string): string {
  return `${out}.settings.json`;
}

/** The network settings the model is loaded with that differ from the defaults (restating a default changes nothing). */
function nonDefault(load: ModelConfigFile['load']): Record<string, unknown> {
  const defaults = SOTR_DEFAULTS as unknown as Record<string, unknown>;
  return Object.fromEntries(Object.entries(load).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(defaults[k])));
}

/** The settings that decide a run's results, defaults filled in. */
export function runSettingsOf(s: RunSettingsInput): RunSettings {
  let bytes: number | null = null;
  if (s.model !== 'tiny') {
    try {
      bytes = fs.statSync(s.model).size;
    } catch {
      bytes = null; // the model's own error comes later, with its reason
    }
  }
  const d = SOTR_DEFAULTS;
  const nmsKernel = s.post.nmsKernel ?? d.nmsKernel;
  return {
    version: 1,
    model: { name: s.model === 'tiny' ? 'tiny' : path.basename(s.model), bytes },
    precision: s.precision ?? 'fp32',
    minSize: s.minSize ?? CHECKPOINT_DEFAULT,
    maxSize: s.maxSize ?? d.maxSize,
    scoreThreshold: s.post.scoreThreshold ?? d.scoreThreshold,
    maskThreshold: s.post.maskThreshold ?? d.maskThreshold,
    nmsPre: s.post.nmsPre ?? d.nmsPre,
    nmsKernel,
    nmsSigma: nmsKernel === 'linear' ? null : (s.post.nmsSigma ?? d.nmsSigma),
    updateThreshold: s.post.updateThreshold ?? d.updateThreshold,
    maxPerImage: s.post.maxPerImage ?? d.maxPerImage,
    minScore: s.post.minScore ?? d.minScore,
    classes: s.post.classes ? [...s.post.classes].sort((a, b) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0)) : null,
    config: s.config ? { file: path.basename(s.config.file), network: nonDefault(s.config.load) } : null,
    classNames: s.classNames ? { file: path.basename(s.classNames.file), names: [...s.classNames.names], categoryIds: s.classNames.categoryIds ? [...s.classNames.categoryIds] : null } : null,
    polygons: s.polygons,
    polygonEpsilon: s.polygons ? (s.polygonEpsilon ?? 0) : null,
  };
}

/** The record beside `out`, or null when there is none or it cannot be read. */
export function readRunSettings(out: string): RunSettings | null {
  try {
    const r = JSON.parse(fs.readFileSync(settingsFile(out), 'utf8')) as RunSettings;
    return r && r.version === 1 ? r : null;
  } catch {
    return null;
  }
}

export function writeRunSettings(out: string, r: RunSettings): void {
  const file = settingsFile(out);
  // Named as the other outputs' temporaries, so that a run killed while it wrote leaves one that a later run removes.
  const tmp = `${file}.partial-${process.pid}`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify(r, null, 1) + '\n');
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true }); // a full disk: no empty temporary left behind
    throw outputError('--out', file, e);
  }
}

const FLAG: Record<Exclude<keyof RunSettings, 'version' | 'base' | 'baseFromOut'>, string> = {
  model: '--model',
  precision: '--precision',
  minSize: '--min-size',
  maxSize: '--max-size',
  scoreThreshold: '--score-threshold',
  maskThreshold: '--mask-threshold',
  nmsPre: '--nms-pre',
  nmsKernel: '--nms-kernel',
  nmsSigma: '--nms-sigma',
  updateThreshold: '--update-threshold',
  maxPerImage: '--max-per-image',
  minScore: '--min-score',
  classes: '--classes',
  config: '--config',
  classNames: '--class-names',
  polygons: '--polygons',
  polygonEpsilon: '--polygon-epsilon',
};

// A --class-names record: its file and first names ("animals.json: 3 classes, cat, dog, cow").
const showClassNames = (v: RunSettings['classNames']): string =>
  v ? `${v.file}: ${v.names.length} class${v.names.length === 1 ? '' : 'es'}, ${v.names.slice(0, 4).join(', ')}${v.names.length > 4 ? ', …' : ''}${v.categoryIds ? ' with category ids' : ''}` : "(the checkpoint's)";

// A --config record: its file and the network settings it changes.
const showConfig = (v: RunSettings['config']): string => {
  const set = Object.entries(v?.network ?? {}).map(([k, x]) => `${k} ${Array.isArray(x) ? x.join(',') : String(x)}`);
  return v ? `${v.file}${set.length ? `: ${set.join(', ')}` : ''}` : '(none)';
};

const show = (v: unknown): string =>
  typeof v === 'object' && v !== null && 'name' in v
    ? (v as RunSettings['model']).bytes == null
      ? (v as RunSettings['model']).name // --model tiny (generated), or a file that is not there
      : `${(v as RunSettings['model']).name} (${(v as RunSettings['model']).bytes} bytes)`
    : Array.isArray(v)
      ? v.join(',')
      : String(v);

// A recorded --classes as sorted labels where a name is one of the run's class names (--class-names, else COCO's)
// or class_N; other names are kept as written.
function classSet(v: unknown, names: readonly string[]): Array<number | string> {
  if (!Array.isArray(v)) return [String(v)];
  // A name several classes share is each of them (as Sotr.load selects them).
  const byName = new Map<string, number[]>();
  names.forEach((n, i) => byName.set(n, [...(byName.get(n) ?? []), i]));
  const one = (c: unknown): Array<number | string> => {
    if (typeof c === 'number') return [c];
    const s = String(c);
    const m = /^class_(\d+)$/.exec(s);
    return byName.get(s) ?? [m ? Number(m[1]) : s];
  };
  return [...new Set(v.flatMap(one))].sort((a, b) => (typeof a === typeof b ? (a < b ? -1 : a > b ? 1 : 0) : typeof a === 'number' ? -1 : 1));
}

/**
 * The differences, one phrase each ("--score-threshold 0.3 (the file: 0.1)"). A --min-size given on one side only
 * differs when it is not the checkpoint's default, known once the model is loaded: without `checkpointMinSize` that
 * difference is left out (the caller asks again with it, after the load).
 */
export function settingsDifferences(prev: RunSettings, now: RunSettings, checkpointMinSize?: number): string[] {
  const out: string[] = [];
  for (const k of Object.keys(FLAG) as Array<keyof typeof FLAG>) {
    // A key an older record lacks reads as null, "not set" (--classes: every class); the NMS kernel and sigma, which
    // older versions could not change, as the official values.
    const was = k === 'nmsKernel' || k === 'nmsSigma' ? (k in prev ? prev[k] : SOTR_DEFAULTS[k]) : (prev[k] ?? null);
    if (JSON.stringify(was) === JSON.stringify(now[k])) continue;
    if (k === 'minSize' && typeof was !== typeof now.minSize && [was, now.minSize].includes(CHECKPOINT_DEFAULT) && [was, now.minSize].some((v) => typeof v === 'number')) {
      if (checkpointMinSize === undefined) continue;
      const size = (v: unknown) => (v === CHECKPOINT_DEFAULT ? checkpointMinSize : v);
      if (size(was) === size(now.minSize)) continue;
      const shown = (v: unknown) => (v === CHECKPOINT_DEFAULT ? `${CHECKPOINT_DEFAULT}, ${checkpointMinSize}` : String(v));
      out.push(`--min-size ${shown(now.minSize)} (the file: ${shown(was)})`);
      continue;
    }
    // --classes as given (names or labels; the CLI's models name their classes COCO's way, or class_N): the same set
    // written another way is the same setting.
    if (k === 'classes' && was !== null && now[k] !== null) {
      const names = now.classNames?.names ?? COCO_CLASS_NAMES;
      if (JSON.stringify(classSet(was, names)) === JSON.stringify(classSet(now[k], names))) continue;
    }
    // --config: its network settings decide the results (the rest is compared under its own flags), not its name.
    if (k === 'config') {
      const network = (v: unknown) => JSON.stringify((v as RunSettings['config'])?.network ?? {});
      if (network(was) !== network(now.config)) out.push(`--config ${showConfig(now.config)} (the file: ${showConfig(was as RunSettings['config'])})`);
      continue;
    }
    // --class-names: the names and ids decide the results, not the file's name.
    if (k === 'classNames') {
      const same = (v: unknown) => (v ? JSON.stringify([(v as ClassNamesRecord).names, (v as ClassNamesRecord).categoryIds]) : null);
      if (same(was) !== same(now[k])) out.push(`--class-names ${showClassNames(now.classNames)} (the file: ${showClassNames(was as ClassNamesRecord | null)})`);
      continue;
    }
    // The epsilon is a setting of the polygons only: when one side has none, --polygons differs and says it.
    if (k === 'polygonEpsilon' && (!prev.polygons || !now.polygons)) continue;
    // Likewise the sigma is the Gaussian kernel's: with the linear one on a side, --nms-kernel differs and says it.
    if (k === 'nmsSigma' && (was === null || now.nmsSigma === null)) continue;
    const shown = (v: unknown) => (k === 'classes' && v === null ? '(every class)' : show(v));
    out.push(`${FLAG[k]} ${shown(now[k])} (the file: ${shown(was)})`);
  }
  return out;
}
