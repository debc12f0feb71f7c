// durable-seq: sequential awaited durable commits, one at a time.
import { keyAt, valueAt, verifyDurable } from './durable.mjs';
import { latencySummary } from '../lib/stats.mjs';

export const title = 'durable-seq: sequential awaited durable commits';
export const metric = 'commits/s';
export const better = 'higher';
export const baseline = 'rawfs';
export const notes = 'One put at a time, each awaited until durable. rawfs: one msgpackr-encoded record per commit, `writeSync` + `fdatasyncSync` on the same disk (the durability limit). EpochDB sync \'always\', lmdb (sync on commit), SQLite (WAL, synchronous=FULL, autocommit), LevelDB (`sync: true`). After the run each engine is reopened and a sample of acknowledged writes (always including the last) is read back.';

export const cases = () => [
  { name: 'rawfs', engine: 'rawfs' },
  { name: "epochdb sync='always'", engine: 'epochdb', params: { persistent: true, sync: 'always', checkpointOnClose: false } },
  { name: 'lmdb', engine: 'lmdb', params: { durable: true } },
  { name: 'sqlite', engine: 'sqlite', params: { durable: true } },
  { name: 'level', engine: 'level', params: { durable: true } },
];

export async function run({ create, seconds, engine, dir }) {
  const db = await create();
  const latencies = [];
  let i = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  while (performance.now() < deadline) {
    const t = performance.now();
    await db.put(keyAt(i), valueAt(i));
    latencies.push(performance.now() - t);
    i++;
  }
  const elapsed = performance.now() - t0;
  await db.close();
  const verified = await verifyDurable({ db, engine, dir, written: i });
  const { p50, p99 } = latencySummary(latencies);
  return [{ value: (i / elapsed) * 1000, p50, p99, extra: { commits: i, verified } }];
}
