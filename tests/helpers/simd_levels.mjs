// Running CPU ops at each SIMD level the build has and this CPU runs (the run-time dispatch's
// setSimdLevel), so the scalar, AVX2 and AVX-512 paths are all checked on one machine.
import { backendInfo } from '../../dist/index.js';
import { native } from '../../dist/native.js';

let levels;

// 'scalar' first, then every compiled level this CPU accepts (setSimdLevel caps at the CPU's).
export function cpuSimdLevels() {
  if (levels) return levels;
  levels = [];
  try {
    for (const l of ['scalar', 'avx2', 'avx512']) {
      if (!backendInfo().build.simdVariants.includes(l)) continue;
      if (native().setSimdLevel(l) === l) levels.push(l);
    }
  } finally {
    native().setSimdLevel('auto');
  }
  return levels;
}

// fn() with the CPU ops dispatched at `level`; the level goes back to the default (SOTR_CPU_SIMD or the CPU's) after.
export async function atSimdLevel(level, fn) {
  native().setSimdLevel(level);
  try {
    return await fn();
  } finally {
    native().setSimdLevel('auto');
  }
}
