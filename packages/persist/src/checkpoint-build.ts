import { join } from 'node:path';
import { chunkExpiresAt, CorruptionError, ValueCodec, type CheckpointEntry, type Version } from '@epochdb/core';
import { CheckpointWriter, readCheckpointChunks, readCheckpointStructures, verifyWritten, type CheckpointWritten } from './checkpoint-file.js';
import type { FileSystem } from './file-system.js';
import { checkpointName } from './directory-layout.js';
import { checkSegmentHeader, scanFrames, WAL_HEADER_BYTES } from './wal-format.js';

/**
 * What a new checkpoint is made of: the previous checkpoint file plus the
 * closed WAL segments up to `version`. Small and plain, so it can be posted
 * to a worker thread (the dataset itself never crosses).
 */
export interface CheckpointPlan {
  readonly dir: string;
  /** The previous checkpoint's file name, if there is one. */
  readonly base: string | undefined;
  readonly baseVersion: Version;
  /** Closed, fdatasync'ed WAL segments, oldest first, that hold every record after `baseVersion` up to `version`. */
  readonly segments: readonly string[];
  readonly version: Version;
  /** Entries expired at this time (epoch ms) are left out. */
  readonly now: number;
}

/**
 * Builds the checkpoint at `plan.version` from files alone, LSM-style: the
 * WAL records after the previous checkpoint, applied in version order into a
 * map of changes (deletes and expiries drop keys), merged in key order with
 * the previous checkpoint streamed chunk by chunk, entries already expired at
 * `plan.now` dropped, written with {@link writeCheckpoint}, then read back and verified whole. Needs none of the
 * main thread's memory, and of its own only the changes since the previous
 * checkpoint and one chunk, so it runs on a worker.
 */
export async function buildCheckpoint(fs: FileSystem, plan: CheckpointPlan): Promise<CheckpointWritten> {
  // Only the WAL's changes since the base are held in memory: the base checkpoint is streamed
  // chunk by chunk and merged with them in key order (a 10M-key base held whole took gigabytes).
  const delta = new Map<string, CheckpointEntry | null>();
  // The table: the base's, grown by the structures the records after it carry (ids never change).
  const table = new ValueCodec({ table: plan.base === undefined ? [] : await readCheckpointStructures(fs, join(plan.dir, plan.base)) });
  let expected = plan.baseVersion + 1;
  for (const name of plan.segments) {
    if (expected > plan.version) break;
    const bytes = await fs.readFile(join(plan.dir, name));
    if (checkSegmentHeader(bytes) !== 'ok') throw damaged(name, 'segment header is not valid', 0, expected - 1);
    const scan = scanFrames(bytes, WAL_HEADER_BYTES);
    // Closed segments were written whole and synced: any damage is real.
    if (scan.damage !== undefined) throw damaged(name, `record damaged (${scan.damage.reason})`, scan.damage.offset, expected - 1);
    for (const record of scan.records) {
      if (record.version < expected) continue;
      if (record.version > plan.version) break;
      if (record.version !== expected) throw damaged(name, `jumps from version ${expected - 1} to ${record.version}`, 0, expected - 1);
      if (record.structures !== undefined) {
        try {
          table.define(record.structures);
        } catch (cause) {
          throw damaged(name, `record of version ${record.version}: ${(cause as Error).message}`, 0, expected - 1);
        }
      }
      for (const op of record.ops) {
        delta.set(op.key, op.kind === 'put' ? { key: op.key, encoded: op.encoded, version: record.version, run: op.run, type: op.type, expiresAt: op.expiresAt } : null);
      }
      expected++;
    }
  }
  if (expected - 1 !== plan.version) throw damaged(plan.segments.at(-1) ?? plan.dir, `write-ahead log ends at version ${expected - 1}, the checkpoint needs ${plan.version}`, 0, expected - 1);
  // The default sort orders strings by UTF-16 code units, as `<` does, natively (a comparator function costs several times more).
  const changed = [...delta.keys()].sort();
  const base = plan.base === undefined ? undefined : readCheckpointChunks(fs, join(plan.dir, plan.base));
  const now = plan.now;
  const writer = await CheckpointWriter.create(fs, join(plan.dir, checkpointName(plan.version)), plan.version, plan.dir, table.table());
  try {
    // Changes and base rows merged in key order; a base row is copied from its chunk's columns as it is.
    let i = 0;
    // Each add returns a promise only when it writes a full chunk: awaiting only those keeps a row free of microtasks.
    const addChange = (change: CheckpointEntry | null): Promise<void> | undefined =>
      change !== null && (change.expiresAt === undefined || change.expiresAt > now) ? writer.addEntry(change) : undefined;
    let flushing: Promise<void> | undefined;
    if (base !== undefined) {
      for await (const chunk of base) {
        if (base.info().version !== plan.baseVersion) throw damaged(plan.base!, `holds version ${base.info().version}, expected ${plan.baseVersion}`, 0);
        const { keys, versions, bytes, valueStarts, runs, types } = chunk;
        for (let row = 0; row < chunk.length; row++) {
          const key = keys[row]!;
          for (; i < changed.length && changed[i]! < key; i++) if ((flushing = addChange(delta.get(changed[i]!)!)) !== undefined) await flushing;
          if (i < changed.length && changed[i] === key) {
            if ((flushing = addChange(delta.get(changed[i++]!)!)) !== undefined) await flushing;
            continue;
          }
          const expiry = chunkExpiresAt(chunk, row);
          if (expiry !== undefined && expiry <= now) continue;
          if ((flushing = writer.add(key, bytes, valueStarts[row]!, valueStarts[row + 1]!, versions[row]!, runs?.[row], types?.[row], expiry)) !== undefined) await flushing;
        }
      }
      if (base.info().version !== plan.baseVersion) throw damaged(plan.base!, `holds version ${base.info().version}, expected ${plan.baseVersion}`, 0);
    }
    for (; i < changed.length; i++) if ((flushing = addChange(delta.get(changed[i]!)!)) !== undefined) await flushing;
  } catch (error) {
    await writer.abort();
    throw error;
  }
  const written = await writer.finish();
  // Read back here, on the worker: the main thread prunes the WAL it covers as soon as this resolves.
  await verifyWritten(fs, written);
  return written;
}

function damaged(file: string, message: string, offset: number, lastGoodVersion = 0): CorruptionError {
  return new CorruptionError(`cannot build a checkpoint: ${message}`, { file, offset, lastGoodVersion });
}
