import { openForReading } from '../database-dir.js';
import { directoryFiles } from '../directory-files.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { formatBytes, printable } from '../format.js';
import type { Io } from '../io.js';
import { renderPairs } from '../table.js';

/** Options of {@link statsCommand}. */
export interface StatsOptions {
  readonly json?: boolean;
}

/**
 * `epochdb stats <dir>`: the version, key counts, files on disk and what
 * recovery did at open. `--json` prints everything `db.stats()` reports as
 * well, with `recovery` and `files`.
 */
export async function statsCommand(io: Io, dir: string, options: StatsOptions): Promise<ExitCode> {
  const db = await openForReading(dir);
  try {
    const stats = db.stats();
    const recovery = db.recovery!;
    const files = await directoryFiles(dir);
    if (options.json === true) {
      io.out(`${JSON.stringify({ dir, stats, recovery, files }, null, 2)}\n`);
      return EXIT.ok;
    }
    const pairs: [string, string][] = [
      ['directory', printable(dir)],
      ['version', String(stats.version)],
      ['keys', String(stats.keys)],
      ['keys with TTL', String(stats.ttlEntries)],
      ['stored versions', String(stats.storedVersions)],
      ['memory', formatBytes(stats.memoryBytes)],
      // A read-only open appends nothing, so db.stats().walBytesSinceCheckpoint is always 0 here: what the WAL
      // holds beyond the checkpoint is the recovery line's replayed records.
      ['checkpoints', files.checkpoints === 0 ? 'none yet (every commit is in the WAL)' : `${files.checkpoints} (${formatBytes(files.checkpointBytes)}), newest at version ${recovery.checkpointVersion}`],
      ['WAL segments', `${files.segments} (${formatBytes(files.walBytes)})`],
      ['recovery', files.checkpoints === 0 ? `${recovery.replayedRecords} WAL records replayed` : `${recovery.checkpointEntries} entries from the checkpoint, ${recovery.replayedRecords} WAL records replayed`],
    ];
    for (const event of recovery.events) pairs.push(['recovery event', printable(JSON.stringify(event))]);
    if (files.damagedFiles > 0) pairs.push(['damaged files', `${files.damagedFiles} in damaged/ (moved aside by salvage recovery)`]);
    io.out(renderPairs(pairs, io.columns));
    return EXIT.ok;
  } finally {
    await db.close();
  }
}
