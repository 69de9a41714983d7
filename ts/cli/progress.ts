/**
 * Progress on stderr: a bar with images/s and ETA on a terminal (redrawn at
 * most 10 times a second), a plain line every few seconds otherwise, nothing
 * with --quiet.
 */

export type ProgressMode = 'bar' | 'lines' | 'none';

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  s = Math.round(s);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export class Progress {
  #done = 0;
  #failed = 0;
  #t0 = performance.now();
  #lastDraw = 0;
  #lastLine = 0;
  #drawn = false;
  #finished = false;
  // Rate over a sliding window, so the ETA follows the current speed (the first batch pays warm-up).
  #window: Array<[number, number]> = [];

  constructor(
    readonly total: number,
    readonly mode: ProgressMode,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly lineEveryMs = 5000,
  ) {}

  get done(): number {
    return this.#done;
  }

  /** Images per second over the last ~20 s (or since the start). */
  rate(): number {
    const now = performance.now();
    const w = this.#window;
    if (w.length < 2) {
      const el = (now - this.#t0) / 1000;
      return el > 0 ? this.#done / el : 0;
    }
    const [t0, n0] = w[0]!;
    const [t1, n1] = w[w.length - 1]!;
    return t1 > t0 ? ((n1 - n0) * 1000) / (t1 - t0) : 0;
  }

  tick(n: number, failed = 0): void {
    this.#done += n;
    this.#failed += failed;
    const now = performance.now();
    this.#window.push([now, this.#done]);
    while (this.#window.length > 2 && now - this.#window[0]![0] > 20_000) this.#window.shift();
    this.render(false);
  }

  text(): string {
    const r = this.rate();
    const left = this.total - this.#done;
    const eta = r > 0 ? formatDuration(left / r) : '--:--';
    const pct = this.total ? Math.floor((100 * this.#done) / this.total) : 100;
    const fail = this.#failed ? `, ${this.#failed} failed` : '';
    return `${this.#done}/${this.total} ${this.total === 1 ? 'image' : 'images'} (${pct}%${fail}), ${r.toFixed(r < 10 ? 2 : 1)} images/s, ETA ${eta}`;
  }

  render(force: boolean): void {
    if (this.#finished) return;
    const now = performance.now();
    if (this.mode === 'bar') {
      if (!force && now - this.#lastDraw < 100) return;
      this.#lastDraw = now;
      const cols = Math.max(20, (this.stream.columns || 80) - 1);
      const text = this.text();
      const barW = Math.max(10, Math.min(40, cols - text.length - 3));
      const fill = this.total ? Math.round((barW * this.#done) / this.total) : barW;
      const line = `[${'#'.repeat(fill)}${'.'.repeat(barW - fill)}] ${text}`.slice(0, cols);
      this.stream.write(`\r${line}\x1b[K`);
      this.#drawn = true;
    } else if (this.mode === 'lines') {
      if (!force && now - this.#lastLine < this.lineEveryMs) return;
      this.#lastLine = now;
      this.stream.write(`sotr: ${this.text()}\n`);
    }
  }

  /** Clears the bar line so other messages print cleanly (the bar comes back with the next update). */
  clear(): void {
    if (this.mode === 'bar' && this.#drawn) {
      this.stream.write('\r\x1b[K');
      this.#drawn = false;
    }
  }

  /** Prints a message above the bar. */
  log(msg: string): void {
    this.clear();
    this.stream.write(msg.endsWith('\n') ? msg : msg + '\n');
    if (this.mode === 'bar') this.render(true);
  }

  /** Draws the final state; later messages print as plain lines. */
  finish(): void {
    if (this.mode === 'bar') {
      this.render(true);
      this.stream.write('\n');
      this.#drawn = false;
    }
    this.#finished = true;
  }
}
