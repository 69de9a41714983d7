#!/usr/bin/env node
// Converts a PyTorch checkpoint (torch.save zip or legacy file, or safetensors) into a safetensors file,
// checking it against the SOTR key structure on the way. Stand-in for `sotr convert` until the CLI exists.
//
//   node scripts/convert-checkpoint.mjs <in.pth> <out.safetensors> [--no-check] [--key model] [--keep-prefix]
//
// Needs the compiled library (npm run build).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const lib = path.join(here, '..', 'dist', 'checkpoint', 'index.js');
if (!existsSync(lib)) {
  console.error(`convert-checkpoint: ${lib} not found; build the library first (npm run build)`);
  process.exit(2);
}
const { readCheckpointWithInfo, writeSafetensors, inferSotrConfig } = await import(lib);

const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--') && a !== '--key'));
const keyAt = args.indexOf('--key');
const stateDictKey = keyAt >= 0 ? args[keyAt + 1] : undefined;
const files = args.filter((a, i) => !a.startsWith('--') && !(keyAt >= 0 && i === keyAt + 1));
if (files.length !== 2 || flags.has('--help')) {
  console.error('usage: node scripts/convert-checkpoint.mjs <in.pth> <out.safetensors> [--no-check] [--key model] [--keep-prefix]');
  process.exit(files.length === 2 ? 0 : 2);
}
const [input, output] = files;

try {
  const t0 = performance.now();
  const { tensors, info } = await readCheckpointWithInfo(input, {
    onWarning: (m) => console.warn(`warning: ${m}`),
    ...(stateDictKey ? { stateDictKey } : {}),
    ...(flags.has('--keep-prefix') ? { stripPrefixes: [] } : {}),
  });
  const t1 = performance.now();
  console.log(
    `read ${input}: ${info.format}, ${tensors.size} tensors, ${info.storageBytes >= 1e6 ? `${(info.storageBytes / 1e6).toFixed(1)} MB` : `${(info.storageBytes / 1e3).toFixed(1)} kB`} in ${(t1 - t0).toFixed(0)} ms` +
      (info.stateDictKey ? ` (from '${info.stateDictKey}'; ignored: ${info.ignoredEntries.join(', ') || 'nothing'})` : '') +
      (info.locations.length ? `; saved from ${info.locations.join(', ')}` : ''),
  );
  const config = inferSotrConfig(tensors);
  const { missing, unexpected, misshaped } = config.problems;
  const { problems, ...summary } = config;
  console.log(`SOTR configuration: ${JSON.stringify(summary)}`);
  const bad = missing.length + unexpected.length + misshaped.length;
  if (bad) {
    const show = (title, xs) => xs.length && console.error(`${title} (${xs.length}):\n  ${xs.slice(0, 50).join('\n  ')}${xs.length > 50 ? '\n  …' : ''}`);
    show('missing keys', missing);
    show('unexpected keys', unexpected);
    show('mis-shaped keys', misshaped.map((m) => `${m.key}: [${m.actual}], expected [${m.expected}]`));
    if (!flags.has('--no-check')) {
      console.error('not a SOTR state_dict as expected; nothing written (use --no-check to convert anyway)');
      process.exit(1);
    }
  }
  const metadata = { format: 'pt', source: path.basename(input), source_format: info.format, sotr_config: JSON.stringify(summary) };
  await writeSafetensors(output, tensors, metadata);
  console.log(`wrote ${output} in ${(performance.now() - t1).toFixed(0)} ms`);
} catch (e) {
  console.error(`convert-checkpoint: ${e.code ? `[${e.code}] ` : ''}${e.message}`);
  process.exit(1);
}
