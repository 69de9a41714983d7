// The model's turns under random concurrent use: rounds of predict (single and arrays), predictEach (sync and async
// sources, slow consumers, early exits, sources that throw) and aborts, all at once on one model, at pipeline depth 1
// and 2. Each outcome must be the image's own result (equal to its result alone: interleaving must not change a
// prediction) or a typed error of that image (or the source's own error); nothing may hang; afterwards nothing is
// pending and a prediction starts at once (no turn leaked). The last round disposes the model in the middle.
// SOTR_FUZZ_SEED / SOTR_FUZZ_CALLS (rounds) for longer runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sotr, AbortError, DisposedError, ImageDecodeError } from '../../dist/index.js';
import { fixturePath, instanceSummary as summary } from './helpers.mjs';
import { seededRandom, isTypedError } from '../helpers/fuzz.mjs';

const ROUNDS = Number(process.env.SOTR_FUZZ_CALLS || 6);
const IMAGES = ['img_ratio3.png', 'img_land.png', 'img_pal.png'].map(fixturePath);
const CORRUPT = Buffer.from('definitely not an image');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const load = (o = {}) => Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 40, maxSize: 400, ...o });

/** Settles within ms or fails the test naming what hung. */
function within(ms, p, what) {
  let timer;
  const t = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms (a hang)`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function fuzz(depth) {
  const rnd = seededRandom(1000 + depth);
  const prev = process.env.SOTR_PIPELINE_DEPTH;
  process.env.SOTR_PIPELINE_DEPTH = String(depth); // read when the model loads
  const m = await load();
  if (prev === undefined) delete process.env.SOTR_PIPELINE_DEPTH;
  else process.env.SOTR_PIPELINE_DEPTH = prev;
  const alone = new Map();
  for (const x of IMAGES) alone.set(x, summary(await m.predict(x)));
  const problems = [];
  const seed = rnd.state();
  // An image: mostly good ones, sometimes a corrupt one.
  const image = () => (rnd.r01() < 0.2 ? CORRUPT : rnd.pick(IMAGES));
  const checkResult = (img, r, where) => {
    if (img === CORRUPT) problems.push(`${where}: a corrupt image gave a result`);
    else if (JSON.stringify(summary(r)) !== JSON.stringify(alone.get(img))) problems.push(`${where}: ${img} gave another result than alone`);
  };
  const checkError = (img, e, where, aborted) => {
    if (e instanceof AbortError && aborted) return;
    if (e instanceof ImageDecodeError && img === CORRUPT) return;
    problems.push(`${where}: ${e?.constructor?.name}: ${e?.message}${isTypedError(e) ? '' : ' (untyped)'}`);
  };

  for (let round = 0; round < ROUNDS; round++) {
    const last = round === ROUNDS - 1;
    const jobs = [];
    const n = rnd.int(2, 5);
    for (let j = 0; j < n; j++) {
      const kind = rnd.pick(['one', 'many', 'each', 'each-async']);
      const ac = rnd.r01() < 0.3 ? new AbortController() : null;
      const abortAfter = rnd.int(0, 60);
      if (ac) setTimeout(() => ac.abort(), abortAfter);
      const where = `round ${round} job ${j} (${kind}${ac ? `, abort at ${abortAfter} ms` : ''})`;
      const opts = ac ? { signal: ac.signal } : {};
      if (kind === 'one') {
        const img = image();
        jobs.push(
          m.predict(img, opts).then(
            (r) => checkResult(img, r, where),
            (e) => (last && e instanceof DisposedError ? null : checkError(img, e, where, ac?.signal.aborted)),
          ),
        );
      } else if (kind === 'many') {
        const imgs = Array.from({ length: rnd.int(1, 4) }, image);
        jobs.push(
          m.predict(imgs, opts).then(
            (rs) => (rs.length !== imgs.length ? problems.push(`${where}: ${rs.length} results for ${imgs.length}`) : rs.forEach((r, i) => checkResult(imgs[i], r, where))),
            (e) => {
              if (last && e instanceof DisposedError) return;
              if (e instanceof ImageDecodeError && imgs.includes(CORRUPT)) return;
              checkError(null, e, where, ac?.signal.aborted);
            },
          ),
        );
      } else {
        const imgs = Array.from({ length: rnd.int(1, 6) }, image);
        const throwAt = rnd.r01() < 0.2 ? rnd.int(0, imgs.length - 1) : -1;
        const breakAt = rnd.r01() < 0.25 ? rnd.int(0, imgs.length - 1) : -1;
        const delay = rnd.pick([0, 0, 5, 20]);
        let closed = false;
        function* images() {
          try {
            for (let i = 0; i < imgs.length; i++) {
              if (i === throwAt) throw new Error('source failed');
              yield imgs[i];
            }
          } finally {
            closed = true;
          }
        }
        async function* slowly() {
          for (const x of images()) {
            yield x;
            await sleep(rnd.int(0, 3));
          }
        }
        const source = kind === 'each' ? images() : slowly();
        jobs.push(
          (async () => {
            let expect = 0;
            try {
              for await (const item of m.predictEach(source, opts)) {
                if (item.index !== expect++) problems.push(`${where}: item ${item.index} where ${expect - 1} was due`);
                if (item.error) checkError(imgs[item.index], item.error, where, ac?.signal.aborted);
                else checkResult(imgs[item.index], item.prediction, where);
                if (delay) await sleep(delay);
                if (item.index === breakAt) break;
              }
              const complete = breakAt < 0 && throwAt < 0 && !ac?.signal.aborted;
              if (complete && expect !== imgs.length) problems.push(`${where}: ${expect} items of ${imgs.length}`);
            } catch (e) {
              if (e?.message === 'source failed' && throwAt >= 0) return;
              if (last && e instanceof DisposedError) return;
              checkError(null, e, where, ac?.signal.aborted);
            } finally {
              // An abort that came while the async source was producing ends the iteration at once; the source is
              // closed once it answers (within its few ms of sleep here).
              for (let k = 0; k < 100 && !closed && ac?.signal.aborted; k++) await sleep(5);
              if (!closed && throwAt < 0 && !(last && m.disposed)) problems.push(`${where}: the source was left open`);
            }
          })(),
        );
      }
    }
    if (last) {
      await sleep(rnd.int(0, 40));
      jobs.push(m.dispose());
    }
    await within(60_000, Promise.all(jobs), `depth ${depth} round ${round} (seed ${seed})`);
    if (!last) {
      if (m.pendingImages !== 0) problems.push(`round ${round}: ${m.pendingImages} images still pending`);
      // No turn leaked: a prediction runs now.
      const r = await within(20_000, m.predict(IMAGES[0]), `depth ${depth} round ${round}: a prediction after the round`);
      checkResult(IMAGES[0], r, `round ${round}: after`);
    }
  }
  assert.ok(m.disposed);
  assert.equal(problems, [], `depth ${depth}, seed ${seed}:\n${problems.join('\n')}`);
}

test('random concurrent predict / predictEach / aborts / early exits, one image at a time', () => fuzz(1));
test('the same with two images running at once (the GPU pipeline)', () => fuzz(2));

test.run();
