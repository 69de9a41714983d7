/**
 * Command-line parsing for `sotr`: node:util parseArgs (no dependency), typed
 * number options with range checks, and the usage texts. Every mistake is a
 * UsageError (exit code 1) whose message says what was wrong and what to type.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { nearestKey } from '../options';

/** The package's version (package.json, two folders up from dist/cli). */
export function packageVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../../package.json') as { version: string }).version;
}

/** Exit codes, documented in README.md ("The `sotr` command"). */
export const EXIT = { ok: 0, usage: 1, someFailed: 2, interrupted: 130 } as const;

export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
    /** Whether "run 'sotr ... --help' for usage" follows: not for a refusal the options do not explain (a lock). */
    readonly helpHint = true,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/**
 * `--score-threshold -1` as `--score-threshold=-1`: parseArgs calls a value that begins with '-' "ambiguous", and
 * tells the user to write it with '='. A negative number cannot be an option (short options are letters), so it is
 * taken as the value, and the option's own check says what is wrong with it ("must be >= 0, received -1").
 */
function negativeValuesJoined(args: string[], options: OptionSpec): string[] {
  return rewriteArgs(args, (a, next) => {
    const long = /^--([^=]+)$/.exec(a)?.[1];
    const name = long ?? Object.keys(options).find((k) => a.length === 2 && options[k]!.short === a[1]);
    if (name === undefined || options[name]?.type !== 'string' || next === undefined || !/^-(\d|\.\d|Infinity$|NaN$)/.test(next)) return null;
    return { args: [`${long !== undefined ? a : `--${name}`}=${next}`], takesNext: true };
  });
}

/**
 * The arguments with some rewritten before parsing, up to a `--` (what follows it is positional, kept as it is):
 * `rule(arg, next)` gives an argument's replacement (and whether it used `next` too), or null to keep it.
 */
export function rewriteArgs(args: string[], rule: (arg: string, next: string | undefined) => { args: string[]; takesNext?: boolean } | null): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const r = rule(a, args[i + 1]);
    if (!r) {
      out.push(a);
      continue;
    }
    out.push(...r.args);
    if (r.takesNext) i++;
  }
  return out;
}

/**
 * parseArgs with strict checking, turning its errors into UsageErrors that name the command. A value option given
 * twice (`--out a --out b`) is refused: parseArgs would keep the last one silently. Options declared `multiple`
 * repeat, and a repeated flag changes nothing.
 */
export function parse(command: string, args: string[], options: OptionSpec, allowPositionals = true): Parsed {
  let r: ReturnType<typeof parseArgs>;
  try {
    r = parseArgs({ args: negativeValuesJoined(args, options), options, strict: true, allowPositionals, tokens: true } as ParseArgsConfig);
  } catch (e) {
    let msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    // A misspelt option: name the nearest one, as the API's option checks do.
    const unknown = /^Unknown option '--([^'=]+)'/.exec(msg)?.[1];
    const near = unknown !== undefined ? nearestKey(unknown, Object.keys(options)) : undefined;
    if (near !== undefined) msg += ` (did you mean '--${near}'?)`;
    throw new UsageError(msg, command);
  }
  const given = new Map<string, string[]>();
  for (const t of r.tokens ?? []) {
    if (t.kind !== 'option' || options[t.name]?.type !== 'string' || options[t.name]?.multiple) continue;
    const seen = given.get(t.name) ?? [];
    seen.push(t.value ?? '');
    given.set(t.name, seen);
    if (seen.length === 2) throw new UsageError(`--${t.name} is given more than once (${seen.map((v) => JSON.stringify(v)).join(', ')}): give it once`, command);
  }
  return { values: r.values as Parsed['values'], positionals: r.positionals };
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new UsageError(`--${name} needs a value`);
  return v;
}

export function strs(p: Parsed, name: string): string[] {
  const v = p.values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

/** "1 image", "2 images"; `plural` where adding an s is wrong ("1 category", "2 categories"). */
export function count(n: number, word: string, plural = `${word}s`): string {
  return `${n} ${n === 1 ? word : plural}`;
}

/** A number option: `--name <n>` with bounds (and integer-ness) checked. */
export function num(
  p: Parsed,
  name: string,
  o: { min?: number; max?: number; integer?: boolean; exclusiveMin?: boolean } = {},
): number | undefined {
  const s = str(p, name);
  if (s === undefined) return undefined;
  const t = s.trim();
  const v = Number(t);
  const what = o.integer ? 'an integer' : 'a number';
  // Number() also takes 0x10, 0b1, 1e3 and '': an integer is plain decimal digits, a fraction a decimal (1e-3 kept).
  const form = o.integer ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
  if (!form.test(t) || !Number.isFinite(v) || (o.integer && !Number.isInteger(v))) {
    throw new UsageError(`--${name} must be ${what}, received '${s}'`);
  }
  if (o.min !== undefined && (o.exclusiveMin ? v <= o.min : v < o.min)) {
    throw new UsageError(`--${name} must be ${o.exclusiveMin ? '>' : '>='} ${o.min}, received ${s}`);
  }
  if (o.max !== undefined && v > o.max) throw new UsageError(`--${name} must be <= ${o.max}, received ${s}`);
  return v;
}

/** `--device`: auto (default), cpu, cuda or cuda:N. */
export function deviceOption(p: Parsed): string {
  const device = str(p, 'device') ?? 'auto';
  if (!/^(auto|cpu|cuda|cuda:\d{1,4})$/.test(device)) throw new UsageError(`--device must be auto, cpu, cuda or cuda:N, received '${device}'`);
  return device;
}

/** --threads <n>: the CPU threads of the model's kernels (the library's setNumThreads), undefined when not given. */
export function threadsOption(p: Parsed): number | undefined {
  return num(p, 'threads', { min: 1, max: 1024, integer: true });
}

/** A comma-separated list (`--classes person,car`): trimmed items, or undefined when not given; an empty item is a usage error. */
export function listOption(p: Parsed, name: string, what: string): string[] | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const items = v.split(',').map((x) => x.trim());
  if (items.some((x) => x === '')) throw new UsageError(`--${name} takes ${what} separated by commas (e.g. person,car), received ${JSON.stringify(v)}`);
  return items;
}

/** An option that takes one of `choices`, or undefined when not given ("--x must be a, b or c, received 'd'"). */
export function choiceOption<C extends string>(p: Parsed, name: string, choices: readonly C[]): C | undefined {
  const v = str(p, name);
  if (v !== undefined && !(choices as readonly string[]).includes(v)) {
    const listed = choices.length > 1 ? `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}` : choices.join('');
    throw new UsageError(`--${name} must be ${listed}, received '${v}'`);
  }
  return v as C | undefined;
}

/** `--precision`: one of the model's precisions, or undefined when not given. */
export function precisionOption(p: Parsed): 'fp32' | 'tf32' | 'bf16' | 'fp16' | undefined {
  return choiceOption(p, 'precision', ['fp32', 'tf32', 'bf16', 'fp16'] as const);
}

export const MAIN_USAGE = `usage: sotr <command> [options]

SOTR instance segmentation from the command line.

commands:
  predict    segment images: results as JSON Lines, optional COCO results and overlays
  info       describe the build, the CPU and CUDA (--json for the raw object)
  inspect    describe a checkpoint: format, tensors, SOTR configuration, key problems
  convert    convert a PyTorch checkpoint (.pth) to safetensors
  eval       COCO mask and box AP of results against COCO annotations (as pycocotools computes it)
  bench      time this machine: load, first prediction, latency per stage, throughput, memory
  help       help on a command: sotr help predict

options:
  -h, --help     this text
  -v, --version  the package version

exit codes: 0 ok, 1 usage or configuration error, 2 some images failed, 130 interrupted.`;

export const PREDICT_USAGE = `usage: sotr predict --model <checkpoint | tiny> --input <paths...> --out <results.jsonl> [options]

  -m, --model <file|tiny>      a checkpoint (.pth or .safetensors), or "tiny": a small random-weight
                               model generated on first use and cached next to --out (no downloads)
  -i, --input <path>           images, folders (searched recursively), globs ("photos/**/*.jpg") or
                               a list file (.txt/.lst/.list: one path a line, # comments, so a name
                               that starts with # is listed as ./#name.jpg; "-" reads one from stdin:
                               find photos -name '*.jpg' | sotr predict -i - ...); repeatable, and
                               extra positional arguments count as inputs
  -o, --out <file.jsonl>       results, one JSON line per image; an existing file is resumed: images
                               already in it are skipped (--overwrite starts again), or redone when
                               their --viz / --label-maps file is missing; one run at a time (<out>.lock);
                               "-" writes the lines to stdout (no resuming)
      --device <d>             auto (default) | cpu | cuda | cuda:N
      --batch <n>              images per model call (default 1 on the CPU, 4 on CUDA)
      --precision <p>          fp32 (default) | tf32 | bf16 | fp16 (on the CPU: bf16 multiplies in bfloat16 where it
                               has AVX512-BF16 (sotr info says), the others compute fp32)
      --min-size <px>          resize: shortest side (default: the checkpoint's test size)
      --max-size <px>          resize: cap on the longest side (default 1333)
      --limit-input-pixels <n> the largest image decoded, width × height (default 268402689 = 16383²; 0: no
                               limit); a larger one is an error line, not decoded. Lower it for files from
                               others: a PNG of under 1 MB can hold 16383² pixels, gigabytes of memory to run
      --config <config.yaml>   the detectron2 config the checkpoint was trained with (a training run's
                               config.yaml, or the repo's, _BASE_ followed): its grids, input sizes, pixel
                               statistics and post-processing; a flag given wins. One that is not this
                               checkpoint's (classes, depth, widths) or asks for what is not run is an error
      --class-names <file>     the classes of a checkpoint trained on another dataset: its COCO annotations
                               file (.json: names and category ids, labels numbered as detectron2 does, by
                               id), a JSON array of names, or a text file, one name a line, label 0 first
  post-processing (defaults are the reference's):
      --score-threshold <p>    class probability to become a candidate (0.1)
      --mask-threshold <p>     mask binarisation (0.5)
      --nms-pre <n>            candidates kept before Matrix NMS (500)
      --nms-kernel <k>         Matrix NMS decay: gaussian (default) | linear
      --nms-sigma <s>          the gaussian decay exp(-sigma·IoU²)'s sigma (2): larger suppresses overlaps more
      --update-threshold <p>   score kept after Matrix NMS (0.05)
      --max-per-image <n>      instances per image (100)
      --min-score <p>          drop instances scoring below this from the results (default: keep all)
      --classes <list>         only these classes, names or labels separated by commas (person,car,3): the
                               model runs as if it had no others (default: every class)
  outputs:
      --coco <file.json>       COCO results (segm) for the whole --out file, written at the end
      --image-ids <file.json>  image ids for --coco: a COCO annotations file ("images": [{id, file_name}])
                               or {"<file name>": id}, which must hold every image; default: the number
                               in the file name, else the name
      --viz <dir>              overlay images: instances coloured, class and score drawn
      --viz-threshold <p>      display cut for --viz (0.3)
      --label-maps <dir>       one grey PNG map per image: each pixel 1 + the index of the instance covering it
                               (its line's order: by score; overlaps go to the higher score), 0 background
      --label-map-values <v>   instance (default) | label: 1 + the instance's label instead (a class map)
      --label-map-depth <b>    8 | 16 bits per pixel, the same for every map of the run (default 8, or 16
                               for instance maps when --max-per-image is above 255)
      --polygons               also write each instance's outer contours as COCO polygons ("polygons" in
                               the JSON Lines: OpenCV's findContours, external borders, simple chains)
      --polygon-epsilon <px>   simplify them as OpenCV's approxPolyDP with this tolerance (default 0: exact)
  running:
      --threads <n>            CPU threads for the model's kernels (default: SOTR_NUM_THREADS, else every core this
                               process may use, at most a container's CPU quota); leave cores to other work, or run
                               several processes side by side
      --workers <n>            decode/overlay worker threads (default: from the cores)
      --retry-errors           redo images whose earlier line has an error
      --overwrite              start a new --out instead of resuming it
      --allow-mixed-settings   resume an --out made with other settings (model, precision, sizes,
                               thresholds, polygons: recorded in <out>.settings.json); refused otherwise
      --profile                print the model's per-stage time profile at the end
      --profile ops            also print the top ops by time and the device's busy and idle time
  -q, --quiet                  no progress or summary (errors are still printed)
  -h, --help                   this text

Progress goes to stderr (a bar on a terminal, a line every few seconds otherwise). Ctrl-C finishes the
batch in progress, flushes the results and exits with 130; run the same command again to resume.
exit codes: 0 ok, 1 usage or configuration error, 2 some images failed, 130 interrupted.`;

export const INFO_USAGE = `usage: sotr info [--json]

Describes the build (version, commit, SIMD variants), the CPU, CUDA (architectures compiled in, driver, runtime,
devices, or why it is unavailable) and the device 'auto' resolves to.
      --json   print backendInfo() as JSON`;

export const INSPECT_USAGE = `usage: sotr inspect <checkpoint> [--json] [--keys] [--key <entry>] [--verify]

Reads a checkpoint (.pth zip or legacy, or .safetensors) and prints its format, tensor count and bytes, the
SOTR configuration inferred from it, missing / unexpected / mis-shaped keys, for the names Sotr.load sees
(a leading 'module.' stripped), and the tensors holding NaN or infinite values (a .safetensors file's values are
read with --verify only: its header says the rest).
      --json       machine-readable output
      --keys       list every tensor (name, dtype, shape)
      --key <k>    the state_dict entry of a wrapped PyTorch checkpoint (default: model / state_dict)
      --verify     check every zip entry's CRC-32, the tensor data's too (by default only the metadata's);
                   read a .safetensors file's values`;

export const CONVERT_USAGE = `usage: sotr convert <in.pth | in.safetensors> <out.safetensors> [--config <config.yaml>] [--class-names <file>] [--overwrite] [--no-check] [--key <entry>] [--keep-prefix]

Converts a PyTorch checkpoint (.pth zip or legacy; or a safetensors file, to strip 'module.' from its names) to
safetensors (written under a temporary name, then renamed), checking it against the SOTR key structure first.
Every zip entry's CRC-32 is checked: corrupt data is refused.
      --config <f>       store the settings of the detectron2 config the model was trained with (grids, sizes,
                         input format, pixel statistics, post-processing) in the file: Sotr.load and sotr predict
                         then use them unless told otherwise (checked against the checkpoint first)
      --class-names <f>  store its classes too: a COCO annotations file (names and category ids), a JSON array
                         of names, or a text file, one name a line (as sotr predict --class-names)
                         (settings a safetensors input stores are kept; these replace the ones they give, and
                         class names without ids replace the stored names and ids both)
      --no-check      convert even when the keys are not a SOTR state_dict
      --key <entry>   the state_dict entry of a wrapped PyTorch checkpoint (default: model / state_dict)
      --keep-prefix   keep a leading 'module.' on names (such names are not SOTR keys: add --no-check)
      --overwrite     replace an existing output file (refused otherwise)
  -q, --quiet         no lines on what was read and written (problems, warnings and errors are still printed)`;

export const EVAL_USAGE = `usage: sotr eval --gt <annotations.json> --results <coco.json | results.jsonl> [--iou segm,bbox] [--box-area] [--categories <list>] [--per-category] [--json out.json]

COCO average precision and recall of results against COCO annotations, computed as pycocotools' COCOeval
computes them (the 12 numbers it prints, and its lines), for masks (segm) and boxes (bbox).
      --gt <file>       a COCO annotation file (e.g. instances_val2017.json)
      --results <file>  COCO results (sotr predict --coco), or sotr predict's JSON Lines: images are found in the
                        annotations by file name, else by the number in the name
      --iou <types>     segm, bbox or segm,bbox (default)
      --box-area        mask AP with the results' box areas for small/medium/large (pycocotools' loadRes when
                        results carry a bbox); by default their boxes are dropped for mask AP, so mask areas are
                        used, as detectron2's COCOEvaluator (the official SOTR numbers) does
      --categories <l>  only these categories, names or ids of the annotation file separated by commas
                        (person,car), as pycocotools' params.catIds: the results of a sotr predict --classes run
                        scored over every category would count the others as AP 0
      --per-category    also print each category's AP (IoU 0.50:0.95, all areas), as detectron2 tabulates it
      --json <file>     also write the numbers as JSON (per-category AP included)`;

export const BENCH_USAGE = `usage: sotr bench [--model <checkpoint | r50 | r101 | r101-dcn | tiny>] [options]

Times SOTR on this machine with this build: the load, the first prediction, batch-1 latency (median, p10, p90,
and each stage's median), pipelined throughput (predictEach: the next image decodes while one runs; two at once on
a GPU) and memory (peak RSS; on a GPU the allocator's live, peak and cached bytes). Progress and results go to
stderr, --json prints the numbers on stdout.
  -m, --model <m>         a checkpoint (.pth or .safetensors), or a random-weight model of a released structure:
                          r50 (default), r101, r101-dcn, tiny (written once to --cache; nothing is downloaded).
                          Random weights find more candidates than trained ones: post-processing takes longer
      --image <file>      time this image (decoded at every prediction, as a path would be); default: a
                          synthetic one of --size
      --size <WxH>        the synthetic image's size (default 1333x800)
      --device <d>        auto (default) | cpu | cuda | cuda:N
      --precision <p>     fp32 (default) | tf32 | bf16 | fp16
      --threads <n>       CPU threads for the model's kernels (default: SOTR_NUM_THREADS, else every core)
      --runs <n>          timed predictions for the latency (default 5 on the CPU, 50 on a GPU)
      --throughput <n>    images for the throughput (default twice --runs on the CPU, 100 on a GPU; 0: skip)
      --cache <dir>       where random models are written (default: the system's temporary folder); not used
                          when --model is a file
      --json              print the numbers as JSON on stdout`;

export const HELP_USAGE = `usage: sotr help [<command>]

Prints a command's help (the same as sotr <command> --help), or without one the list of commands.`;

export const USAGES: Record<string, string> = {
  help: HELP_USAGE,
  bench: BENCH_USAGE,
  predict: PREDICT_USAGE,
  info: INFO_USAGE,
  inspect: INSPECT_USAGE,
  convert: CONVERT_USAGE,
  eval: EVAL_USAGE,
};
