// One-line-per-fact summary of a scripts/gpu-e2e.mjs JSON file (what gpu-check.sh prints for stages 4 and 4c).
//   node scripts/gpu-e2e-summary.mjs FILE [PREFIX]
import { readFileSync } from 'node:fs';

const [file, prefix = ''] = process.argv.slice(2);
const r = JSON.parse(readFileSync(file, 'utf8'));
const log = (line) => console.log(prefix + line);
if (r.skipped || r.error) { log(r.skipped ? `skipped: ${r.skipped}` : `ERROR: ${r.error.split("\n")[0]}`); }
if (r.reference) log(`reference ${r.reference.device}: ${r.reference.instances} instances, predict ${r.reference.predictMs} ms; checkpoint ${r.checkpoint.writeMs === "cached" ? "cached" : "written in " + r.checkpoint.writeMs + " ms"}`);
for (const x of r.runs ?? []) {
  if (x.skipped) { log(`${x.precision}: skipped (${x.skipped})`); continue; }
  if (x.error) log(`${x.precision}: ERROR ${x.error.split("\n")[0]}`);
  if (!x.compare) continue;
  const c = x.compare, m = x.memory, b = x.batch1;
  log(`${x.precision}: trace ${x.traceAgrees ? "agrees" : "DIFFERS"}; matched ${c.matched}/${c.ref} (dev ${c.dev}, other label ${c.matchedOtherLabel}), IoU min ${c.iou.min} median ${c.iou.median}, |dscore| max ${c.scoreAbsDiff.max}; stage NMSE ${Object.entries(x.stageNmse).map(([k, v]) => k + " " + v).join(", ")}`);
  const o = x.opProfile;
  if (o) log(`${x.precision}: op profile ${o.device}: busy ${o.deviceBusyMs} ms, idle between ops ${o.deviceIdleMs} ms (${(100 * o.deviceIdleShare).toFixed(1)}%, ${o.deviceCalls} ops, ${o.deviceTimed ? "events" : "host clock"}), predict ${o.predictMs} ms; top ${o.top.slice(0, 5).map((t) => t.op + "@" + t.device + " " + t.totalMs + " ms/" + t.calls).join(", ")}; idle before ${o.topIdleBefore.slice(0, 3).map((t) => t.op + " " + t.idleBeforeMs + " ms").join(", ")}`);
  if (o?.topByShape) log(`${x.precision}: by shape ${o.topByShape.slice(0, 6).map((t) => t.op + " [" + t.shape + "] " + t.totalMs + " ms/" + t.calls).join("; ")}`);
  const dfr = x.deferred;
  if (dfr) log(dfr.skipped ? `${x.precision}: deferred ops A/B skipped (${dfr.skipped})` : `${x.precision}: deferred ops A/B: awaited ${dfr.awaitedMedianMs} ms vs deferred ${dfr.deferredMedianMs} ms (${dfr.pairs} pairs), same instances ${dfr.sameInstances}, device idle ${dfr.deviceIdleMs} ms (${(100 * dfr.deviceIdleShare).toFixed(1)}%)${dfr.peakAwaitedMiB != null ? `, peak MiB awaited ${dfr.peakAwaitedMiB} / deferred ${dfr.peakDeferredMiB} (both models' weights live)` : ''}`);
  if (!b || !m) continue;
  if (x.profilePeakMiB) log(`${x.precision}: peak MiB after each stage (profiled) ${JSON.stringify(x.profilePeakMiB)}`);
  log(`${x.precision}: load ${x.loadMs} ms, first ${x.firstMs} ms, batch 1 median ${b.medianMs} ms (p10 ${b.p10Ms}, p90 ${b.p90Ms}, ${b.reps} reps), batch ${x.batchN?.images ?? "-"}: ${x.batchN?.imagesPerS ?? x.batchN?.skipped ?? "-"} img/s; memory ${m.device} live ${m.liveFirstMiB}->${m.liveLastMiB} MiB, reserved ${m.reservedFirstMiB}->${m.reservedLastMiB}, peak ${m.peakSoFarMiB} (warm batch 1: ${m.peakBatch1MiB}), driver ${m.driverViewMiB}, RSS ${m.rssFirstMiB}->${m.rssLastMiB}: ${m.flat ? "flat" : "NOT FLAT"}`);
}
if (r.ok !== undefined) log(`ok: ${r.ok}; ${r.wallS} s`);
