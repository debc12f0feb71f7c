// mixed: 90% reads / 10% writes from many concurrent async clients.
import { keyAt, valueAt, prng, check, loadN, verifySample } from './common.mjs';
import { latencySummary } from '../lib/stats.mjs';

export const title = 'mixed: 90% reads / 10% writes, 64 concurrent async clients';
export const metric = 'ops/s';
export const better = 'higher';
export const baseline = 'btree';
export const notes = 'Each client loops: a random read (checked) or, one time in ten, an awaited overwrite of a random key. Persistent engines write durably (EpochDB sync \'always\', lmdb sync, SQLite synchronous=FULL, LevelDB sync: true); EpochDB (memory) and the in-memory limits acknowledge at once. Latencies are per operation.';

export const cases = () => [
  { name: 'btree', engine: 'btree' },
  { name: 'map', engine: 'map' },
  { name: 'epochdb (memory)', engine: 'epochdb' },
  { name: "epochdb sync='always'", engine: 'epochdb', params: { persistent: true, sync: 'always' } },
  { name: 'lmdb', engine: 'lmdb', params: { durable: true } },
  { name: 'sqlite', engine: 'sqlite', params: { durable: true } },
  { name: 'level', engine: 'level', params: { durable: true } },
];

export async function run({ n, create, seconds }) {
  const db = await create();
  await loadN(db, n);
  const clients = 64;
  const latencies = [];
  const writeLatencies = [];
  let reads = 0;
  let writes = 0;
  let wrong = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  const client = async (c) => {
    const rnd = prng(100 + c);
    while (performance.now() < deadline) {
      const i = (rnd() * n) | 0;
      const key = keyAt(i);
      const t = performance.now();
      if (rnd() < 0.9) {
        let v = db.get(key);
        if (db.asyncReads) v = await v;
        else await null; // yield like an async client would
        if (v?.id !== i) wrong++;
        reads++;
        latencies.push(performance.now() - t);
      } else {
        await db.put(key, valueAt(i, 1));
        writes++;
        const d = performance.now() - t;
        latencies.push(d);
        writeLatencies.push(d);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  const elapsed = performance.now() - t0;
  check(wrong === 0, `mixed: ${wrong} reads returned the wrong entry`);
  // Every key holds generation 0 or 1; a sample of keys this run never wrote still reads generation 0.
  const all = latencySummary(latencies);
  const w = latencySummary(writeLatencies);
  await db.close();
  return [{ value: ((reads + writes) / elapsed) * 1000, p50: all.p50, p99: all.p99, extra: { 'write p99 ms': w.p99, reads, writes } }];
}

export { verifySample };
