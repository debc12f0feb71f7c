import { open } from '../../open.js';
import { assertDatabaseDir, WRITE_OPTIONS } from '../database-dir.js';
import { directoryFiles } from '../directory-files.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { formatBytes, printable } from '../format.js';
import type { Io } from '../io.js';

/** Options of {@link checkpointCommand}. */
export interface CheckpointOptions {
  readonly json?: boolean;
}

/**
 * `epochdb checkpoint <dir>`: writes a checkpoint of the current state and
 * prunes the WAL it covers (keeping the previous checkpoint as a fallback),
 * so that the next open replays nothing.
 */
export async function checkpointCommand(io: Io, dir: string, options: CheckpointOptions): Promise<ExitCode> {
  await assertDatabaseDir(dir);
  const before = await directoryFiles(dir);
  const db = await open({ dir, ...WRITE_OPTIONS, checkpointOnClose: false });
  let version: number;
  let ms: number;
  let upToDate: boolean;
  try {
    upToDate = db.version > 0 && db.recovery?.checkpointVersion === db.version;
    await db.checkpoint();
    const stats = db.stats();
    version = stats.lastCheckpointVersion;
    ms = Math.round(stats.lastCheckpointMs);
  } finally {
    await db.close();
  }
  const after = await directoryFiles(dir);
  const report = { dir, version, upToDate, ms, before, after };
  if (options.json === true) {
    io.out(`${JSON.stringify(report)}\n`);
  } else if (upToDate) {
    io.out(`the newest checkpoint of ${printable(dir)} is already at version ${version}: nothing to do\n`);
  } else {
    io.out(
      `checkpoint at version ${version} written to ${printable(dir)} in ${ms} ms; ` +
        `WAL ${before.segments} segment(s) (${formatBytes(before.walBytes)}) -> ${after.segments} (${formatBytes(after.walBytes)}), ` +
        `${after.checkpoints} checkpoint(s) (${formatBytes(after.checkpointBytes)})\n`,
    );
  }
  return EXIT.ok;
}
