/**
 * A small pool of CLI worker threads (worker.ts). Jobs go to the least busy
 * worker; decode jobs are answered in submission order by the caller's queue,
 * not here. A worker that dies is replaced and its jobs fail with the reason.
 */
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import type { DecodeDone, DecodeJob, LabelsDone, LabelsJob, VizDone, VizJob, WorkerConfig } from './worker';

type Job = DecodeJob | VizJob | LabelsJob;
type Done = DecodeDone | VizDone | LabelsDone;
type JobInput = Omit<DecodeJob, 'id'> | Omit<VizJob, 'id'> | Omit<LabelsJob, 'id'>;

interface Slot {
  worker: Worker;
  pending: Map<number, { job: Job; resolve: (d: Done) => void }>;
}

export class WorkerPool {
  #slots: Slot[] = [];
  #next = 1;
  #closed = false;
  readonly size: number;

  constructor(
    size: number,
    private readonly config: WorkerConfig,
  ) {
    this.size = Math.max(1, size);
    for (let i = 0; i < this.size; i++) this.#slots.push(this.#spawn());
  }

  #spawn(): Slot {
    const worker = new Worker(path.join(__dirname, 'worker.js'), { workerData: this.config });
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (d: Done) => {
      const p = slot.pending.get(d.id);
      if (!p) return;
      slot.pending.delete(d.id);
      p.resolve(d);
    });
    const fail = (why: string) => {
      const jobs = [...slot.pending.values()];
      slot.pending.clear();
      for (const p of jobs) p.resolve({ kind: p.job.kind, id: p.job.id, error: `worker thread failed: ${why}`, ms: 0 } as Done);
      const i = this.#slots.indexOf(slot);
      if (i >= 0 && !this.#closed) this.#slots[i] = this.#spawn();
    };
    worker.on('error', (e) => fail(e.message));
    worker.on('exit', (code) => {
      if (!this.#closed) fail(`exited with code ${code}`);
    });
    worker.unref();
    return slot;
  }

  run(job: Omit<DecodeJob, 'id'>): Promise<DecodeDone>;
  run(job: Omit<VizJob, 'id'>): Promise<VizDone>;
  run(job: Omit<LabelsJob, 'id'>): Promise<LabelsDone>;
  run(input: JobInput): Promise<Done> {
    const job = { ...input, id: this.#next++ } as Job;
    let slot = this.#slots[0]!;
    for (const s of this.#slots) if (s.pending.size < slot.pending.size) slot = s;
    return new Promise<Done>((resolve) => {
      slot.pending.set(job.id, { job, resolve });
      slot.worker.ref();
      slot.worker.postMessage(job);
    }).finally(() => {
      if (!slot.pending.size) slot.worker.unref();
    });
  }

  /** Jobs submitted and not answered yet. */
  get busy(): number {
    return this.#slots.reduce((n, s) => n + s.pending.size, 0);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
