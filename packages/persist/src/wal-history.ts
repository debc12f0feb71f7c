import { join } from 'node:path';
import { VersionUnavailableError, type CommitRecord, type Version } from '@epochdb/core';
import type { FileSystem } from './file-system.js';
import { checkSegmentHeader, scanFrames, WAL_HEADER_BYTES } from './wal-format.js';
import { listSegments } from './directory-layout.js';

/**
 * The commit records with versions in `(after, upTo]`, read from the WAL
 * segments still in `dir`, in version order. The newest segment may be being
 * appended to: its incomplete tail is simply not read. Throws
 * {@link VersionUnavailableError} when the WAL no longer holds version
 * `after + 1` (a checkpoint covered it and it was pruned).
 */
export async function readWalHistory(fs: FileSystem, dir: string, after: Version, upTo: Version): Promise<CommitRecord[]> {
  const records: CommitRecord[] = [];
  if (upTo <= after) return records;
  const segments = listSegments(await fs.readdir(dir));
  // Segments whose records can reach past `after`: skip those wholly at or below it.
  const needed = segments.filter((s, i) => (segments[i + 1]?.first ?? Infinity) - 1 > after && s.first <= upTo);
  let expected = after + 1;
  for (const segment of needed) {
    const bytes = await fs.readFile(join(dir, segment.name)).catch(() => undefined);
    if (bytes === undefined || checkSegmentHeader(bytes) !== 'ok') break;
    for (const record of scanFrames(bytes, WAL_HEADER_BYTES).records) {
      if (record.version < expected) continue;
      if (record.version !== expected || record.version > upTo) break;
      records.push(record);
      expected++;
    }
    if (expected > upTo) break;
  }
  if (expected <= upTo) {
    throw new VersionUnavailableError(
      `watch(): changes after version ${after} are no longer retained (the write-ahead log holds ${records.length === 0 ? 'none of them' : `only up to version ${expected - 1}`}); resume from a newer version or rescan`,
    );
  }
  return records;
}
