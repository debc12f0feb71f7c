// EpochDB: memory-only (no dir) or persistent under params.sync; load() commits
// batches of params.loadChunk puts (default 1000).
import { open } from 'epochdb';

export const kind = 'epochdb';

export async function create(dir, params = {}) {
  const { persistent = false, sync = 'always', loadChunk = 1000, ...rest } = params;
  const options = persistent ? { dir, sync, ...rest } : { ...rest };
  let db = await open(options);
  const chunk = loadChunk;
  return {
    get db() { return db; },
    asyncReads: false,
    async load(keys, values) {
      for (let i = 0; i < keys.length; i += chunk) {
        const ops = [];
        const end = Math.min(keys.length, i + chunk);
        for (let j = i; j < end; j++) ops.push({ op: 'put', key: keys[j], value: values[j] });
        await db.batch(ops);
      }
    },
    get: (key) => db.get(key),
    scan(start, limit) {
      const out = [];
      for (const e of db.scan({ gte: start, limit })) out.push([e.key, e.value]);
      return out;
    },
    put: (key, value) => db.put(key, value),
    /** Overwrites in one commit: [[key, value], ...]. */
    putMany: (pairs) => db.batch(pairs.map(([key, value]) => ({ op: 'put', key, value }))),
    /** A consistent read view until release(). */
    snapshot() { const s = db.snapshot(); return { get: (key) => s.get(key), release: () => s.release() }; },
    async close() { await db.close(); },
    async reopen(extra = {}) { db = await open({ ...options, ...extra }); },
  };
}
