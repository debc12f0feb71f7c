// scan100: range scans of 100 entries from random existing start keys.
import { makeKeys, valueAt, prng, check, expectValue } from './common.mjs';
import { tiny } from '../lib/stats.mjs';

export const title = 'scan100: range scans of 100 from random starts';
export const metric = 'scans/s';
export const better = 'higher';
export const baseline = 'btree';
export const notes = 'Each scan materializes 100 [key, value] pairs with decoded values (EpochDB `scan({ gte, limit })`, lmdb `getRange`, SQLite `WHERE k >= ? ORDER BY k LIMIT 100`, LevelDB `iterator().all()`); tinybench times blocks of 10 scans. 200 scans are checked against a sorted-array oracle.';

export const cases = () => [
  { name: 'btree', engine: 'btree' },
  { name: 'epochdb', engine: 'epochdb' },
  { name: 'lmdb', engine: 'lmdb', params: { durable: false } },
  { name: 'sqlite', engine: 'sqlite', params: { durable: false } },
  { name: 'level', engine: 'level', params: { durable: false } },
];

async function verifyScans(db, keys, sorted, position, seed) {
  const rnd = prng(seed);
  const n = keys.length;
  for (let s = 0; s < 200; s++) {
    const start = keys[(rnd() * n) | 0];
    const rows = db.asyncScan ? await db.scan(start, 100) : db.scan(start, 100);
    const p = position.get(start);
    const expected = Math.min(100, n - p);
    check(rows.length === expected, `scan100: ${rows.length} rows from ${start}, expected ${expected}`);
    for (let j = 0; j < rows.length; j++) {
      check(rows[j][0] === sorted[p + j], `scan100: row ${j} from ${start} is ${rows[j][0]}, expected ${sorted[p + j]}`);
      if (j % 10 === 0) expectValue(rows[j][1], rows[j][1]?.id, 0, 'scan100');
      check(keys[rows[j][1].id] === rows[j][0], `scan100: value of ${rows[j][0]} belongs to another key`);
    }
  }
  return 200;
}

export async function run({ n, create, time }) {
  const keys = makeKeys(n);
  const sorted = [...keys].sort();
  const position = new Map(sorted.map((k, i) => [k, i]));
  const db = await create();
  await db.load(keys, keys.map((_, i) => valueAt(i)));
  await verifyScans(db, keys, sorted, position, 21);
  const rnd = prng(22);
  let rows = 0;
  const fn = db.asyncScan
    ? async () => { for (let k = 0; k < 10; k++) rows += (await db.scan(keys[(rnd() * n) | 0], 100)).length; }
    : () => { for (let k = 0; k < 10; k++) rows += db.scan(keys[(rnd() * n) | 0], 100).length; };
  const r = await tiny('scan100', fn, { time, opsPerCall: 10 });
  check(rows > 0, 'scan100: no rows');
  const verified = await verifyScans(db, keys, sorted, position, 23);
  await db.close();
  return [{ value: r.opsPerSec, extra: { 'entries/s': r.opsPerSec * 100, verified: `${verified} scans` } }];
}
