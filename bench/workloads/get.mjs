// get: random point reads of existing keys.
import { makeKeys, valueAt, prng, verifySample, check } from './common.mjs';
import { tiny } from '../lib/stats.mjs';

export const title = 'get: random point reads';
export const metric = 'gets/s';
export const better = 'higher';
export const baseline = 'btree';
export const notes = 'Uniformly random existing keys; tinybench times blocks of 100 reads. Every value is decoded to an object (lmdb and EpochDB via their codecs, SQLite and LevelDB via msgpackr).';

export const cases = () => [
  { name: 'btree', engine: 'btree' },
  { name: 'map', engine: 'map' },
  { name: 'epochdb', engine: 'epochdb' },
  { name: 'lmdb', engine: 'lmdb', params: { durable: false } },
  { name: 'sqlite', engine: 'sqlite', params: { durable: false } },
  { name: 'level', engine: 'level', params: { durable: false } },
];

export async function run({ n, create, time }) {
  const keys = makeKeys(n);
  const db = await create();
  await db.load(keys, keys.map((_, i) => valueAt(i)));
  await verifySample(db, n, { what: 'get (before)' });
  const rnd = prng(11);
  let sink = 0;
  let misses = 0;
  const r = await tiny('get', () => {
    for (let k = 0; k < 100; k++) {
      const i = (rnd() * n) | 0;
      const v = db.get(keys[i]);
      if (v.id !== i) misses++;
      sink += v.score;
    }
  }, { time, opsPerCall: 100 });
  check(misses === 0, `get: ${misses} reads returned the wrong value`);
  const verified = await verifySample(db, n, { what: 'get (after)', seed: 12 });
  await db.close();
  return [{ value: r.opsPerSec, extra: { verified: verified + ' + every timed read', sink: sink > 0 ? 'ok' : '?' } }];
}
