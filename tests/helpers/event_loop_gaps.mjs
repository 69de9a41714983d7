// The event loop's gaps while work runs: the worst interval between ticks of a timer, and how many ticks fired.
export async function eventLoopGaps(work, intervalMs = 1) {
  let last = performance.now();
  let worst = 0;
  let ticks = 0;
  const iv = setInterval(() => {
    const t = performance.now();
    worst = Math.max(worst, t - last);
    last = t;
    ticks++;
  }, intervalMs);
  const t0 = performance.now();
  try {
    const result = await work();
    return { result, ms: performance.now() - t0, worst, ticks };
  } finally {
    clearInterval(iv);
  }
}
