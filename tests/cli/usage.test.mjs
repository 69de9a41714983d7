// `sotr`: usage errors and exit codes, info, inspect, convert (no model needed).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, mkdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sotr, root } from './helpers/run.mjs';

const tmp = mkdtempSync(path.join(tmpdir(), 'sotr-usage-'));
const ckpt = path.join(root, 'tests', 'fixtures', 'checkpoints', 'tiny_sotr_zip.pth');
const notSotr = path.join(root, 'tests', 'fixtures', 'checkpoints', 'basic_zip.pth');
const examples = path.join(root, 'examples', 'images');

test('no command: usage on stderr, exit 1; --help: usage on stdout, exit 0; --version', async () => {
  let r = await sotr([]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /usage: sotr <command>/);
  r = await sotr(['--help']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /commands:/);
  assert.match(r.stdout, /exit codes: 0 ok, 1 usage/);
  r = await sotr(['help', 'predict']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /--score-threshold/);
  // Every option a command accepts is in its help (convert took -q/--quiet unlisted).
  r = await sotr(['help', 'convert']);
  assert.match(r.stdout, /^ {2}-q, --quiet /m);
  // What the options do not say by their names: convert takes safetensors too; --keep-prefix needs --no-check
  // ('module.' names are not SOTR keys); bench's --cache is for the random models only.
  assert.match(r.stdout, /^usage: sotr convert <in\.pth \| in\.safetensors> /);
  assert.match(r.stdout, /--keep-prefix .*add --no-check/);
  r = await sotr(['help', 'bench']);
  assert.match(r.stdout, /--cache <dir> [^]*not used\s+when --model is a file/);
  // Help on help (they were "no command '--help'" and "no command 'help'"); an unknown topic points at it.
  for (const args of [['help', '--help'], ['help', '-h'], ['help', 'help']]) {
    r = await sotr(args);
    assert.is(r.code, 0, args.join(' '));
    assert.match(r.stdout, /^usage: sotr help \[<command>\]/);
  }
  r = await sotr(['help', 'nope']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^sotr help: no command 'nope'\nrun 'sotr help --help' for usage$/m);
  r = await sotr(['--version']);
  assert.is(r.stdout.trim(), JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version);
});

test('usage errors exit 1 with a message that names the problem', async () => {
  const out = path.join(tmp, 'r.jsonl');
  const cases = [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['predict', '--input', examples, '--out', out], /--model is required/],
    [['predict', '--model', 'tiny', '--out', out], /--input is required/],
    [['predict', '--model', 'tiny', '--input', examples], /--out is required/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--bogus'], /Unknown option '--bogus'$/m],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--score-treshold', '0.3'], /Unknown option '--score-treshold' \(did you mean '--score-threshold'\?\)/],
    [['eval', '--gt', 'a.json', '--reslts', 'b.json'], /Unknown option '--reslts' \(did you mean '--results'\?\)/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--batch', '0'], /--batch must be >= 1/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--batch', 'two'], /--batch must be an integer/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--score-threshold', '1.5'], /--score-threshold must be <= 1/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--nms-kernel', 'box'], /^sotr predict: --nms-kernel must be gaussian or linear, received 'box'$/m],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--nms-sigma', '0'], /^sotr predict: --nms-sigma must be > 0, received 0$/m],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--nms-kernel', 'linear', '--nms-sigma', '3'], /--nms-sigma is only used with the gaussian --nms-kernel/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--device', 'gpu'], /--device must be auto, cpu, cuda or cuda:N/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--min-size', '900', '--max-size', '800'], /--max-size \(800\) is below --min-size/],
    [['predict', '--model', 'tiny', '--input', path.join(tmp, 'nope'), '--out', out], /input not found/],
    [['predict', '--model', 'tiny', '--input', path.join(tmp, '*.jpg'), '--out', out], /no files match/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', tmp], /is a folder/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--image-ids', 'x.json'], /only used with --coco/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--viz', path.join(examples, 'street.jpg')], /--viz .*street\.jpg is not a folder/],
    [['info', 'extra'], /Unexpected argument 'extra'|positional/i],
    [['inspect'], /a checkpoint is required/],
    [['inspect', path.join(tmp, 'missing.pth')], /^sotr inspect: checkpoint not found: .*missing\.pth$/m],
    [['convert', path.join(tmp, 'missing.pth'), path.join(tmp, 'x.safetensors')], /^sotr convert: checkpoint not found: .*missing\.pth$/m],
    [['inspect', tmp], /is a folder, not a checkpoint/],
    [['convert', ckpt], /expected <in.pth> <out.safetensors>, received 1 path$/m],
    // Integers are decimal digits (Number() took 0x10 and 1e0); fractions are decimals, 1e-3 included.
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--batch', '0x10'], /--batch must be an integer, received '0x10'/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--workers', '1e0'], /--workers must be an integer, received '1e0'/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--threads', '0'], /--threads must be >= 1, received 0/],
    [['bench', '--model', 'tiny', '--threads', 'all'], /--threads must be an integer, received 'all'/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--max-per-image', '10.0'], /--max-per-image must be an integer/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--score-threshold', '0x1'], /--score-threshold must be a number, received '0x1'/],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--mask-threshold', ''], /--mask-threshold must be a number/],
    // A negative value after a space is the value (parseArgs called it "ambiguous"): the option's own check answers.
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--score-threshold', '-1'], /^sotr predict: --score-threshold must be >= 0, received -1$/m],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--batch', '-.5'], /^sotr predict: --batch must be an integer, received '-\.5'$/m],
    [['bench', '--model', 'tiny', '--threads', '-2'], /^sotr bench: --threads must be >= 1, received -2$/m],
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '--score-threshold', '-x'], /ambiguous/],
    // A value option given twice is refused (the last one won silently); --input repeats, and so may flags.
    [['predict', '--model', 'tiny', '--input', examples, '--out', out, '-o', path.join(tmp, 'b.jsonl')], /--out is given more than once \(.*r\.jsonl", ".*b\.jsonl"\): give it once/],
    [['predict', '-m', 'tiny', '--model=tiny', '--input', examples, '--out', out], /--model is given more than once/],
    [['eval', '--gt', 'a.json', '--gt', 'b.json', '--results', 'c.json'], /--gt is given more than once/],
    [['convert', '--key', 'model', '--key', 'state_dict', ckpt, path.join(tmp, 'x.safetensors')], /--key is given more than once/],
    // Accepted up to the orphan --viz-threshold: .05, 5e-1 and 1e-3 as fractions, --input twice, -q twice.
    [['predict', '-q', '-q', '--model', 'tiny', '-i', examples, '--input', examples, '--out', out, '--score-threshold', '.05', '--mask-threshold', '5e-1', '--min-score', '1e-3', '--viz-threshold', '0.5'], /^sotr predict: --viz-threshold is only used with --viz$/m],
  ];
  for (const [args, re] of cases) {
    const r = await sotr(args);
    assert.is(r.code, 1, `${args.join(' ')} → ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, re, `${args.join(' ')}: ${r.stderr}`);
  }
  assert.not.ok(existsSync(out), 'no results file is created by a usage error');
});

test('a model file that is not a checkpoint is a configuration error (exit 1)', async () => {
  const r = await sotr(['predict', '--model', path.join(examples, 'street.jpg'), '--input', examples, '--out', path.join(tmp, 'm.jsonl'), '-q']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /sotr predict: /);
  assert.not.match(r.stderr, /unexpected error/);
});

test('a device that is not there: exit 1 before any model is read', async () => {
  const info = JSON.parse((await sotr(['info', '--json'])).stdout);
  const missing = info.cuda.available ? `cuda:${info.cuda.devices.length}` : 'cuda';
  const out = path.join(tmp, 'dev.jsonl');
  const r = await sotr(['predict', '--model', 'tiny', '--input', examples, '--out', out, '--device', missing]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /\[SOTR_DEVICE_UNAVAILABLE\]/);
  assert.not.match(r.stderr, /generated the tiny/);
  assert.not.ok(existsSync(out));
  // bench too: the random model is not written first (an R50's 63 M values took 5.6 s before the error).
  const cache = path.join(tmp, 'bench-cache');
  const b = await sotr(['bench', '--model', 'r50', '--cache', cache, '--device', missing]);
  assert.is(b.code, 1, b.stderr);
  assert.match(b.stderr, /^sotr bench: \[SOTR_DEVICE_UNAVAILABLE\]/m);
  assert.not.ok(existsSync(cache), 'no model written');
});

test('info --json is backendInfo(); info is readable', async () => {
  let r = await sotr(['info', '--json']);
  assert.is(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.ok(info.build.loaded);
  assert.type(info.cpu.threads, 'number');
  assert.type(info.cuda.available, 'boolean');
  assert.type(info.defaultDevice.device, 'string');
  r = await sotr(['info']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /^sotr-node \d+\.\d+\.\d+/);
  assert.match(r.stdout, /CPU: +\d+ threads/);
  assert.match(r.stdout, /CUDA: /);
  assert.match(r.stdout, /device: 'auto' is (cpu|cuda:\d+)/);
  r = await sotr(['info', '--json'], { env: { SOTR_DEVICE: 'cpu' } });
  assert.is(JSON.parse(r.stdout).defaultDevice.device, 'cpu');
  r = await sotr(['info'], { env: { SOTR_DEVICE: 'cpu' } });
  assert.match(r.stdout, /^device: 'auto' is cpu \(SOTR_DEVICE=cpu\)$/m);
  // An invalid value is named as such (it read "'auto' is cpu (SOTR_DEVICE=bogus)", while 'auto' throws).
  r = await sotr(['info'], { env: { SOTR_DEVICE: 'bogus' } });
  assert.match(r.stdout, /^device: SOTR_DEVICE='bogus' is not a device/m);
  assert.not.match(r.stdout, /'auto' is cpu/);
  // Without the addon: the package's version, not "unknown".
  const { formatInfo } = createRequire(import.meta.url)(path.join(root, 'dist', 'cli', 'info.js'));
  const text = formatInfo({ build: { loaded: false, version: 'unknown', commit: 'unknown', napiVersion: 0, simdVariants: [], loadError: 'no addon' } });
  assert.match(text, new RegExp(`^sotr-node ${JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version.replace(/\./g, '\\.')} `));
  assert.match(text, /native addon: NOT LOADED\n {2}no addon/);
});

test('inspect describes a checkpoint (text and --json)', async () => {
  // The fixture has every SOTR key, but a transformer 4 wide: not divisible into the 8 heads Sotr.load uses.
  let r = await sotr(['inspect', ckpt]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /torch-zip, 188 tensors/);
  assert.match(r.stdout, /NOT loadable/);
  assert.match(r.stdout, /ResNet-17 \[1, 2, 1, 1\] with DCN/);
  assert.match(r.stdout, /configuration error: .*heads/);
  r = await sotr(['inspect', ckpt, '--json', '--keys']);
  const doc = JSON.parse(r.stdout);
  assert.is(doc.format, 'torch-zip');
  assert.is(doc.tensors, 188);
  assert.is(doc.loadable, false);
  assert.equal(doc.problems, { missing: [], unexpected: [], misshaped: [] });
  assert.match(doc.configError, /heads/);
  assert.is(Object.keys(doc.keys).length, 188);
  r = await sotr(['inspect', notSotr, '--json']);
  assert.is(r.code, 0);
  const other = JSON.parse(r.stdout);
  assert.is(other.loadable, false);
  assert.ok(other.problems.missing.length > 500);
});

test('convert writes safetensors that read back the same; refuses a non-SOTR file unless --no-check', async () => {
  const out = path.join(tmp, 'conv', 'tiny.safetensors');
  let r = await sotr(['convert', ckpt, out]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /wrote /);
  r = await sotr(['inspect', out, '--json']);
  const doc = JSON.parse(r.stdout);
  assert.is(doc.format, 'safetensors');
  assert.is(doc.tensors, 188);
  assert.equal(doc.problems, { missing: [], unexpected: [], misshaped: [] });
  assert.is(doc.metadata.source, 'tiny_sotr_zip.pth');
  const out2 = path.join(tmp, 'conv', 'basic.safetensors');
  r = await sotr(['convert', notSotr, out2]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /not a SOTR state_dict/);
  assert.not.ok(existsSync(out2));
  r = await sotr(['convert', notSotr, out2, '--no-check', '-q']);
  assert.is(r.code, 0, r.stderr);
  assert.ok(existsSync(out2));
});

test.run();
