// load: bulk insert of N keys through each engine's natural bulk path (batches of 1000).
import { makeKeys, valueAt, verifySample, gc } from './common.mjs';

export const title = 'load: bulk insert of N keys';
export const metric = 'puts/s';
export const better = 'higher';
export const baseline = 'btree';
export const notes = 'Batches of 1000 (EpochDB `batch`, lmdb async puts awaited per 1000 = one transaction, SQLite one transaction per 1000, LevelDB `batch`); the raw btree and Map just `set`. Persistent engines commit durably (EpochDB sync \'always\', lmdb sync, SQLite WAL synchronous=FULL, LevelDB sync: true) except where the name says otherwise.';

export const cases = () => [
  { name: 'btree', engine: 'btree' },
  { name: 'map', engine: 'map' },
  { name: 'epochdb (memory)', engine: 'epochdb' },
  { name: "epochdb sync='always'", engine: 'epochdb', params: { persistent: true, sync: 'always' } },
  { name: "epochdb sync='interval'", engine: 'epochdb', params: { persistent: true, sync: 'interval' } },
  { name: "epochdb sync='none'", engine: 'epochdb', params: { persistent: true, sync: 'none' } },
  { name: 'lmdb', engine: 'lmdb', params: { durable: true } },
  { name: 'sqlite', engine: 'sqlite', params: { durable: true } },
  { name: 'level', engine: 'level', params: { durable: true } },
];

export async function run({ n, create }) {
  const keys = makeKeys(n);
  const values = keys.map((_, i) => valueAt(i));
  const db = await create();
  gc();
  const t0 = performance.now();
  await db.load(keys, values);
  const elapsed = performance.now() - t0;
  const verified = await verifySample(db, n, { what: 'load' });
  await db.close();
  return [{ value: (n / elapsed) * 1000, extra: { 'total ms': elapsed, verified } }];
}
