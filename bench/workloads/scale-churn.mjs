// scale/churn: event-loop delay (perf_hooks.monitorEventLoopDelay, p99 and max) while
// one writer overwrites random keys in small batches for `seconds` with a snapshot of
// the loaded state held open the whole time. The writer is paced (`churnRate`
// overwrites/s, default CHURN_RATE), so every engine does the same work per second and
// the delay is what a request arriving meanwhile would wait; an engine that cannot keep
// the pace writes flat out, one batch per event-loop turn (the achieved rate is reported).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { check, expectScaleValue, fullGc, keyAt, loadScale, memory, prng, scaleValueAt, settle, verifyScale } from './scale-common.mjs';

export const title = 'event-loop delay under an overwrite churn with a snapshot held';

/** Overwrites per batch: "small batches". */
export const CHURN_BATCH = 100;

/** Default pace of the writer, overwrites/s (a batch every 5 ms): below what every engine sustains at 5M keys today. */
export const CHURN_RATE = 20_000;

const ms = (ns) => ns / 1e6;
const turn = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (delay) => new Promise((resolve) => setTimeout(resolve, delay));

export async function run({ n, create, engine, seconds, churnRate = CHURN_RATE, phase }) {
  phase('open');
  const db = await create();
  await loadScale(db, n, phase);
  await settle(db, engine);
  fullGc();
  const before = memory();
  phase('churn');
  const snapshot = db.snapshot();
  const rnd = prng(31);
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let gen = 0;
  let last = [];
  const started = performance.now();
  const until = started + seconds * 1000;
  histogram.enable();
  while (performance.now() < until) {
    gen++;
    last = [];
    const pairs = [];
    for (let k = 0; k < CHURN_BATCH; k++) {
      const i = Math.floor(rnd() * n);
      last.push(i);
      pairs.push([keyAt(i), scaleValueAt(i, gen)]);
    }
    await db.putMany(pairs);
    // Wait for the next batch's due time; behind the pace, still yield one event-loop turn so timers (and the delay monitor) run.
    const due = started + (gen * CHURN_BATCH * 1000) / churnRate;
    const now = performance.now();
    if (now < due) await sleep(due - now); else await turn();
  }
  histogram.disable();
  const elapsed = performance.now() - started;
  phase('verify');
  const snapshotVerified = verifyScale(snapshot.get, n, { what: 'snapshot after churn', gen: 0 });
  for (const i of last) expectScaleValue(db.get(keyAt(i)), i, gen, 'last churn batch');
  const verified = verifyScale(db.get, n, { what: 'after churn', anyGen: true });
  check(histogram.count > 0, 'churn: the event-loop delay monitor recorded nothing');
  const stats = engine === 'epochdb' ? db.db.stats() : undefined;
  phase('gc');
  fullGc();
  const held = memory();
  snapshot.release();
  phase('close');
  await db.close();
  return {
    delayP50Ms: ms(histogram.percentile(50)),
    delayP99Ms: ms(histogram.percentile(99)),
    delayMaxMs: ms(histogram.max),
    delaySamples: histogram.count,
    overwrites: gen * CHURN_BATCH,
    overwritesPerSec: (gen * CHURN_BATCH * 1000) / elapsed,
    churnMs: elapsed,
    churnRate,
    // Growth of heap + off-heap while the snapshot pins the overwritten versions, per overwrite.
    heldBytesPerOverwrite: (held.heapUsed + held.offHeap - before.heapUsed - before.offHeap) / (gen * CHURN_BATCH),
    verified: verified + snapshotVerified + last.length,
    ...(stats ? { storedVersions: stats.storedVersions } : {}),
  };
}
