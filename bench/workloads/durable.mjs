// Shared by durable-seq and durable-concurrent: check after close + reopen that every
// acknowledged write is there.
import { keyAt, valueAt, check, expectValue, prng } from './common.mjs';
import { readBack } from '../adapters/rawfs.mjs';

export async function verifyDurable({ db, engine, dir, written }) {
  if (engine === 'rawfs') {
    const records = readBack(dir);
    check(records.length === written, `rawfs: ${records.length} records in the log, ${written} acknowledged`);
    const rnd = prng(5);
    for (let s = 0; s < 200; s++) { const i = (rnd() * written) | 0; check(records[i][0] === keyAt(i), 'rawfs: wrong record order'); expectValue(records[i][1], i, 0, 'rawfs'); }
    return 200;
  }
  await db.reopen();
  const rnd = prng(6);
  const count = Math.min(written, 500);
  for (let s = 0; s < count; s++) {
    const i = s === 0 ? written - 1 : (rnd() * written) | 0;
    expectValue(db.get(keyAt(i)), i, 0, `${engine} after reopen`);
  }
  await db.close();
  return count;
}

export { keyAt, valueAt };
