// txn: read-modify-write transactions on a hot set of 100 keys from 16 concurrent clients.
import { keyAt, prng, check } from './common.mjs';

export const title = 'txn: read-modify-write transactions on a hot set of 100 keys, 16 concurrent clients';
export const metric = 'commits/s';
export const better = 'higher';
export const baseline = 'btree';
export const notes = 'Each transaction reads three hot keys, yields once (`await`), and increments a counter in two of them. EpochDB retries conflicts (`retries: 1000`); retries/commit counts re-runs of the callback. lmdb and SQLite run the same read-modify-write as one synchronous write transaction (writers serialize, so no conflicts). The btree row is the same read-modify-write with no isolation and no yield: the ceiling. Checked at the end: the counters sum to 2 x commits (no lost update).';

export const cases = () => [
  { name: 'btree', engine: 'btree' },
  { name: 'epochdb snapshot (memory)', engine: 'epochdb', params: { isolation: 'snapshot' } },
  { name: 'epochdb serializable (memory)', engine: 'epochdb', params: { isolation: 'serializable' } },
  { name: "epochdb snapshot sync='always'", engine: 'epochdb', params: { persistent: true, sync: 'always', isolation: 'snapshot' } },
  { name: "epochdb serializable sync='always'", engine: 'epochdb', params: { persistent: true, sync: 'always', isolation: 'serializable' } },
  { name: 'lmdb', engine: 'lmdb', params: { durable: true } },
  { name: 'sqlite', engine: 'sqlite', params: { durable: true } },
];

const HOT = 100;

export async function run({ create, seconds, engine, params }) {
  const { isolation, ...openParams } = params ?? {};
  const db = await create(openParams);
  const keys = Array.from({ length: HOT }, (_, i) => keyAt(i));
  await db.load(keys, keys.map((_, i) => ({ id: i, count: 0 })));
  let commits = 0;
  let attempts = 0;
  let failed = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  const pick3 = (rnd) => {
    const a = (rnd() * HOT) | 0;
    let b = (rnd() * HOT) | 0; if (b === a) b = (b + 1) % HOT;
    let c = (rnd() * HOT) | 0; if (c === a || c === b) c = (Math.max(a, b) + 1) % HOT;
    return [keys[a], keys[b], keys[c]];
  };
  let rmw;
  if (engine === 'epochdb') {
    rmw = async ([ka, kb, kc]) => {
      await db.db.transaction(async (tx) => {
        attempts++;
        const a = tx.get(ka); const b = tx.get(kb); tx.get(kc);
        await null;
        tx.put(ka, { id: a.id, count: a.count + 1 });
        tx.put(kb, { id: b.id, count: b.count + 1 });
      }, { isolation, retries: 1000 });
    };
  } else if (engine === 'lmdb') {
    rmw = async ([ka, kb, kc]) => {
      await db.db.transaction(() => {
        attempts++;
        const a = db.db.get(ka); const b = db.db.get(kb); db.db.get(kc);
        db.db.put(ka, { id: a.id, count: a.count + 1 });
        db.db.put(kb, { id: b.id, count: b.count + 1 });
      });
      await db.flushed();
    };
  } else if (engine === 'sqlite') {
    rmw = async ([ka, kb, kc]) => {
      db.transaction(() => {
        attempts++;
        const a = db.get(ka); const b = db.get(kb); db.get(kc);
        db.put(ka, { id: a.id, count: a.count + 1 });
        db.put(kb, { id: b.id, count: b.count + 1 });
      });
    };
  } else {
    rmw = async ([ka, kb, kc]) => {
      attempts++;
      const a = db.get(ka); const b = db.get(kb); db.get(kc);
      db.put(ka, { id: a.id, count: a.count + 1 });
      db.put(kb, { id: b.id, count: b.count + 1 });
    };
  }
  const client = async (c) => {
    const rnd = prng(300 + c);
    while (performance.now() < deadline) {
      try { await rmw(pick3(rnd)); commits++; } catch (e) { if (e?.code === 'CONFLICT') failed++; else throw e; }
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, c) => client(c)));
  const elapsed = performance.now() - t0;
  let sum = 0;
  for (const k of keys) sum += db.get(k).count;
  check(sum === 2 * commits, `txn: counters sum to ${sum}, expected 2 x ${commits} commits (lost or phantom updates)`);
  await db.close();
  return [{ value: (commits / elapsed) * 1000, extra: { commits, 'retries/commit': (attempts - commits - failed) / Math.max(1, commits), 'gave up': failed } }];
}
