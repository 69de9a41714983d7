/** `sotr info`: backendInfo() for people (or as JSON with --json). */
import { backendInfo, type BackendInfo } from '../device';
import { EXIT, INFO_USAGE, flag, packageVersion, parse } from './args';
import type { CliIO } from './predict';

const GiB = 1024 ** 3;

function version(v: number): string {
  // CUDA encodes versions as 1000·major + 10·minor.
  return v ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'none';
}

// "all cores", "cpu quota: 2.5 CPUs of 64 cores (/sys/fs/cgroup/cpu.max)", "SOTR_NUM_THREADS", ...
function threadsWhy(i: BackendInfo): string {
  const q = i.cpu.quota;
  const cores = i.cpu.cores !== undefined ? ` of ${i.cpu.cores} cores` : '';
  if (i.threadsFrom === 'cpu quota' && q) return `cpu quota: ${+q.cpus.toFixed(2)} CPU${q.cpus === 1 ? '' : 's'}${cores} (${q.source})`;
  if (i.threadsFrom === 'cores') return 'all cores';
  return i.threadsFrom;
}

export function formatInfo(i: BackendInfo): string {
  const b = i.build;
  const lines: string[] = [];
  // Without the addon the build's version is unknown; the package's is not.
  lines.push(`sotr-node ${b.loaded ? b.version : packageVersion()} (commit ${b.commit}, Node-API ${b.napiVersion}, Node ${process.version}, ${process.platform}-${process.arch})`);
  if (!b.loaded) {
    lines.push('native addon: NOT LOADED');
    lines.push(...(b.loadError ?? '').split('\n').map((l) => `  ${l}`));
    return lines.join('\n');
  }
  lines.push(
    `CPU:    ${i.cpu.threads} thread${i.cpu.threads === 1 ? '' : 's'} (${threadsWhy(i)}), SIMD ${i.cpu.simd}` +
      (i.cpu.maxSimd !== i.cpu.simd ? ` (capped; the CPU has ${i.cpu.maxSimd})` : '') +
      `; compiled variants: ${b.simdVariants.join(', ')}; precision bf16 computes in ${i.cpu.bf16 ?? 'float32'}`,
  );
  if (i.cpu.features.length) lines.push(`        features: ${i.cpu.features.join(' ')}`);
  const budget = i.cpu.weightCacheBudget;
  if (budget) {
    const ml = i.cpu.memoryLimit;
    lines.push(
      `memory: weight cache up to ${Math.round(budget.bytes / 2 ** 20)} MiB (${budget.from === 'memory limit' && ml ? `a quarter of the memory limit, ${(ml.bytes / GiB).toFixed(2)} GiB (${ml.source})` : budget.from})` +
        (ml && budget.from !== 'memory limit' ? `; memory limit ${(ml.bytes / GiB).toFixed(2)} GiB (${ml.source})` : ''),
    );
  }
  const c = i.cuda;
  if (!c.compiled) lines.push(`CUDA:   ${c.reason ?? 'this build has no CUDA code'}`);
  else {
    lines.push(
      `CUDA:   ${c.available ? 'available' : 'unavailable'}; runtime ${version(c.runtimeVersion)} (static), driver ${version(c.driverVersion)}; architectures ${c.archs.join(', ') || 'none'}`,
    );
    if (!c.available) lines.push(`        why: ${c.reason ?? 'unknown'}`);
    for (const d of c.devices) {
      lines.push(`        cuda:${d.index}  ${d.name}, compute ${d.computeCapability}, ${(d.totalMemory / GiB).toFixed(1)} GiB, ${d.multiprocessors} SMs`);
    }
  }
  const dd = i.defaultDevice;
  // An invalid SOTR_DEVICE: the reason says so (and that 'auto' throws until it is fixed), not just the value.
  if (dd.fromEnvironment && dd.reason && dd.reason !== 'SOTR_DEVICE') {
    lines.push(`device: ${dd.reason}`);
    return lines.join('\n');
  }
  lines.push(
    `device: 'auto' is ${dd.device}` +
      (dd.fromEnvironment ? ` (SOTR_DEVICE=${dd.environment})` : dd.reason && dd.device === 'cpu' ? ` (${dd.reason})` : ''),
  );
  return lines.join('\n');
}

export function infoCommand(argv: string[], io: CliIO): number {
  const p = parse('info', argv, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, false);
  if (flag(p, 'help')) {
    io.stdout.write(INFO_USAGE + '\n');
    return EXIT.ok;
  }
  const info = backendInfo();
  io.stdout.write((flag(p, 'json') ? JSON.stringify(info, null, 2) : formatInfo(info)) + '\n');
  return info.build.loaded ? EXIT.ok : EXIT.usage;
}
