// EpochDB: memory-only (no dir) or persistent under params.sync.
import { open } from 'epochdb';

export const kind = 'epochdb';

export async function create(dir, params = {}) {
  const { persistent = false, sync = 'always', ...rest } = params;
  const options = persistent ? { dir, sync, ...rest } : { ...rest };
  let db = await open(options);
  const chunk = 1000;
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
    async close() { await db.close(); },
    async reopen(extra = {}) { db = await open({ ...options, ...extra }); },
  };
}
