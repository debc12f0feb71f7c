import { describe, expect, it } from 'vitest';
import type { ReplicaEvent } from 'epochdb';
import { useDatabases } from '../support/databases.js';
import { runWorkload, stateAt, stateOf, useNats } from './harness.js';

// A replica bootstraps from the newest checkpoint in the object store (downloaded through a pull
// consumer and verified by its own checksums) and serves reads of that state as soon as
// openReplica() resolves, before it has caught up with the stream.

const { openDb, tempDir } = useDatabases();
const { nats, nextName, openReplicaFor } = useNats();

describe('replication: bootstrap', () => {
  it('openReplica() resolves with the checkpoint loaded: reads are the primary at the replica version, before catching up', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), retainVersions: 1_000_000, replicate: { servers: nats().url, name } });
    await runWorkload(primary, 71, 200);
    await primary.checkpoint();
    const checkpoint = primary.version;
    await runWorkload(primary, 72, 100);
    for (const dir of [undefined, tempDir()]) {
      const events: ReplicaEvent[] = [];
      const replica = await openReplicaFor({ servers: nats().url, name, ...(dir === undefined ? {} : { dir }), onEvent: (event) => events.push(event) });
      const version = replica.version;
      expect(version).toBeGreaterThanOrEqual(checkpoint);
      expect(events[0]).toMatchObject({ type: 'bootstrap', version: checkpoint });
      expect(stateOf(replica), `reads at version ${version}`).toEqual(stateAt(primary, version));
      await replica.caughtUp(primary.version, { timeoutMs: 10_000 });
      expect(stateOf(replica)).toEqual(stateOf(primary));
    }
  });
});
