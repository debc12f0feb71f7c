/**
 * The metadata entry (persisted index definitions, at the empty key) travels
 * with the data: a replica and a point-in-time restore have the primary's
 * definitions, and show the entry in no read path and no count, as the
 * primary does (test/epochdb/metadata-entry.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { restore } from 'epochdb';
import { useDatabases } from '../support/databases.js';
import { useNats } from './harness.js';

const { openDb, tempDir } = useDatabases({ workers: 0, maintenance: { intervalMs: 0 } });
const { nats, nextName, openReplicaFor } = useNats();
const User = z.object({ email: z.string() });

describe('replication of the metadata entry', () => {
  it('a replica and a restored directory have the index definitions, hidden from scans and counts', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), replicate: { servers: nats().url, name } });
    const users = primary.collection('user', { schema: User });
    users.createIndex('byEmail', (u) => u.email, { unique: true });
    const version = await users.put('u1', { email: 'ada@example.com' });
    const replica = await openReplicaFor({ servers: nats().url, name });
    await replica.caughtUp(version, { timeoutMs: 10_000 });
    expect([...replica.scan()].map((e) => e.key)).toStrictEqual(['u1']);
    expect(replica.stats().keys).toBe(1);
    expect(() => replica.collection('user', { schema: User, indexes: {} })).toThrow(expect.objectContaining({ code: 'INDEX_MISSING', index: 'user.byEmail' }));
    expect(replica.collection('user', { schema: User, indexes: { byEmail: (u) => u.email } }).index('byEmail').get('ada@example.com').map((e) => e.key)).toStrictEqual(['u1']);

    await primary.checkpoint();
    const dir = tempDir();
    await restore({ servers: nats().url, name, version, dir });
    const restored = await openDb({ dir });
    expect([...restored.scan()].map((e) => e.key)).toStrictEqual(['u1']);
    expect(restored.stats().keys).toBe(1);
    expect(restored.collection('user', { schema: User, indexes: { byEmail: (u) => u.email } }).index('byEmail').unique).toBe(true);
  });
});
