import { join } from 'node:path';
import { CorruptionError, type CheckpointEntry, type Version } from '@epochdb/core';
import { readCheckpoint, verifyWritten, writeCheckpoint, type CheckpointWritten } from './checkpoint-file.js';
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
 * previous checkpoint's entries, then the WAL records after it applied in
 * version order (deletes and expiries drop keys), then entries already
 * expired at `plan.now` dropped, written in key order with
 * {@link writeCheckpoint}, then read back and verified whole. Needs none of the main thread's memory, so it runs
 * on a worker.
 */
export async function buildCheckpoint(fs: FileSystem, plan: CheckpointPlan): Promise<CheckpointWritten> {
  const entries = new Map<string, CheckpointEntry>();
  if (plan.base !== undefined) {
    const base = await readCheckpoint(fs, join(plan.dir, plan.base));
    if (base.version !== plan.baseVersion) throw damaged(plan.base, `holds version ${base.version}, expected ${plan.baseVersion}`, 0);
    for (const entry of base.entries) entries.set(entry.key, entry);
  }
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
      for (const op of record.ops) {
        if (op.kind === 'put') {
          entries.set(op.key, { key: op.key, encoded: op.encoded, version: record.version, run: op.run, type: op.type, expiresAt: op.expiresAt });
        } else {
          entries.delete(op.key);
        }
      }
      expected++;
    }
  }
  if (expected - 1 !== plan.version) throw damaged(plan.segments.at(-1) ?? plan.dir, `write-ahead log ends at version ${expected - 1}, the checkpoint needs ${plan.version}`, 0, expected - 1);
  const live = [...entries.values()].filter((e) => e.expiresAt === undefined || e.expiresAt > plan.now);
  live.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const written = await writeCheckpoint(fs, join(plan.dir, checkpointName(plan.version)), plan.version, live, plan.dir);
  // Read back here, on the worker: the main thread prunes the WAL it covers as soon as this resolves.
  await verifyWritten(fs, written);
  return written;
}

function damaged(file: string, message: string, offset: number, lastGoodVersion = 0): CorruptionError {
  return new CorruptionError(`cannot build a checkpoint: ${message}`, { file, offset, lastGoodVersion });
}
