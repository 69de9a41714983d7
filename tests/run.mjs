#!/usr/bin/env node
// The test suite: every tests/**/*.test.mjs file (uvu) in its own process,
// then the Node-free native op test. Prints per-file results and ends with
// one line "N passed, N failed". Fails when the number of tests drops below
// the floor in tests/test-floor.json.
//   node tests/run.mjs [filter]     SOTR_TEST_TIMEOUT_S (per file, default 300)
// SOTR_TEST_EXCLUDE: comma-separated; test files whose path contains an entry are not run, nor the native op test
// or the CPU GEMM core test when it lists `native` or `gemm`; the floor is then not checked (scripts/gpu-check.sh:
// the GPU machine has no npm for tests/package, and runs the native op test in a stage of its own).
// SOTR_TEST_ARM64=1 (.ci/run): also the Linux arm64 cross-check (scripts/arm64-check.sh, qemu-user).
// SOTR_TEST_SANITIZE=1 (.ci/run): also the native tests under ASan + UBSan and TSan (scripts/sanitize-check.sh).
// SOTR_TEST_CLANG=1 (.ci/run): also the native core built with Clang for x86-64 and its tests (scripts/clang-check.sh).
// SOTR_TEST_NODES=1 (.ci/run): also the JavaScript suite under Node.js 22, 24 and 26 (scripts/node-versions-check.sh),
// each test file there one test here. SOTR_TEST_NO_BINARIES=1: the test files only (no native binaries, no floor).
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const filter = process.argv[2];
const timeoutS = Number(process.env.SOTR_TEST_TIMEOUT_S || 300);
const exclude = (process.env.SOTR_TEST_EXCLUDE || '').split(',').map((s) => s.trim()).filter(Boolean);
const noBinaries = process.env.SOTR_TEST_NO_BINARIES === '1';

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'fixtures' && name !== 'node_modules') out.push(...findTests(p));
    } else if (name.endsWith('.test.mjs')) out.push(p);
  }
  return out.sort();
}

function run(cmd, args, opts = {}, limitS = timeoutS) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, FORCE_COLOR: '0' }, ...opts });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(async () => {
      out += `\n[timeout after ${limitS} s]\n`;
      // A hang seen once in CI is gone by the time anyone looks: show where every thread waits before the kill.
      out += await threadStacks(child.pid);
      child.kill('SIGKILL');
    }, limitS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), out, ms: Date.now() - t0 });
    });
  });
}

// The native stacks of a hung process's threads (worker threads and the addon's pool included), from gdb when the
// machine has it: each frame as "function at file:line" (gdb's argument lists dropped), threads with the same stack
// shown once with their count, 25 frames a thread.
async function threadStacks(pid) {
  const r = await new Promise((resolve) => {
    const args = ['-p', String(pid), '-batch', '-nx', '-ex', 'set pagination off', '-ex', 'thread apply all bt 25'];
    execFile('gdb', args, { encoding: 'utf8', timeout: 60_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) =>
      resolve({ missing: error?.code === 'ENOENT', error, stdout: stdout ?? '', stderr: stderr ?? '' }),
    );
  });
  if (r.missing) return '[no thread stacks: gdb is not installed]\n';
  const stacks = new Map(); // stack text -> thread names
  let name;
  let frames = [];
  const flush = () => {
    if (name) stacks.set(frames.join('\n'), [...(stacks.get(frames.join('\n')) ?? []), name]);
  };
  for (const line of r.stdout.split('\n')) {
    const t = /^Thread \d+ \(.*?\(LWP (\d+)\)(?: "([^"]*)")?/.exec(line);
    if (t) {
      flush();
      name = `${t[2] ?? 'thread'} ${t[1]}`;
      frames = [];
      continue;
    }
    const f = /^#(\d+)\s+(?:0x[0-9a-f]+ in )?(.*?)(?: \(.*?\))?(?: (at|from) (\S+))?$/.exec(line);
    if (!f || !name) continue;
    // Frames without symbols are JavaScript (or JIT code): one line for a run of them.
    if (f[2] === '??' && frames.at(-1)?.endsWith('?? (JavaScript)')) continue;
    frames.push(`  #${f[1]} ${f[2] === '??' ? '?? (JavaScript)' : f[2]}${f[4] ? ` ${f[3]} ${f[4]}` : ''}`);
  }
  flush();
  if (!stacks.size) return `[no thread stacks: ${(r.error?.message ?? r.stderr).trim().split('\n').pop()}]\n`;
  const shown = [...stacks].map(([text, names]) => `${names.length} thread(s): ${names.join(', ')}\n${text}`);
  return `[thread stacks, gdb:]\n${shown.join('\n')}\n`;
}

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
let passed = 0;
let failed = 0;
const failures = [];

const files = findTests(path.join(root, 'tests'))
  .filter((f) => !filter || f.includes(filter))
  .filter((f) => !exclude.some((e) => path.relative(root, f).includes(e)));
// SOTR_TEST_JOBS=N runs N test files at once (default 1: one after another), each file's line printed as it ends:
// for a machine with many cores and a time budget (scripts/gpu-check.sh's stage 5). Timing-sensitive tests are
// written for one file at a time.
const jobs = Math.max(1, Math.floor(Number(process.env.SOTR_TEST_JOBS || 1)) || 1);
// uvu's summary of a test file's output.
const counts = (text) => ({
  total: Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? 0),
  ok: Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? 0),
  skipped: Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0),
});
function report(file, r) {
  const rel = path.relative(root, file);
  const text = strip(r.out);
  const { total, ok, skipped } = counts(text);
  let bad = total - ok; // uvu's Total leaves the skipped tests out
  if (r.code !== 0 && bad === 0) bad = 1; // crashed, timed out or failed outside a test
  // No summary at all: uvu's reporter itself failed (it throws on an error whose `details` is an object, then exits 0).
  if (!/Total:\s+\d+/.test(text) && bad === 0) bad = 1;
  passed += ok;
  failed += bad;
  console.log(`${bad ? 'FAIL' : 'ok  '} ${rel}  ${ok}/${total}${skipped ? ` (${skipped} skipped)` : ''}  ${(r.ms / 1000).toFixed(1)} s`);
  if (bad) {
    failures.push(rel);
    console.log(text.split('\n').map((l) => '    ' + l).join('\n'));
  }
}
// uvu's reporter, made to print an error's object `details` (tests/helpers/uvu_details_hook.mjs says why).
const detailsHook = pathToFileURL(path.join(root, 'tests', 'helpers', 'uvu_details_hook.mjs')).href;
let nextFile = 0;
await Promise.all(
  Array.from({ length: Math.min(jobs, files.length) }, async () => {
    while (nextFile < files.length) {
      const file = files[nextFile++];
      const r = await run(process.execPath, [file]);
      // Failed tests counted but no FAIL block shown (uvu's reporter threw on the error): run the file again with
      // the hook, only to show the messages; the first run's counts stand.
      const text = strip(r.out);
      const { total, ok } = counts(text);
      if (total > ok && !/FAIL\s+"/.test(text)) {
        const again = await run(process.execPath, ['--import', detailsHook, file]);
        r.out += `\n[run again with tests/helpers/uvu_details_hook.mjs, to show what uvu's reporter could not print:]\n${again.out}`;
      }
      report(file, r);
    }
  }),
);

// The native op test, built by `npm install` next to the addon: at the CPU's SIMD level (or SOTR_CPU_SIMD's), then
// again dispatched at the scalar and AVX2 levels (the timed cases skipped there): a bug in one level's kernel only
// (an AVX2 tail mask, a scalar im2col) shows at that level alone, and the default run takes the highest one.
// A level above the CPU's runs at the CPU's (the binary caps it).
if ((!filter || 'native'.includes(filter)) && !exclude.includes('native') && !noBinaries) {
  const bin = path.join(root, 'build', 'sotr_test_ops');
  if (existsSync(bin)) {
    for (const level of [null, 'scalar', 'avx2']) {
      const r = level
        ? await run(bin, ['--no-time', '--skip-timed'], { env: { ...process.env, FORCE_COLOR: '0', SOTR_CPU_SIMD: level } })
        : await run(bin, ['--no-time']);
      const m = /(\d+) passed, (\d+) failed/.exec(r.out);
      const ok = Number(m?.[1] ?? 0);
      let bad = Number(m?.[2] ?? 0);
      if (r.code !== 0 && bad === 0) bad = 1;
      passed += ok;
      failed += bad;
      const title = `native op test (build/sotr_test_ops${level ? `, SOTR_CPU_SIMD=${level}` : ''})`;
      console.log(`${bad ? 'FAIL' : 'ok  '} ${title}  ${ok}/${ok + bad}  ${(r.ms / 1000).toFixed(1)} s`);
      if (bad) {
        failures.push(title);
        console.log(r.out.split('\n').filter((l) => !/^\s+ok /.test(l)).map((l) => '    ' + l).join('\n'));
      }
    }
  } else {
    failed += 1;
    failures.push('native op test (build/sotr_test_ops missing: run npm install)');
    console.log('FAIL native op test: build/sotr_test_ops not found (run npm install)');
  }
}

// Standalone native tests, each counted as one test (they print "N checks, M failures"; tests/native/check.h).
const CHECK_BINARIES = [
  // [filter word, exclude word, binary in build/, title]
  ['gemm', 'gemm', 'sotr_test_gemm_cpu', 'CPU GEMM core test'],
  ['winograd', 'native', 'sotr_test_conv2d_winograd_cuda', 'CUDA Winograd emulation'],
  ['ldmatrix', 'native', 'sotr_test_gemm_tc_ldmatrix_emu', 'GEMM ldmatrix variant emulation'],
];
for (const [word, excludeWord, name, title] of CHECK_BINARIES) {
  if ((filter && !word.includes(filter)) || exclude.includes(excludeWord) || noBinaries) continue;
  const bin = path.join(root, 'build', name);
  if (!existsSync(bin)) continue;
  const r = await run(bin, []);
  const m = /(\d+) checks, (\d+) failures/.exec(r.out);
  const ok = r.code === 0 && m && m[2] === '0';
  ok ? passed++ : failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${title} (build/${name})  ${m ? `${m[1]} checks, ${m[2]} failures` : 'no summary'}  ${(r.ms / 1000).toFixed(1)} s`);
  if (!ok) {
    failures.push(title);
    console.log(r.out.split('\n').slice(-30).map((l) => '    ' + l).join('\n'));
  }
}

// A check script run as part of the suite: each of its "ok   …" / "FAIL …" lines (matching `resultRe`) is one test
// here; lines matching `notesRe` (skips, summaries) are echoed; a failing exit with no FAIL line is one failure, and
// `detail(lines)` is shown when it exits non-zero.
async function scriptTests(name, script, timeoutS, { label, resultRe, notesRe, detail }) {
  const r = await run('bash', [path.join(root, 'scripts', script)], {}, timeoutS);
  const lines = strip(r.out).split('\n');
  const results = lines.filter((l) => resultRe.test(l));
  for (const l of results) {
    const ok = l.startsWith('ok');
    ok ? passed++ : failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}${l.slice(5)}`);
    if (!ok) failures.push(`${label}${l.slice(5)}`);
  }
  for (const l of lines.filter((l) => notesRe.test(l))) console.log(`     ${l}`);
  if (r.code === 0) return;
  if (!results.some((l) => l.startsWith('FAIL'))) {
    failed++;
    failures.push(name);
    console.log(`FAIL ${name} (scripts/${script})`);
  }
  console.log(detail(lines).map((l) => '    ' + l).join('\n'));
}

// SOTR_TEST_ARM64=1 (CI): the native core and its tests cross-compiled for Linux arm64 and run under
// qemu-user (scripts/arm64-check.sh), each native test one test here. Skipped, with the reason, where the
// cross compiler or qemu cannot be had.
if (process.env.SOTR_TEST_ARM64 === '1' && (!filter || 'arm64'.includes(filter)) && !exclude.includes('arm64') && !noBinaries) {
  await scriptTests('arm64 check', 'arm64-check.sh', Number(process.env.SOTR_TEST_ARM64_TIMEOUT_S || 2400), {
    label: 'arm64 (qemu): ',
    resultRe: /^(ok  |FAIL) /,
    notesRe: /^arm64 check skipped/,
    detail: (lines) => lines.slice(-40),
  });
}

// SOTR_TEST_SANITIZE=1 (CI): the native core and its Node-free tests built with AddressSanitizer and
// UndefinedBehaviorSanitizer, and with ThreadSanitizer (scripts/sanitize-check.sh), each native test one test here.
if (process.env.SOTR_TEST_SANITIZE === '1' && (!filter || 'sanitize'.includes(filter)) && !exclude.includes('sanitize') && !noBinaries) {
  await scriptTests('sanitize check', 'sanitize-check.sh', Number(process.env.SOTR_TEST_SANITIZE_TIMEOUT_S || 2400), {
    label: '',
    resultRe: /^(ok  |FAIL) /,
    notesRe: /^sanitize check: /,
    detail: (lines) => lines.slice(-60),
  });
}

// SOTR_TEST_CLANG=1 (CI): the native core built with Clang for x86-64 (an Intel Mac's compiler; scripts/clang-check.sh)
// and its Node-free tests, each one test here. Skipped, with the reason, where clang++ cannot be had.
if (process.env.SOTR_TEST_CLANG === '1' && (!filter || 'clang'.includes(filter)) && !exclude.includes('clang') && !noBinaries) {
  await scriptTests('clang check', 'clang-check.sh', Number(process.env.SOTR_TEST_CLANG_TIMEOUT_S || 1200), {
    label: '',
    resultRe: /^(ok  |FAIL) /,
    notesRe: /^clang check/,
    detail: (lines) => lines.slice(-40),
  });
}

// SOTR_TEST_NODES=1 (CI): the test files under other Node.js versions, fetched from the registry; skipped, with
// the reason, where they cannot be fetched.
if (process.env.SOTR_TEST_NODES === '1' && (!filter || 'nodes'.includes(filter)) && !exclude.includes('nodes')) {
  await scriptTests('node-versions check', 'node-versions-check.sh', Number(process.env.SOTR_TEST_NODES_TIMEOUT_S || 2700), {
    label: '',
    resultRe: /^(ok  |FAIL) node /,
    notesRe: /^node-versions check skipped|^node v[\d.]+: /,
    detail: (lines) => lines.filter((l) => /^    /.test(l)).slice(0, 120),
  });
}

const floor = JSON.parse(readFileSync(path.join(root, 'tests', 'test-floor.json'), 'utf8')).minimumTests;
if (!filter && !exclude.length && !noBinaries && passed + failed < floor) {
  console.log(`FAIL test count ${passed + failed} is below the floor of ${floor} (tests/test-floor.json)`);
  failed += 1;
}
if (failures.length) console.log(`failed: ${failures.join(', ')}`);
console.log(`${passed} passed, ${failed} failed`);
// exitCode, not process.exit: every child has ended, so the process ends by itself (process.exit can hang under
// Node 24: ts/cli/exit_now.ts).
process.exitCode = failed ? 1 : 0;
