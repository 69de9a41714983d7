// Runs the same worker_threads code `count` times at once; each worker's first message is its result (the worker is
// terminated once it has sent it, whatever it left running).
import { Worker } from 'node:worker_threads';

export function firstMessages(code, count) {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve, reject) => {
          const w = new Worker(code, { eval: true });
          w.once('message', (m) => {
            resolve(m);
            w.terminate();
          });
          w.once('error', reject);
        }),
    ),
  );
}
