// snapshot: time to open (and release) a snapshot as the store grows, and reads from a
// snapshot while writes continue.
import { keyAt, valueAt, prng, check, expectValue } from './common.mjs';
import { tiny } from '../lib/stats.mjs';

export const title = 'snapshot: open + release time by store size, and snapshot reads under writes';
export const metric = 'µs/open (reads/s under writes)';
export const better = 'lower';
export const baseline = 'btree';
export const notes = 'EpochDB `snapshot()` + `release()`; the raw btree `clone()` (also O(1), copy-on-write); lmdb `useReadTransaction()` + `done()`. "reads under writes": random reads from a snapshot opened before a writer overwrites random keys in the same event loop (reads/s; the "x no writes" column compares with the same reads with no writer). Every snapshot read is checked to see the pre-snapshot value.';

export const sizes = (quick) => (quick ? [1_000, 10_000, 100_000] : [1_000, 100_000, 1_000_000]);
const label = (s) => (s >= 1e6 ? `${s / 1e6}M keys` : `${s / 1e3}k keys`);

export const cases = () => [
  { name: 'btree', engine: 'btree' },
  { name: 'epochdb', engine: 'epochdb' },
  { name: 'lmdb', engine: 'lmdb', params: { durable: false } },
];

function snapshotOps(kindName, db) {
  if (kindName === 'epochdb') return { open: () => db.db.snapshot(), get: (s, k) => s.get(k), release: (s) => s.release() };
  if (kindName === 'lmdb') return { open: () => db.db.useReadTransaction(), get: (s, k) => db.db.get(k, { transaction: s }), release: (s) => s.done() };
  return { open: () => db.tree.clone(), get: (s, k) => s.get(k), release: () => {} };
}

export async function run({ create, quick, time, seconds, engine }) {
  const db = await create();
  const ops = snapshotOps(engine, db);
  const rows = [];
  let loaded = 0;
  for (const size of sizes(quick)) {
    const keys = [];
    const values = [];
    for (let i = loaded; i < size; i++) { keys.push(keyAt(i)); values.push(valueAt(i)); }
    await db.load(keys, values);
    loaded = size;
    let sink = 0;
    const r = await tiny('snapshot', () => {
      for (let k = 0; k < 100; k++) { const s = ops.open(); sink += s ? 1 : 0; ops.release(s); }
    }, { time: Math.min(time, 500), opsPerCall: 100 });
    check(sink > 0, 'snapshot: nothing opened');
    rows.push({ group: label(size), value: 1000 * (1 / r.opsPerSec) * 1000, extra: { 'opens/s': r.opsPerSec } });
  }
  // Reads from a snapshot while a writer overwrites keys (generation 1) in the same loop.
  const n = loaded;
  const rnd = prng(41);
  const readFor = async (snap, ms, withWriter) => {
    let reads = 0;
    let writes = 0;
    let stop = false;
    const writer = withWriter ? (async () => {
      const w = prng(42);
      while (!stop) {
        const batch = [];
        for (let k = 0; k < 50; k++) { const i = (w() * n) | 0; batch.push(db.put(keyAt(i), valueAt(i, 1))); }
        await Promise.all(batch);
        writes += 50;
        await new Promise(setImmediate);
      }
    })() : null;
    const end = performance.now() + ms;
    const t0 = performance.now();
    while (performance.now() < end) {
      for (let k = 0; k < 500; k++) {
        const i = (rnd() * n) | 0;
        const v = ops.get(snap, keyAt(i));
        if (k === 0) expectValue(v, i, 0, 'snapshot read under writes');
        else if (v.gen !== 0 || v.id !== i) check(false, `snapshot: read generation ${v.gen} of ${keyAt(i)} through a snapshot opened before it was written`);
      }
      reads += 500;
      await new Promise(setImmediate); // let the writer run
    }
    const elapsed = performance.now() - t0;
    stop = true;
    await writer;
    return { readsPerSec: (reads / elapsed) * 1000, writesPerSec: (writes / elapsed) * 1000 };
  };
  const snap = ops.open();
  const quiet = await readFor(snap, seconds * 500, false);
  const busy = await readFor(snap, seconds * 500, true);
  ops.release(snap);
  rows.push({ group: 'reads under writes', value: busy.readsPerSec, extra: { 'x no writes': busy.readsPerSec / quiet.readsPerSec, 'writes/s meanwhile': busy.writesPerSec } });
  await db.close();
  return rows;
}
