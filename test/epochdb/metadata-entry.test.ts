/**
 * Index definitions are the database's own metadata, kept in one entry at the
 * empty key (which no user can read or write): persisted, backed up, restored
 * and (test/replicate/metadata.test.ts) replicated with the data, but never in
 * db.scan(), snapshots, transactions, stats().keys, watch(), `epochdb dump` or
 * the Level and Keyv adapters. A directory written by an earlier version, with
 * definitions under ordinary `@epochdb/index/...` keys, is moved over at open.
 */
import { describe, expect, it } from 'vitest';
import Keyv from 'keyv';
import { z } from 'zod';
import { open, type Database } from 'epochdb';
import { EpochKeyv } from 'epochdb/keyv';
import { EpochLevel } from 'epochdb/level';
import { epochdb } from '../cli/cli-harness.js';
import { useDatabases } from '../support/databases.js';

const { openDb, tempDir } = useDatabases({ workers: 0, maintenance: { intervalMs: 0 } });

const User = z.object({ email: z.string() });
const byEmail = (u: z.output<typeof User>): string => u.email;

/** Every key any read path of `db` shows. */
function visibleKeys(db: Database): Record<string, string[]> {
  using snapshot = db.snapshot();
  const keys = (entries: Iterable<{ key: string }>): string[] => [...entries].map((e) => e.key);
  let inTx: string[] = [];
  const tx = db.begin();
  inTx = [...keys(tx.scan()), ...keys(tx.scan({ reverse: true }))];
  tx.abort();
  return {
    scan: keys(db.scan()),
    reverse: keys(db.scan({ reverse: true })),
    fromEmpty: keys(db.scan({ gte: '', limit: 2 })),
    upTo: keys(db.scan({ lte: 'u1', reverse: true })),
    snapshot: keys(snapshot.scan()),
    inTx,
    legacyType: keys(db.byType('@epochdb/index')),
  };
}

async function withIndex(dir: string): Promise<void> {
  const db = await openDb({ dir });
  const users = db.collection('user', { schema: User });
  users.createIndex('byEmail', byEmail, { unique: true });
  await users.put('u1', { email: 'ada@example.com' });
  await db.put('u2', 'plain');
  await db.close();
}

describe('the metadata entry', () => {
  it('is in no read path, count or limit of a database with a persisted index, live, after reopen and in a backup', async () => {
    const dir = tempDir();
    await withIndex(dir);
    const db = await openDb({ dir });
    const expected = { scan: ['u1', 'u2'], reverse: ['u2', 'u1'], fromEmpty: ['u1', 'u2'], upTo: ['u1'], snapshot: ['u1', 'u2'], inTx: ['u1', 'u2', 'u2', 'u1'], legacyType: [] };
    expect(visibleKeys(db)).toStrictEqual(expected);
    expect(db.stats().keys).toBe(2);
    expect(db.stats().storedVersions).toBe(3); // the metadata entry is stored all the same
    // The empty key stays an invalid key for every user read and write.
    expect(() => db.get('')).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }));
    await expect(db.put('', 1)).rejects.toMatchObject({ code: 'INVALID_KEY' });
    // ... and the definition persisted: leaving the index out is INDEX_MISSING, giving it works.
    expect(() => db.collection('user', { schema: User, indexes: {} })).toThrow(expect.objectContaining({ code: 'INDEX_MISSING', index: 'user.byEmail' }));
    expect(db.collection('user', { schema: User, indexes: { byEmail } }).index('byEmail').unique).toBe(true);
    const copy = tempDir();
    await db.backup(copy);
    await db.close();
    const restored = await openDb({ dir: copy });
    expect(visibleKeys(restored)).toStrictEqual(expected);
    expect(restored.stats().keys).toBe(2);
    expect(() => restored.collection('user', { schema: User })).not.toThrow();
    expect(() => restored.collection('user').index('byEmail')).toThrow(expect.objectContaining({ code: 'INDEX_MISSING' }));
  });

  it('watch() never delivers it, live or replayed from the WAL', async () => {
    const db = await openDb({ dir: tempDir(), checkpointOnClose: false });
    const live = db.watch();
    const users = db.collection('user', { schema: User });
    users.createIndex('byEmail', byEmail);
    users.createIndex('other', byEmail);
    users.dropIndex('other');
    await users.put('u1', { email: 'a' });
    expect((await live.next()).value).toMatchObject({ key: 'u1', kind: 'put', version: 4 });
    live.close();
    const replayed = db.watch({ fromVersion: 0 });
    expect((await replayed.next()).value).toMatchObject({ key: 'u1', version: 4 });
    replayed.close();
  });

  it('is not in `epochdb dump` or `stats`, and the Level and Keyv adapters never see it', async () => {
    const dir = tempDir();
    await withIndex(dir);
    const dump = await epochdb(['dump', dir]);
    expect(dump.code).toBe(0);
    const lines = dump.stdout.trim().split('\n').map((line) => JSON.parse(line) as { key?: string });
    expect(lines.filter((l) => l.key !== undefined).map((l) => l.key)).toStrictEqual(['u1', 'u2']);
    expect(dump.stdout).not.toContain('@epochdb/index');
    const stats = await epochdb(['stats', dir, '--json']);
    expect((JSON.parse(stats.stdout) as { stats: { keys: number } }).stats.keys).toBe(2);

    const db = await openDb({ dir });
    const level = new EpochLevel(db, { prefix: 'u' });
    await level.open();
    expect((await level.keys().all()).sort()).toStrictEqual(['1', '2']);
    await level.clear();
    expect([...db.scan()].map((e) => e.key)).toStrictEqual([]);
    const keyv = new Keyv({ store: new EpochKeyv(db) });
    await keyv.set('k', 1);
    await keyv.clear();
    expect(db.stats().keys).toBe(0);
    // Clearing everything the user sees left the definition in place.
    expect(() => db.collection('user', { schema: User })).not.toThrow();
    expect(() => db.collection('user').index('byEmail')).toThrow(expect.objectContaining({ code: 'INDEX_MISSING' }));
  });

  it('regression: definitions an earlier version kept under `@epochdb/index/...` keys are moved into it at open', async () => {
    const dir = tempDir();
    const old = await open({ dir, workers: 0 });
    // What versions before the metadata entry wrote for users.createIndex('byEmail', fn, { unique: true }).
    await old.put('@epochdb/index/["user","byEmail"]', { collection: 'user', name: 'byEmail', unique: true }, { type: '@epochdb/index' });
    await old.put('u1', { email: 'a' }, { type: 'user' });
    await old.close();
    const reader = await open({ dir, readOnly: true, workers: 0 });
    // A read-only open writes nothing, but finds the definition where it is.
    expect(() => reader.collection('user', { schema: User })).not.toThrow();
    expect(() => reader.collection('user').index('byEmail')).toThrow(expect.objectContaining({ code: 'INDEX_MISSING' }));
    await reader.close();
    const db = await openDb({ dir });
    expect([...db.scan()].map((e) => e.key)).toStrictEqual(['u1']);
    expect(db.stats().keys).toBe(1);
    const users = db.collection('user', { schema: User, indexes: { byEmail } });
    expect(users.index('byEmail').unique).toBe(true);
    await expect(users.put('u2', { email: 'a' })).rejects.toMatchObject({ code: 'UNIQUE_VIOLATION' });
  });
});
