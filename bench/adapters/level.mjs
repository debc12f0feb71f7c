// LevelDB through classic-level: batches for bulk, getSync for point reads, iterators for scans,
// values as msgpackr buffers. params.durable: { sync: true } on every write.
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';

export const kind = 'level';

export async function create(dir, params = {}) {
  const { durable = true } = params;
  const path = join(dir, 'level');
  const packr = new Packr({ useRecords: false });
  const writeOptions = { sync: durable };
  let db;
  const setup = async () => {
    db = new ClassicLevel(path, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    await db.open();
  };
  await setup();
  return {
    get db() { return db; },
    asyncReads: false, // getSync
    asyncScan: true,
    async load(keys, values) {
      for (let i = 0; i < keys.length; i += 1000) {
        const ops = [];
        const end = Math.min(keys.length, i + 1000);
        for (let j = i; j < end; j++) ops.push({ type: 'put', key: keys[j], value: packr.pack(values[j]) });
        await db.batch(ops, writeOptions);
      }
    },
    get(key) { const v = db.getSync(key); return v === undefined ? undefined : packr.unpack(v); },
    async scan(start, limit) {
      const rows = await db.iterator({ gte: start, limit }).all();
      for (const row of rows) row[1] = packr.unpack(row[1]);
      return rows;
    },
    put: (key, value) => db.put(key, packr.pack(value), writeOptions),
    async close() { await db.close(); },
    async reopen() { await setup(); },
  };
}
