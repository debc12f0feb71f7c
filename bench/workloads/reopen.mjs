// reopen: close, reopen and first read of a store of N keys.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { readAndDecodeOwnFiles } from '../lib/own-files.mjs';
import { keyAt, valueAt, loadN, verifySample, expectValue, check, gc } from './common.mjs';

export const title = 'reopen: open + first read of a store of N keys';
export const metric = 'ms';
export const better = 'lower';
export const baseline = 'msgpack-decode';
export const notes = 'The store is loaded (non-durably, batches of 1000) and closed outside the timing; then open + one read is timed (page cache warm for every engine). msgpack-decode: read one file holding the same entries encoded with msgpackr (chunks of 1000 [key, value] pairs) and decode every chunk: the floor for rebuilding an in-memory store. EpochDB "checkpoint": closed with the default checkpoint on close; "WAL tail": `checkpointOnClose: false` and a huge `checkpointWalBytes`, so reopen replays the whole WAL. lmdb, SQLite and LevelDB open their files lazily (no rebuild). The timed reopen is open() (lock, marker, recovery: read + checksum + decode of chunks/records, tree build; values stay encoded until first read) + one get; the close-time checkpoint is timed apart ("close ms"), and the worker pool starts lazily, so neither is in it. msgpack-decode is a stricter floor than bench:recovery\'s: it decodes one flat file of [key, value] rows and keeps nothing, where EpochDB\'s files nest each value\'s bytes inside a chunk or record. So EpochDB rows also show "own files ms": reading EpochDB\'s own files and decoding every chunk/record and every value in them (what bench:recovery calls read + decode), measured in the same process just before the reopen, and "x own files", the reopen against it.';

export const cases = () => [
  { name: 'msgpack-decode', engine: 'msgpack' },
  { name: 'epochdb (checkpoint)', engine: 'epochdb', params: { persistent: true, sync: 'none' } },
  { name: 'epochdb (WAL tail)', engine: 'epochdb', params: { persistent: true, sync: 'none', checkpointOnClose: false, checkpointWalBytes: 2 ** 40 } },
  { name: 'lmdb', engine: 'lmdb', params: { durable: false } },
  { name: 'sqlite', engine: 'sqlite', params: { durable: false } },
  { name: 'level', engine: 'level', params: { durable: false } },
];

function msgpackBaseline(n, dir) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'entries.msgpack');
  const packr = new Packr({ useRecords: false });
  const chunks = [];
  for (let i = 0; i < n; i += 1000) {
    const rows = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) rows.push([keyAt(j), valueAt(j)]);
    const body = packr.pack(rows);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length);
    chunks.push(head, body);
  }
  writeFileSync(file, Buffer.concat(chunks));
  gc();
  const t0 = performance.now();
  const bytes = readFileSync(file);
  const reader = new Packr({ useRecords: false });
  let entries = 0;
  let first;
  for (let offset = 0; offset < bytes.length;) {
    const length = bytes.readUInt32LE(offset);
    const rows = reader.unpack(bytes.subarray(offset + 4, offset + 4 + length));
    if (first === undefined) first = rows[0];
    entries += rows.length;
    offset += 4 + length;
  }
  const elapsed = performance.now() - t0;
  check(entries === n, `msgpack-decode: decoded ${entries} entries, expected ${n}`);
  check(first[0] === keyAt(0), 'msgpack-decode: wrong first key');
  expectValue(first[1], 0, 0, 'msgpack-decode');
  return [{ value: elapsed, extra: { 'file MB': bytes.length / 2 ** 20 } }];
}

export async function run({ n, create, engine, dir }) {
  if (engine === 'msgpack') return msgpackBaseline(n, dir);
  const db = await create();
  await loadN(db, n);
  let t0 = performance.now();
  await db.close();
  const closeMs = performance.now() - t0;
  gc();
  let ownFiles;
  if (engine === 'epochdb') {
    t0 = performance.now();
    readAndDecodeOwnFiles(dir);
    ownFiles = performance.now() - t0;
    gc();
  }
  t0 = performance.now();
  await db.reopen();
  const first = db.get(keyAt(0));
  const elapsed = performance.now() - t0;
  expectValue(first, 0, 0, 'reopen: first read');
  if (engine === 'epochdb') check(db.db.stats().keys === n, `reopen: ${db.db.stats().keys} keys after reopen, expected ${n}`);
  const verified = await verifySample(db, n, { what: 'after reopen' });
  await db.close();
  return [{ value: elapsed, extra: { 'close ms': closeMs, ...(ownFiles === undefined ? {} : { 'own files ms': ownFiles, 'x own files': `${(elapsed / ownFiles).toFixed(2)}x` }), verified } }];
}

