// scale/reopen: close a persistent store of N keys, then time open + the first get.
// The baseline (engine 'msgpack', called flatfile in the report): the same N records
// written to one file as msgpack chunks of 1000 [key, value] rows, then the time to
// read that file and decode every record.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { check, expectScaleValue, fullGc, keyAt, loadScale, scaleValueAt, settle, verifyScale } from './scale-common.mjs';

export const title = 'reopen: close, open, first get';

const FLAT_CHUNK = 1000;

function flatFile(n, dir, phase) {
  phase('write flat file');
  const file = join(dir, 'records.msgpack');
  const packr = new Packr({ useRecords: false });
  const fd = openSync(file, 'w');
  let bytes = 0;
  for (let i = 0; i < n; i += FLAT_CHUNK) {
    const rows = [];
    for (let j = i; j < Math.min(n, i + FLAT_CHUNK); j++) rows.push([keyAt(j), scaleValueAt(j)]);
    const body = packr.pack(rows);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length);
    bytes += writeSync(fd, head) + writeSync(fd, body);
  }
  closeSync(fd);
  fullGc();
  phase('read + decode');
  const t0 = performance.now();
  const data = readFileSync(file);
  const reader = new Packr({ useRecords: false });
  let records = 0;
  let first;
  for (let offset = 0; offset < data.length;) {
    const length = data.readUInt32LE(offset);
    const rows = reader.unpack(data.subarray(offset + 4, offset + 4 + length));
    first ??= rows[0];
    records += rows.length;
    offset += 4 + length;
  }
  const reopenMs = performance.now() - t0;
  check(records === n, `flat file: decoded ${records} records, expected ${n}`);
  check(first[0] === keyAt(0), 'flat file: wrong first key');
  expectScaleValue(first[1], 0, 0, 'flat file');
  return { reopenMs, fileBytes: bytes };
}

export async function run({ n, create, engine, dir, phase }) {
  if (engine === 'msgpack') return flatFile(n, dir, phase);
  phase('open');
  const db = await create();
  await loadScale(db, n, phase);
  await settle(db, engine);
  phase('close');
  let t0 = performance.now();
  await db.close();
  const closeMs = performance.now() - t0;
  fullGc();
  phase('reopen');
  t0 = performance.now();
  await db.reopen();
  const first = db.get(keyAt(0));
  const reopenMs = performance.now() - t0;
  phase('verify');
  expectScaleValue(first, 0, 0, 'reopen: first get');
  if (engine === 'epochdb') check(db.db.stats().keys === n, `reopen: ${db.db.stats().keys} keys after reopen, expected ${n}`);
  const verified = verifyScale(db.get, n, { what: 'after reopen' });
  const recovery = engine === 'epochdb' ? db.db.recovery : undefined;
  phase('close');
  await db.close();
  return { reopenMs, closeMs, verified, ...(recovery ? { checkpointEntries: recovery.checkpointEntries, replayedRecords: recovery.replayedRecords } : {}) };
}
