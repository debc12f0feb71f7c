import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { EntryStream } from 'level-read-stream';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from 'epochdb';
import { EpochLevel, fromStoredKey, toStoredKey } from 'epochdb/level';
import { useDatabases } from '../support/databases.js';

const { openDb, tempDir } = useDatabases({ maintenance: { intervalMs: 0 }, workers: 0 });

const bytes = fc.uint8Array({ maxLength: 12 });

describe('EpochLevel key mapping', () => {
  it('keeps byte order: stored keys sort as Buffer.compare sorts the bytes, and map back', () => {
    fc.assert(
      fc.property(bytes, bytes, (a, b) => {
        const sa = toStoredKey('p:', a);
        const sb = toStoredKey('p:', b);
        const stringOrder = sa < sb ? -1 : sa > sb ? 1 : 0;
        expect(stringOrder).toBe(Buffer.compare(a, b));
        expect(Buffer.compare(fromStoredKey('p:', sa, 'buffer') as Buffer, Buffer.from(a))).toBe(0);
      }),
    );
  });

  it('maps a utf8 key through its UTF-8 bytes, and an ASCII key onto itself', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 8 }), (key) => {
        const stored = toStoredKey('', key);
        expect(stored).toBe(Buffer.from(key, 'utf8').toString('latin1'));
        expect(fromStoredKey('', stored, 'utf8')).toBe(key);
      }),
    );
    expect(toStoredKey('level:', 'user:1')).toBe('level:user:1');
  });
});

describe('EpochLevel', () => {
  it('iterates buffer keys in byte order over a persistent directory, and keeps them across reopen', async () => {
    const dir = tempDir();
    const keys = [Buffer.from([0xff]), Buffer.from([0x00, 0x01]), Buffer.from([]), Buffer.from([0x7f, 0x80]), Buffer.from([0x80])];
    const db = new EpochLevel<Buffer, string>(dir, { keyEncoding: 'buffer', epochdb: { workers: 0 } });
    await db.batch(keys.map((key, i) => ({ type: 'put', key, value: String(i) })));
    await db.close();
    await db.open();
    const read = await db.keys().all();
    expect(read.map((key) => key.toString('hex'))).toEqual([...keys].sort(Buffer.compare).map((key) => key.toString('hex')));
    expect(await db.get(Buffer.from([0x80]))).toBe('4');
    await db.close();
  });

  it('works with level-read-stream and sublevels', async () => {
    const db = new EpochLevel(tempDir(), { valueEncoding: 'json', epochdb: { workers: 0 } });
    const users = db.sublevel<string, { name: string }>('users', { valueEncoding: 'json' });
    await users.put('ada', { name: 'Ada' });
    await users.put('alan', { name: 'Alan' });
    await db.put('other', { name: 'not a user' });
    const seen: unknown[] = [];
    for await (const entry of new EntryStream(users)) seen.push(entry);
    expect(seen).toEqual([
      { key: 'ada', value: { name: 'Ada' } },
      { key: 'alan', value: { name: 'Alan' } },
    ]);
    await db.close();
  });

  it('wraps an open Database under its prefix, and leaves closing the database to its owner', async () => {
    const database = await openDb();
    await database.put('plain', 42);
    const db = new EpochLevel(database, { prefix: 'lv/' });
    await db.put('a', 'A');
    await db.put('b', Buffer.from([1, 2]), { valueEncoding: 'buffer' });
    expect(database.get('lv/a')).toBe('A');
    expect(await db.keys().all()).toEqual(['a', 'b']);
    expect(await db.get('b', { valueEncoding: 'buffer' })).toEqual(Buffer.from([1, 2]));
    // Data other code wrote under the prefix reads as JSON text.
    await database.put('lv/c', { n: 1 });
    expect(await db.get('c')).toBe('{"n":1}');
    expect(db.database).toBe(database);
    await db.close();
    expect(database.closed).toBe(false);
    expect(database.get('plain')).toBe(42);
  });

  it('a snapshot reads the version it was taken at, and clear() with a limit deletes only so many', async () => {
    const database = await openDb();
    const db = new EpochLevel(database);
    await db.batch([1, 2, 3, 4, 5].map((i) => ({ type: 'put', key: `k${i}`, value: `v${i}` })));
    const snapshot = db.snapshot();
    await db.clear({ gte: 'k2', limit: 2 });
    expect(await db.keys().all()).toEqual(['k1', 'k4', 'k5']);
    expect(await db.keys({ snapshot }).all()).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
    await snapshot.close();
    await db.clear({ reverse: true, limit: 1 });
    expect(await db.keys().all()).toEqual(['k1', 'k4']);
    await db.close();
  });

  it('seek() stays inside the iterator range', async () => {
    const db = new EpochLevel(await openDb());
    await db.batch(['a', 'b', 'c', 'd', 'e'].map((key) => ({ type: 'put', key, value: key })));
    const forward = db.keys({ gt: 'b', lt: 'e' });
    forward.seek('a');
    expect(await forward.all()).toEqual(['c', 'd']);
    const reverse = db.keys({ reverse: true, lte: 'd' });
    reverse.seek('z');
    expect(await reverse.next()).toBe('d');
    reverse.seek('b');
    expect(await reverse.all()).toEqual(['b', 'a']);
    await db.close();
  });

  it('rejects an empty prefix and a location that is neither a path nor a database', () => {
    expect(() => new EpochLevel('./x', { prefix: '' })).toThrow(InvalidOptionError);
    expect(() => new EpochLevel('')).toThrow(/non-empty directory path/);
    expect(() => new EpochLevel({} as never)).toThrow(/directory path or an open Database/);
  });
});
