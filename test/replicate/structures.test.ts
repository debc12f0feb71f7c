// Replicas and restores decode every value through the structure table: the
// primary's table reaches them in its checkpoints (bootstrap, restore) and in
// the commit records that first need each structure (the stream).
import { describe, expect, it } from 'vitest';
import { restore, type Database } from 'epochdb';
import { useDatabases } from '../support/databases.js';
import { stateOf, useNats } from './harness.js';

const { openDb, tempDir } = useDatabases({ workers: 0, maintenance: { intervalMs: 0 } });
const { nats, nextName, openReplicaFor } = useNats();

/** Values of `count` shapes, nested, so each commit may bring several new structures. */
async function writeShapes(db: Database, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) await db.put(`k${i}`, { [`f${i}`]: i, inner: { [`g${i % 7}`]: [i, { [`h${i % 3}`]: true }] } });
}

describe('replication: the structure table', () => {
  it('a replica bootstrapped from a checkpoint and fed by the stream, and a restore, read every value of many shapes (more than the table takes)', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), maxStructures: 12, replicate: { servers: nats().url, name, ack: 'replicated' } });
    await writeShapes(primary, 0, 20);
    await primary.checkpoint();
    const atCheckpoint = primary.version;
    const replica = await openReplicaFor({ servers: nats().url, name });
    await writeShapes(primary, 20, 20);
    await replica.caughtUp(primary.version, { timeoutMs: 10_000 });
    expect(stateOf(replica)).toEqual(stateOf(primary));
    expect(primary.stats().structures).toBe(12);

    const dir = tempDir();
    await restore({ servers: nats().url, name, version: atCheckpoint, dir });
    const restored = await openDb({ dir });
    // Keys k0..k19 were written before the checkpoint and never again: the restore holds them as the primary does now.
    expect(restored.version).toBe(atCheckpoint);
    expect(stateOf(restored).map((e) => e.key).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `k${i}`).sort());
    for (const entry of stateOf(restored)) expect(entry.value).toStrictEqual(primary.get(entry.key));
  });
});
