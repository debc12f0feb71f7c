import { describe, expect, it } from 'vitest';
import { open, restore, type ReplicaEvent } from 'epochdb';
import { listCheckpoints, ReplicationLog } from '@epochdb/replicate';
import { useDatabases } from '../support/databases.js';
import { runWorkload, stateAt, stateOf, useNats } from './harness.js';

const { openDb, tempDir } = useDatabases();
const { nats, nextName, openReplicaFor } = useNats();
const HISTORY = 1_000_000;

async function checkpointsOf(name: string): Promise<{ versions: number[]; firstVersion: number }> {
  const log = await ReplicationLog.open([nats().url], name, 5000);
  try {
    return { versions: await listCheckpoints(log), firstVersion: (await log.tail()).firstVersion };
  } finally {
    await log.close();
  }
}

describe('replication: checkpoints in the object store', () => {
  it('keeps the newest checkpoints and lets go of the stream they cover; a replica trimmed past re-bootstraps and says so', async () => {
    const name = nextName();
    const dir = tempDir();
    // Replicated acks: each write is shipped before the next, so messages hold few records.
    const primary = await openDb({ dir: tempDir(), replicate: { servers: nats().url, name, keepCheckpoints: 1, ack: 'replicated' } });
    await runWorkload(primary, 31, 60);
    const replica = await openReplicaFor({ servers: nats().url, name, dir });
    await replica.caughtUp(primary.version, { timeoutMs: 10_000 });
    const stopped = replica.version;
    await replica.close();
    await runWorkload(primary, 32, 60);
    await primary.checkpoint();
    await runWorkload(primary, 33, 60);
    await primary.checkpoint();
    const newest = primary.version;
    // Only the newest message is left of the stream the checkpoint covers: it says where the stream ends.
    const { versions, firstVersion } = await checkpointsOf(name);
    expect(versions).toEqual([newest]);
    expect(firstVersion).toBeGreaterThan(stopped + 1);
    expect(firstVersion).toBeLessThanOrEqual(newest);
    await runWorkload(primary, 34, 10);
    const events: ReplicaEvent[] = [];
    const again = await openReplicaFor({ servers: nats().url, name, dir, onEvent: (event) => events.push(event) });
    expect(events).toEqual([{ type: 'rebootstrap', from: stopped, version: newest, reason: expect.stringContaining(`starts at version ${firstVersion}`) }]);
    await again.caughtUp(primary.version, { timeoutMs: 10_000 });
    expect(stateOf(again)).toEqual(stateOf(primary));
  });

  it('after an outage with checkpoints (closing ones included), the unshipped WAL is kept and shipped as records: replicas catch up without a re-bootstrap', async () => {
    const name = nextName();
    const dir = tempDir();
    const replicate = { servers: nats().url, name, timeoutMs: 300 };
    const primary = await openDb({ dir, replicate });
    await runWorkload(primary, 41, 30);
    const events: ReplicaEvent[] = [];
    const replica = await openReplicaFor({ servers: nats().url, name, onEvent: (event) => events.push(event) });
    await replica.caughtUp(primary.version, { timeoutMs: 10_000 });
    const shipped = primary.version;
    await nats().kill('SIGKILL');
    await runWorkload(primary, 42, 40);
    // Closing checkpoints, but keeps the WAL the shipper had not shipped yet (the reopened primary has
    // no record of it in memory): it ships from there once the server is back.
    await primary.close();
    const reopened = await openDb({ dir, replicate });
    expect(reopened.version).toBe(shipped + 40);
    // Two more checkpoints: they prune nothing the replicas still need.
    for (const seed of [44, 45]) {
      await runWorkload(reopened, seed, 10);
      await reopened.checkpoint();
    }
    await nats().restart();
    await runWorkload(reopened, 43, 20);
    await replica.caughtUp(reopened.version, { timeoutMs: 30_000 });
    expect(events).toEqual([]);
    expect(stateOf(replica)).toEqual(stateOf(reopened));
  });

  it('restore() builds a directory at past versions equal to the primary there, and refuses one the log no longer covers', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), retainVersions: HISTORY, replicate: { servers: nats().url, name, keepCheckpoints: 2 } });
    await runWorkload(primary, 51, 80);
    const trimmed = primary.version;
    await primary.checkpoint();
    const c1 = primary.version;
    await runWorkload(primary, 52, 80);
    await primary.checkpoint();
    const c2 = primary.version;
    await runWorkload(primary, 53, 80);
    // The replica proves the stream has everything before restore reads it.
    const replica = await openReplicaFor({ servers: nats().url, name });
    await replica.caughtUp(primary.version, { timeoutMs: 10_000 });
    const targets = [c1, Math.floor((c1 + c2) / 2), c2 + 17, primary.version];
    for (const version of targets) {
      const dir = tempDir() + '/restored';
      const progress: number[] = [];
      const report = await restore({ servers: nats().url, name, version, dir, onProgress: (done) => progress.push(done) });
      expect(report.version).toBe(version);
      expect(report.checkpointVersion).toBe(version >= c2 ? c2 : c1);
      expect(progress.at(-1) ?? 0).toBe(version - report.checkpointVersion);
      const restored = await open({ dir });
      try {
        expect(restored.version).toBe(version);
        expect(stateOf(restored), `version ${version}`).toEqual(stateAt(primary, version));
      } finally {
        await restored.close();
      }
    }
    // Checkpoints kept: c1 and c2; the stream was let go up to c1, so before it is gone.
    expect.assertions(targets.length * 5 + 1);
    await expect(restore({ servers: nats().url, name, version: trimmed - 10, dir: tempDir() + '/old' })).rejects.toMatchObject({ code: 'REPLICATION' });
  });
});
