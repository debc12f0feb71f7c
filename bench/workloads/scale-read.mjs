// scale/read: random point gets and scan100 (100 entries from a random existing start)
// over a store of N keys, timed with tinybench like the side-by-side suite.
import { tiny } from '../lib/stats.mjs';
import { check, expectScaleValue, fullGc, keyAt, loadScale, sampleKeys, settle, verifyScale } from './scale-common.mjs';

export const title = 'random get, scan100';

const GETS_PER_CALL = 100;
const SCANS_PER_CALL = 10;
const SCAN = 100;

/** Checks scans from the first `count` sample keys: ascending keys, each value belonging to its key, 100 rows unless the end was reached. */
function verifyScans(db, sample, count) {
  for (let s = 0; s < count; s++) {
    const rows = db.scan(sample.keys[s], SCAN);
    check(rows.length > 0 && rows[0][0] === sample.keys[s], `scan100: the scan from ${sample.keys[s]} starts at ${rows[0]?.[0]}`);
    for (let j = 0; j < rows.length; j++) {
      if (j > 0) check(rows[j - 1][0] < rows[j][0], `scan100: ${rows[j - 1][0]} before ${rows[j][0]}`);
      check(keyAt(rows[j][1].id) === rows[j][0], `scan100: the value under ${rows[j][0]} belongs to ${keyAt(rows[j][1].id)}`);
    }
    if (rows.length < SCAN) check(db.scan(`${rows.at(-1)[0]}\u0000`, 1).length === 0, `scan100: ${rows.length} rows from ${sample.keys[s]} but more keys follow`);
  }
  return count;
}

export async function run({ n, create, engine, time, phase }) {
  phase('open');
  const db = await create();
  await loadScale(db, n, phase);
  await settle(db, engine);
  fullGc();
  const sample = sampleKeys(n, 11);
  const count = sample.keys.length;
  phase('get');
  let g = 0;
  let wrong = 0;
  const get = await tiny('get', () => {
    for (let k = 0; k < GETS_PER_CALL; k++) {
      const s = g++ % count;
      if (db.get(sample.keys[s]).id !== sample.index[s]) wrong++;
    }
  }, { time, opsPerCall: GETS_PER_CALL });
  check(wrong === 0, `get: ${wrong} reads returned another key's value`);
  phase('scan100');
  let c = 0;
  let rows = 0;
  const scan = await tiny('scan100', () => {
    for (let k = 0; k < SCANS_PER_CALL; k++) rows += db.scan(sample.keys[c++ % count], SCAN).length;
  }, { time, opsPerCall: SCANS_PER_CALL });
  check(rows > 0, 'scan100: no rows');
  phase('verify');
  const verified = verifyScale(db.get, n, { what: 'get' });
  expectScaleValue(db.get(sample.keys[0]), sample.index[0], 0, 'get');
  const scansVerified = verifyScans(db, sample, Math.min(200, sample.keys.length));
  phase('close');
  await db.close();
  return { getPerSec: get.opsPerSec, getP99Ms: get.p99, scanPerSec: scan.opsPerSec, scanP99Ms: scan.p99, verified, scansVerified };
}
