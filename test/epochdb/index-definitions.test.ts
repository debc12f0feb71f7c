import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { IndexMissingError, open } from 'epochdb';
import { useDatabases } from '../support/databases.js';

const { openDb, tempDir } = useDatabases({ workers: 0, maintenance: { intervalMs: 0 } });

const User = z.object({ name: z.string(), email: z.string(), age: z.number() });
const byEmail = (u: z.output<typeof User>): string => u.email;
const byAge = (u: z.output<typeof User>): number => u.age;

async function seeded(dir: string): Promise<void> {
  const db = await openDb({ dir });
  const users = db.collection('user', { schema: User });
  users.createIndex('byEmail', byEmail, { unique: true });
  users.createIndex('byAge', byAge);
  await users.put('u1', { name: 'Ada', email: 'ada@example.com', age: 36 });
  await users.put('u2', { name: 'Alan', email: 'alan@example.com', age: 41 });
  await db.close();
}

describe('secondary index definitions survive a reopen', () => {
  it('given again by name in collection(), the indexes answer, and unique comes from the persisted definition', async () => {
    const dir = tempDir();
    await seeded(dir);
    const db = await openDb({ dir });
    const users = db.collection('user', { schema: User, indexes: { byEmail, byAge } });
    expect(users.index('byEmail').unique).toBe(true);
    expect(users.index('byEmail').get('alan@example.com').map((e) => e.key)).toEqual(['u2']);
    expect(users.index('byAge').range({ gte: 40 }).map((e) => e.key)).toEqual(['u2']);
    await expect(users.put('u3', { name: 'Eve', email: 'ada@example.com', age: 1 })).rejects.toMatchObject({ code: 'UNIQUE_VIOLATION' });
  });

  it('collection() with indexes that leave a persisted one out fails INDEX_MISSING, naming it, and defines nothing', async () => {
    const dir = tempDir();
    await seeded(dir);
    const db = await openDb({ dir });
    let error: unknown;
    try {
      db.collection('user', { schema: User, indexes: { byAge } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(IndexMissingError);
    expect(error).toMatchObject({ code: 'INDEX_MISSING', index: 'user.byEmail', message: expect.stringContaining('"byEmail" (unique)') });
    // Nothing was defined: a complete definition still works.
    const users = db.collection('user', { schema: User, indexes: { byEmail, byAge: { fn: byAge } } });
    expect(users.index('byAge').get(36).map((e) => e.key)).toEqual(['u1']);
  });

  it('without indexes, a persisted index is missing: queries and writes its unique constraint guards fail INDEX_MISSING until createIndex gives it', async () => {
    const dir = tempDir();
    await seeded(dir);
    const db = await openDb({ dir });
    const users = db.collection('user', { schema: User });
    expect(() => users.index('byAge')).toThrow(expect.objectContaining({ code: 'INDEX_MISSING', index: 'user.byAge' }));
    await expect(users.put('u3', { name: 'Eve', email: 'eve@example.com', age: 1 })).rejects.toBeInstanceOf(IndexMissingError);
    expect(users.has('u3')).toBe(false);
    // Other data is not held up.
    await db.put('other', 1);
    users.createIndex('byEmail', byEmail, { unique: true });
    await users.put('u3', { name: 'Eve', email: 'eve@example.com', age: 1 });
    expect(users.index('byEmail').get('eve@example.com').map((e) => e.key)).toEqual(['u3']);
    expect(() => users.index('byAge')).toThrow(IndexMissingError);
  });

  it('dropIndex() forgets the definition: the next session does not ask for it', async () => {
    const dir = tempDir();
    await seeded(dir);
    const first = await openDb({ dir });
    const users = first.collection('user', { schema: User, indexes: { byEmail, byAge } });
    users.dropIndex('byAge');
    expect(() => users.index('byAge')).toThrow(/no index named "byAge"/);
    expect(() => users.dropIndex('byAge')).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    await first.close();
    const second = await openDb({ dir });
    expect(second.collection('user', { schema: User, indexes: { byEmail } }).index('byEmail').size).toBe(2);
  });

  it('a memory-only database stores no definitions; a read-only one reads them and writes none', async () => {
    const memory = await openDb();
    memory.collection('user', { schema: User }).createIndex('byEmail', byEmail);
    expect([...memory.scan()]).toEqual([]);

    const dir = tempDir();
    await seeded(dir);
    const reader = await open({ dir, readOnly: true, workers: 0 });
    try {
      expect(() => reader.collection('user', { schema: User, indexes: { byEmail } })).toThrow(IndexMissingError);
      const users = reader.collection('user', { schema: User, indexes: { byEmail, byAge, byName: (u) => u.name } });
      expect(users.index('byName').get('Ada').map((e) => e.key)).toEqual(['u1']);
    } finally {
      await reader.close();
    }
    const again = await openDb({ dir });
    // byName was created read-only: not persisted.
    expect(() => again.collection('user', { schema: User, indexes: { byEmail, byAge } })).not.toThrow();
  });

  it('rejects an index spec that is not a function or { fn }', async () => {
    const db = await openDb();
    expect(() => db.collection('user', { schema: User, indexes: { bad: { fn: 1 as never } } })).toThrow(/options.indexes.bad must be a function/);
  });
});
