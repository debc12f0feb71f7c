// SQLite through better-sqlite3: WAL, a WITHOUT ROWID table ordered by key, prepared
// statements, one transaction per bulk chunk, values as msgpackr buffers.
// params.durable: synchronous=FULL (an fsync per commit) or OFF.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Packr } from 'msgpackr';

export const kind = 'sqlite';

// better-sqlite3 loads its native binding lazily: load it now, so a machine where it
// did not build reports the engine as unavailable instead of failing mid-workload.
new Database(':memory:').close();

export async function create(dir, params = {}) {
  const { durable = true } = params;
  const path = join(dir, 'bench.sqlite');
  const packr = new Packr({ useRecords: false });
  let db, insert, select, range, loadChunk;
  const setup = () => {
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durable ? 'FULL' : 'OFF'}`);
    db.exec('CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID');
    insert = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
    select = db.prepare('SELECT v FROM kv WHERE k = ?').pluck();
    range = db.prepare('SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?').raw();
    loadChunk = db.transaction((keys, values, i, end) => { for (let j = i; j < end; j++) insert.run(keys[j], packr.pack(values[j])); });
  };
  setup();
  return {
    get db() { return db; },
    asyncReads: false,
    async load(keys, values) {
      for (let i = 0; i < keys.length; i += 1000) loadChunk(keys, values, i, Math.min(keys.length, i + 1000));
    },
    get(key) { const v = select.get(key); return v === undefined ? undefined : packr.unpack(v); },
    scan(start, limit) {
      const rows = range.all(start, limit);
      for (const row of rows) row[1] = packr.unpack(row[1]);
      return rows;
    },
    put(key, value) { insert.run(key, packr.pack(value)); return Promise.resolve(); },
    /** Read-modify-write in one synchronous transaction (SQLite serializes writers). */
    transaction: (fn) => db.transaction(fn)(),
    async close() { db.close(); },
    async reopen() { setup(); },
  };
}
