import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { InvalidOptionError, ReplicationError, ValueCodec, type CheckpointEntry, type Version } from '@epochdb/core';
import { writeBackup } from '@epochdb/persist';
import { downloadCheckpoint, listCheckpoints } from './checkpoint-store.js';
import { classifyNatsError, parseConnectionOptions } from './connection-options.js';
import type { ConnectionOptions } from './connection-types.js';
import { logNames, positiveInteger } from './names.js';
import { ReplicationLog } from './replication-log.js';

/** Options of {@link restore}; the connection options (`servers`, `user`/`pass`, `token`, `credsFile`, `tls`) are {@link ConnectionOptions}. */
export interface RestoreOptions extends ConnectionOptions {
  /** The replicated database's name. */
  readonly name: string;
  /** The version to restore (default: the newest in the stream). */
  readonly version?: Version;
  /** The directory to build (must not exist or be empty); `open({ dir })` opens it. */
  readonly dir: string;
  /** Called as records are applied: `done` of `total` versions after the checkpoint. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Connection timeout, ms (default 5000). */
  readonly timeoutMs?: number;
}

/** What {@link restore} built. */
export interface RestoreReport {
  readonly version: Version;
  /** The checkpoint it started from (0: the stream alone). */
  readonly checkpointVersion: Version;
  /** Records applied after the checkpoint. */
  readonly records: number;
  readonly entries: number;
}

/**
 * Builds a database directory at any version the replication log still
 * covers: the newest checkpoint at or below it from the object store, plus
 * the stream's records after it. A `REPLICATION` error if the log no longer
 * reaches back that far.
 *
 * @example
 * await restore({ servers: '127.0.0.1:4222', name: 'orders', version: 1200, dir: './orders-at-1200' });
 */
export async function restore(options: RestoreOptions): Promise<RestoreReport> {
  const connection = parseConnectionOptions(options as unknown as Record<string, unknown>, 'restore()');
  if (typeof options.dir !== 'string' || options.dir.length === 0) throw new InvalidOptionError('restore(): dir must be a non-empty path');
  const version = options.version === undefined ? undefined : positiveInteger(options.version, 0, 'restore(): version');
  logNames(options.name, 'restore()');
  const log = await ReplicationLog.open(connection, options.name, positiveInteger(options.timeoutMs, 5000, 'restore(): timeoutMs'));
  try {
    const tail = await log.tail();
    const target = version ?? tail.version;
    if (target > tail.version) throw new ReplicationError(`restore(): version ${target} is newer than the replication log of ${JSON.stringify(options.name)} (at ${tail.version})`, false);
    const checkpoints = await listCheckpoints(log);
    const checkpoint = checkpoints.filter((v) => v <= target).at(-1) ?? 0;
    // The stream holds versions from `streamFrom` on (none at all: from past its end).
    const streamFrom = tail.firstSeq > 0 ? tail.firstVersion : tail.version + 1;
    if (checkpoint < target && checkpoint < streamFrom - 1) {
      const oldest = oldestRestorable(checkpoints, streamFrom, tail.version);
      const quoted = JSON.stringify(options.name);
      if (oldest === undefined || target < oldest) {
        throw new ReplicationError(
          `restore(): version ${target} is older than the oldest version the replication log of ${quoted} keeps (${oldest === undefined ? 'none' : oldest}): older history was let go with the checkpoints beyond keepCheckpoints`,
          false,
        );
      }
      throw new ReplicationError(`restore(): the replication log of ${quoted} starts at version ${tail.firstVersion} and no checkpoint at or below ${target} covers what is before it`, false);
    }
    const entries = new Map<string, CheckpointEntry>();
    // The structure table: the checkpoint's, grown by the records' own (the restored values are written as they are).
    const table = new ValueCodec();
    if (checkpoint > 0) {
      const loaded = await downloadCheckpoint(log, checkpoint, join(tmpdir(), `epochdb-restore-${randomUUID()}.ckpt`));
      for (const entry of loaded.entries) entries.set(entry.key, entry);
      table.define({ from: 0, keys: loaded.structures });
    }
    const total = target - checkpoint;
    // The newest version applied so far.
    let at = checkpoint;
    if (total > 0) {
      const messages = await log.follow(await log.seqAfter(checkpoint, tail));
      read: for await (const message of messages) {
        for (const record of ReplicationLog.records(message.data, message.seq)) {
          if (record.version <= at) continue;
          if (record.version !== at + 1) {
            throw new ReplicationError(`restore(): versions ${at + 1} to ${record.version - 1} are not in the replication log of ${JSON.stringify(options.name)} (the primary went on after a checkpoint it uploaded while NATS was away); restore at ${at} or at ${record.version} or later`, false);
          }
          if (record.structures !== undefined) table.define(record.structures);
          for (const op of record.ops) {
            if (op.kind !== 'put') entries.delete(op.key);
            else entries.set(op.key, { key: op.key, encoded: op.encoded, version: record.version, run: op.run, type: op.type, expiresAt: op.expiresAt });
          }
          at = record.version;
          // Not `onProgress?.(++done)`: an optional call skips its arguments' side effects when absent.
          options.onProgress?.(at - checkpoint, total);
          if (at === target) break read;
        }
      }
      messages.stop();
    }
    // A checkpoint holds its rows in key order (the map holds them in the order they were first written).
    const sorted = [...entries.keys()].sort().map((key) => entries.get(key)!);
    await writeBackup(options.dir, target, sorted, table.table());
    return Object.freeze({ version: target, checkpointVersion: checkpoint, records: at - checkpoint, entries: entries.size });
  } catch (error) {
    throw classifyNatsError(error, connection, 'restore()') ?? error;
  } finally {
    await log.close();
  }
}

/**
 * The oldest version {@link restore} can reach: version 1 while the stream
 * still starts there, else the oldest kept checkpoint the stream goes on
 * from (`undefined`: none).
 */
function oldestRestorable(checkpoints: readonly Version[], streamFrom: Version, newest: Version): Version | undefined {
  if (streamFrom <= 1) return Math.min(1, newest) || undefined;
  return checkpoints.find((v) => v >= streamFrom - 1);
}
