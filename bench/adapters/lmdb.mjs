// lmdb-js with its natural fast paths: asynchronous puts batched into one transaction
// per event-loop turn, synchronous gets from the memory map, getRange for scans.
// params.durable: sync on commit (lmdb's default) or noSync. lmdb-js's default
// overlappingSync resolves a write's promise once it is committed (visible) and flushes
// afterwards; a durable write here also awaits `db.flushed`, so it is acknowledged only
// once it is on disk, like EpochDB's sync 'always'. params.loadChunk: puts per load
// transaction (default 1000).
import { join } from 'node:path';
import { open } from 'lmdb';

export const kind = 'lmdb';

export async function create(dir, params = {}) {
  const { durable = true, loadChunk = 1000 } = params;
  const options = { path: join(dir, 'lmdb'), noSync: !durable };
  let db = open(options);
  return {
    get db() { return db; },
    asyncReads: false,
    async load(keys, values) {
      for (let i = 0; i < keys.length; i += loadChunk) {
        const end = Math.min(keys.length, i + loadChunk);
        let last;
        for (let j = i; j < end; j++) last = db.put(keys[j], values[j]);
        await last; // one transaction (and one sync) per batch
        if (durable) await db.flushed;
      }
    },
    get: (key) => db.get(key),
    scan(start, limit) {
      const out = [];
      for (const { key, value } of db.getRange({ start, limit })) out.push([key, value]);
      return out;
    },
    put(key, value) {
      const committed = db.put(key, value);
      return durable ? committed.then(() => db.flushed) : committed;
    },
    /** Overwrites in one transaction: [[key, value], ...]. */
    putMany(pairs) {
      let last;
      for (const [key, value] of pairs) last = db.put(key, value);
      return durable ? last.then(() => db.flushed) : last;
    },
    /** A consistent read view (an LMDB read transaction) until release(). */
    snapshot() { const txn = db.useReadTransaction(); return { get: (key) => db.get(key, { transaction: txn }), release: () => txn.done() }; },
    /** Waits until everything committed so far is on disk (a no-op when not durable). */
    flushed: () => (durable ? db.flushed : undefined),
    async close() { await db.close(); },
    async reopen() { db = open(options); },
  };
}
