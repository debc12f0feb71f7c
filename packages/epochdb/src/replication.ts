import { join } from 'node:path';
import type { ReplicationError } from '@epochdb/core';
import { checkpointName } from '@epochdb/persist';
import { Shipper, uploadCheckpoint, type ReplicateOptionsParsed } from '@epochdb/replicate';
import type { MvccStore } from '@epochdb/store';
import type { Database } from './database.js';

/** Longest `close()` waits for the shipper to ship what is left (the rest stays in the WAL for the next open). */
const CLOSE_DRAIN_MS = 2000;

/**
 * Wires a primary to its replication log: every commit goes to the shipper
 * (with `ack: 'replicated'` its acknowledgement waits for JetStream), every
 * local checkpoint is uploaded, a fenced primary refuses writes, and
 * `close()` ships what it can first. Rejects (after closing `db`) if another
 * primary holds the log.
 */
export async function startReplication(db: Database, store: MvccStore, dir: string, options: ReplicateOptionsParsed): Promise<void> {
  let fenced: ReplicationError | undefined;
  const shipper: Shipper = new Shipper(
    {
      get version() {
        return db.version;
      },
      dir,
      flushed: () => db.flushed(),
      fenced: (error) => (fenced = error),
      get checkpointVersion() {
        return db.stats().lastCheckpointVersion;
      },
      uploadCheckpoint: (version): Promise<void> => uploadCheckpoint(shipper.log!, join(dir, checkpointName(version)), version, options.keepCheckpoints, options),
    },
    options,
  );
  db.addWriteGate(() => {
    if (fenced !== undefined) throw fenced;
  });
  // What is not shipped yet stays in the WAL through checkpoints, so the backlog ships as records
  // (a checkpoint on close used to prune it, and replicas then waited for a jump nothing revealed).
  db.retainWalAbove(() => shipper.shippedVersion);
  store.onCommit((record) => shipper.committed(record));
  let uploads: Promise<void> = Promise.resolve();
  db.onCheckpoint((version) => {
    // One upload at a time, in order; `checkpoint()` resolves when its own is done.
    return (uploads = uploads.then(async () => {
      const log = shipper.log;
      // A checkpoint that cannot be uploaded now is covered by the next one.
      if (log !== undefined) await uploadCheckpoint(log, join(dir, checkpointName(version)), version, options.keepCheckpoints, options).catch(() => undefined);
    }));
  });
  db.setReplicationStats(() => shipper.stats());
  db.onClose(async () => {
    // Returns at once when nothing can ship (the server is away, or refuses shipping).
    await shipper.drained(Math.min(options.timeoutMs, CLOSE_DRAIN_MS));
    await uploads;
    await shipper.close();
    const shipped = shipper.knownShippedVersion;
    if ((shipped ?? 0) < db.version) {
      const stats = shipper.stats();
      const reason = stats.failure ?? (shipped === undefined ? 'NATS was not reached while the database was open (what the stream holds of these is unknown)' : 'NATS was unreachable or slow when the database closed');
      // The WAL keeps them (retainWalAbove): the next open with `replicate` ships what the stream lacks.
      options.onEvent?.({ type: 'closed-unshipped', from: (shipped ?? 0) + 1, to: db.version, reason });
    }
  });
  try {
    await shipper.start();
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
}
