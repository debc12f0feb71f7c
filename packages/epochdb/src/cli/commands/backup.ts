import { openForReading } from '../database-dir.js';
import { directoryFiles } from '../directory-files.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { formatBytes, printable } from '../format.js';
import type { Io } from '../io.js';

/** Options of {@link backupCommand}. */
export interface BackupOptions {
  readonly json?: boolean;
}

/**
 * `epochdb backup <dir> <dest>`: a consistent copy of the database as one
 * checkpoint in `dest` (created; must be missing or empty), which `open`
 * and every command open as a database. The source is opened read-only.
 */
export async function backupCommand(io: Io, dir: string, dest: string, options: BackupOptions): Promise<ExitCode> {
  const db = await openForReading(dir);
  let version: number;
  let keys: number;
  try {
    version = db.version;
    keys = db.stats().keys;
    await db.backup(dest);
  } finally {
    await db.close();
  }
  const files = await directoryFiles(dest);
  const report = { dir, dest, version, keys, bytes: files.checkpointBytes };
  if (options.json === true) io.out(`${JSON.stringify(report)}\n`);
  else io.out(`backup of ${printable(dir)} at version ${version} (${keys} keys) written to ${printable(dest)} (${formatBytes(files.checkpointBytes)})\n`);
  return EXIT.ok;
}
