// durable-concurrent: 20k concurrent durable puts (group commit).
import { keyAt, valueAt, verifyDurable } from './durable.mjs';

export const title = 'durable-concurrent: 20k concurrent durable puts';
export const metric = 'puts/s';
export const better = 'higher';
export const baseline = 'rawfs';
export const notes = '20,000 puts issued in one go and awaited together (`Promise.all`), repeated for several rounds (median round). rawfs: the ideal group commit, every record of the round encoded and written with one `writeSync` + `fdatasyncSync`. EpochDB sync \'always\' (group commit), lmdb (async puts batched into transactions), LevelDB (`sync: true`, LevelDB groups concurrent writers). SQLite is left out: one connection has no concurrent writers (its rate is durable-seq\'s). Verified by reopening and reading back a sample.';

export const cases = () => [
  { name: 'rawfs', engine: 'rawfs' },
  { name: "epochdb sync='always'", engine: 'epochdb', params: { persistent: true, sync: 'always', checkpointOnClose: false } },
  { name: 'lmdb', engine: 'lmdb', params: { durable: true } },
  { name: 'level', engine: 'level', params: { durable: true } },
];

export async function run({ create, quick, engine, dir }) {
  const db = await create();
  const count = 20_000;
  const rounds = quick ? 3 : 7;
  const rates = [];
  let written = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const puts = new Array(count);
    for (let j = 0; j < count; j++) puts[j] = db.put(keyAt(written + j), valueAt(written + j));
    await Promise.all(puts);
    rates.push((count / (performance.now() - t0)) * 1000);
    written += count;
  }
  const syncs = engine === 'epochdb' ? db.db.stats().walSyncs : undefined;
  await db.close();
  const verified = await verifyDurable({ db, engine, dir, written });
  const sorted = [...rates].sort((a, b) => a - b);
  return [{ value: sorted[Math.floor(sorted.length / 2)], extra: { best: sorted.at(-1), rounds, ...(syncs ? { 'puts per fdatasync': written / syncs } : {}), verified } }];
}
