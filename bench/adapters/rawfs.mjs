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
  let waiters = [];
  const flush = () => {
    const buffers = pending;
    const done = waiters;
    pending = [];
    waiters = [];
    writeSync(fd, buffers.length === 1 ? buffers[0] : Buffer.concat(buffers));
    fdatasyncSync(fd);
    for (const resolve of done) resolve();
  };
  return {
    asyncReads: false,
    put(key, value) {
      const record = packr.pack([key, value]);
      const frame = Buffer.allocUnsafe(8 + record.length);
      frame.writeUInt32LE(record.length, 0);
      frame.writeUInt32LE(0, 4); // where a checksum would go
      record.copy(frame, 8);
      if (pending.length === 0) queueMicrotask(flush);
      pending.push(frame);
      return new Promise((resolve) => waiters.push(resolve));
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
