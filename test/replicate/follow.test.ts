import { describe, expect, it } from 'vitest';
import { ReadOnlyError, type ReplicaEvent } from 'epochdb';
import { useDatabases } from '../support/databases.js';
import { runWorkload, stateAt, stateOf, useNats } from './harness.js';

const { openDb, tempDir } = useDatabases();
const { nats, nextName, openReplicaFor } = useNats();
const HISTORY = 1_000_000;

describe('replication: replicas follow the primary', () => {
  it('a replica follows the primary exactly (values, tags, expiry, versions) and refuses writes with READ_ONLY', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), replicate: { servers: nats().url, name } });
    await primary.put('a', { n: 1 }, { type: 't', ttl: 60_000 });
    const replica = await openReplicaFor({ servers: nats().url, name });
    const v = await primary.put('b', 'two', { run: 'r1' });
    await replica.caughtUp(v, { timeoutMs: 10_000 });
    expect(replica.version).toBe(v);
    expect(stateOf(replica)).toEqual(stateOf(primary));
    expect(replica.getEntry('a')?.expiresAt).toBe(primary.getEntry('a')?.expiresAt);
    // The rest of the read API reads the same state.
    const snapshot = replica.snapshot();
    expect({ has: replica.has('b'), byRun: [...replica.byRun('r1')].map((e) => e.key), byType: [...replica.byType('t')].map((e) => e.key), snapshot: snapshot.get('b'), keys: replica.stats().keys, oldest: replica.oldestVersion <= v }).toEqual({
      has: true,
      byRun: ['b'],
      byType: ['a'],
      snapshot: 'two',
      keys: 2,
      oldest: true,
    });
    snapshot.release();
    expect.assertions(10);
    await expect(replica.delete('a')).rejects.toMatchObject({ code: 'READ_ONLY' });
    await expect(replica.put('c', 1)).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(replica.batch([{ op: 'delete', key: 'a' }])).rejects.toMatchObject({ code: 'READ_ONLY' });
    await expect(replica.transaction(() => undefined)).rejects.toMatchObject({ code: 'READ_ONLY' });
    // Also through the local database and a collection: the write gate refuses them all.
    await expect(replica.db.put('c', 1)).rejects.toMatchObject({ code: 'READ_ONLY' });
    expect(replica.has('c')).toBe(false);
  });

  it('converges to the primary under concurrent transactions: every version equals the primary at that version, on three replicas', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), retainVersions: HISTORY, replicate: { servers: nats().url, name } });
    await runWorkload(primary, 1, 50);
    const replicas = [
      await openReplicaFor({ servers: nats().url, name, retainVersions: HISTORY }),
      await openReplicaFor({ servers: nats().url, name, retainVersions: HISTORY, dir: tempDir() }),
    ];
    const during = runWorkload(primary, 2, 400, 6);
    replicas.push(await openReplicaFor({ servers: nats().url, name, retainVersions: HISTORY }));
    await during;
    const last = primary.version;
    for (const replica of replicas) await replica.caughtUp(last, { timeoutMs: 20_000 });
    expect(last).toBeGreaterThan(400);
    for (const replica of replicas) {
      expect(replica.version).toBe(last);
      // The model check: every key at a spread of versions, and the newest state.
      for (let v = 1; v <= last; v += 37) expect(stateAt(replica, v), `version ${v}`).toEqual(stateAt(primary, v));
      expect(stateOf(replica)).toEqual(stateOf(primary));
    }
  });

  it('a replica started late bootstraps from the newest checkpoint in the object store, then follows', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), replicate: { servers: nats().url, name } });
    await runWorkload(primary, 3, 200);
    await primary.checkpoint();
    const checkpointVersion = primary.version;
    await runWorkload(primary, 4, 50);
    const events: ReplicaEvent[] = [];
    const replica = await openReplicaFor({ servers: nats().url, name, onEvent: (event) => events.push(event) });
    expect(events).toEqual([{ type: 'bootstrap', version: checkpointVersion, entries: expect.any(Number) }]);
    await replica.caughtUp(undefined, { timeoutMs: 10_000 });
    expect(replica.version).toBe(primary.version);
    expect(stateOf(replica)).toEqual(stateOf(primary));
  });

  it('a replica with a dir restarts from its own state and fetches only what it missed', async () => {
    const name = nextName();
    const dir = tempDir();
    const primary = await openDb({ dir: tempDir(), replicate: { servers: nats().url, name } });
    await runWorkload(primary, 5, 100);
    const first = await openReplicaFor({ servers: nats().url, name, dir });
    await first.caughtUp(primary.version, { timeoutMs: 10_000 });
    const stopped = first.version;
    await first.close();
    await runWorkload(primary, 6, 100);
    const events: ReplicaEvent[] = [];
    const again = await openReplicaFor({ servers: nats().url, name, dir, onEvent: (event) => events.push(event) });
    expect(again.version).toBe(stopped);
    await again.caughtUp(undefined, { timeoutMs: 10_000 });
    expect(events).toEqual([]);
    expect(stateOf(again)).toEqual(stateOf(primary));
  });

  it('caughtUp times out with a REPLICATION error when the version never comes', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), replicate: { servers: nats().url, name } });
    await primary.put('a', 1);
    const replica = await openReplicaFor({ servers: nats().url, name });
    await expect(replica.caughtUp(primary.version + 5, { timeoutMs: 200 })).rejects.toMatchObject({ code: 'REPLICATION', message: expect.stringContaining('not 6') });
  });
});

describe('replication: the read API of a replica', () => {
  it('change streams and collection indexes on a replica follow what it applies', async () => {
    const { z } = await import('zod');
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), replicate: { servers: nats().url, name } });
    const schema = z.object({ email: z.string() });
    const users = primary.collection('user', { schema });
    await users.put('user:1', { email: 'ada@example.com' });
    const replica = await openReplicaFor({ servers: nats().url, name });
    await replica.caughtUp(primary.version, { timeoutMs: 10_000 });
    const replicaUsers = replica.collection('user', { schema });
    replicaUsers.createIndex('byEmail', (u) => u.email);
    const stream = replica.watch({ prefix: 'user:' });
    await users.put('user:2', { email: 'bob@example.com' });
    await primary.delete('user:1');
    const changes: string[] = [];
    for await (const change of stream) {
      changes.push(`${change.kind} ${change.key} ${change.version}`);
      if (changes.length === 2) break;
    }
    expect(changes).toEqual([`put user:2 ${primary.version - 1}`, `delete user:1 ${primary.version}`]);
    expect(replicaUsers.index('byEmail').get('bob@example.com').map((e) => e.key)).toEqual(['user:2']);
    expect(replicaUsers.index('byEmail').get('ada@example.com')).toEqual([]);
    await expect(replicaUsers.put('user:3', { email: 'eve@example.com' })).rejects.toMatchObject({ code: 'READ_ONLY' });
  });
});
