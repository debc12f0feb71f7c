// The durability limit on the same disk: records (msgpackr-encoded [key, value], about
// the size of one EpochDB WAL frame) appended to one file with write + fdatasync.
// put() joins the pending group; one synchronous write + fdatasync per microtask turn
// flushes it (a sequential awaited put is exactly one write + fdatasync; concurrent
// puts share one: the ideal group commit, blocking the thread like a bare loop).
import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Packr } from 'msgpackr';

export const kind = 'rawfs';

export async function create(dir) {
  const fd = openSync(join(dir, 'raw.log'), 'w');
  const packr = new Packr({ useRecords: false });
  let pending = [];
  let group = null;
  let resolveGroup;
  const flush = () => {
    const buffers = pending;
    const resolve = resolveGroup;
    pending = [];
    group = null;
    writeSync(fd, Buffer.concat(buffers));
    fdatasyncSync(fd);
    resolve();
  };
  return {
    asyncReads: false,
    put(key, value) {
      const record = packr.pack([key, value]);
      const head = Buffer.allocUnsafe(8);
      head.writeUInt32LE(record.length, 0);
      head.writeUInt32LE(0, 4); // where a checksum would go
      if (group === null) {
        group = new Promise((r) => { resolveGroup = r; });
        queueMicrotask(flush);
      }
      pending.push(head, record);
      return group; // one promise per group, like lmdb-js's batches
    },
    async close() { closeSync(fd); },
  };
}

/** Decodes every record of a raw log written by this adapter (for verification). */
export function readBack(dir) {
  const bytes = readFileSync(join(dir, 'raw.log'));
  const packr = new Packr({ useRecords: false });
  const records = [];
  for (let offset = 0; offset < bytes.length;) {
    const length = bytes.readUInt32LE(offset);
    records.push(packr.unpack(bytes.subarray(offset + 8, offset + 8 + length)));
    offset += 8 + length;
  }
  return records;
}
