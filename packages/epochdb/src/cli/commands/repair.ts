import type { RecoveryEvent } from '@epochdb/core';
import { open } from '../../open.js';
import { assertDatabaseDir, WRITE_OPTIONS } from '../database-dir.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { formatBytes, printable } from '../format.js';
import type { Io } from '../io.js';
import { renderPairs, renderTable } from '../table.js';

/** Options of {@link repairCommand}. */
export interface RepairOptions {
  readonly json?: boolean;
}

/** One recovery event as a table row: what happened, to which file, and the details. */
export function eventRow(event: Exclude<RecoveryEvent, { type: 'progress' }>): [string, string, string] {
  switch (event.type) {
    case 'truncated':
      return ['truncated', event.file, `incomplete last record at offset ${event.offset} dropped (${formatBytes(event.bytesDropped)})`];
    case 'checkpoint-fallback':
      return ['checkpoint-fallback', event.file, printable(`damaged, the previous checkpoint and the WAL used instead: ${event.reason}`)];
    case 'salvaged':
      return ['moved aside', event.file, printable(`to ${event.movedTo}: ${event.reason}`)];
  }
}

/**
 * `epochdb repair <dir>`: opens with salvage recovery, which keeps the
 * longest consistent prefix of the history, moves damaged files into
 * `damaged/` (never deletes them) and writes a fresh checkpoint; then reports
 * what was kept and what was moved. The directory opens normally afterwards.
 */
export async function repairCommand(io: Io, dir: string, options: RepairOptions): Promise<ExitCode> {
  await assertDatabaseDir(dir);
  // Salvage writes its checkpoint while opening; a healthy directory needs none on close.
  const db = await open({ dir, ...WRITE_OPTIONS, recovery: 'salvage', checkpointOnClose: false });
  try {
    const stats = db.stats();
    const recovery = db.recovery!;
    const events = recovery.events.filter((e): e is Exclude<RecoveryEvent, { type: 'progress' }> => e.type !== 'progress');
    const repaired = events.some((e) => e.type !== 'truncated');
    if (options.json === true) {
      io.out(`${JSON.stringify({ dir, repaired, version: stats.version, keys: stats.keys, recovery }, null, 2)}\n`);
      return EXIT.ok;
    }
    io.out(
      renderPairs(
        [
          ['directory', printable(dir)],
          ['result', repaired ? 'repaired: damaged files moved to damaged/, a new checkpoint written' : 'nothing to repair'],
          ['version', `${stats.version} (the newest consistent version kept)`],
          ['keys', String(stats.keys)],
          ['recovered', `${recovery.checkpointEntries} entries from the checkpoint at version ${recovery.checkpointVersion}, ${recovery.replayedRecords} WAL records replayed`],
        ],
        io.columns,
      ),
    );
    if (events.length > 0) {
      io.out('\n');
      io.out(renderTable([{ header: 'EVENT' }, { header: 'FILE' }, { header: 'DETAILS', flexible: true, minWidth: 20 }], events.map(eventRow), io.columns));
    }
    return EXIT.ok;
  } finally {
    await db.close();
  }
}
