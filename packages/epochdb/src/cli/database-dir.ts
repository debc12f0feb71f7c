import { stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UnsupportedFormatError } from '@epochdb/core';
import { checkMarker, MARKER_FILE } from '@epochdb/persist';
import { open, type OpenOptions } from '../open.js';
import type { Database } from '../database.js';
import { CliError, EXIT } from './exit-codes.js';

/**
 * Checks that `dir` is an existing EpochDB directory, without changing it
 * (`open` would create a missing directory and mark an empty one as a
 * database). A missing directory is a {@link CliError} (exit 1); a directory
 * without a readable marker of a known format is an
 * {@link UnsupportedFormatError} (exit 4).
 */
export async function assertDatabaseDir(dir: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`${dir}: no such database directory`, EXIT.failure);
    throw new CliError(`${dir}: ${(error as Error).message}`, EXIT.failure, { cause: error });
  }
  if (!isDirectory) throw new CliError(`${dir}: not a directory`, EXIT.failure);
  let marker: string;
  try {
    marker = await readFile(join(dir, MARKER_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UnsupportedFormatError(`${dir} is not an EpochDB directory (no ${MARKER_FILE} file)`);
    throw new CliError(`cannot read ${join(dir, MARKER_FILE)}: ${(error as Error).message}`, EXIT.failure, { cause: error });
  }
  checkMarker(marker, dir);
}

/**
 * Options for commands that only read: `readOnly` (no lock taken, not a byte
 * written: no new WAL segment, no checkpoint, no truncation of a torn tail,
 * so they work on the directory of a running process), no worker threads, no
 * maintenance timer.
 */
export const READ_ONLY_OPTIONS = {
  readOnly: true,
  workers: 0,
  maintenance: { intervalMs: 0, gcPressureVersions: 0 },
} as const satisfies OpenOptions;

/** Options for commands that write: the lock, the final checkpoint, no workers or maintenance timer, and room for the largest keys and values a database can hold. */
export const WRITE_OPTIONS = {
  workers: 0,
  maxKeyBytes: 65_535,
  maxValueBytes: 1024 * 1024 * 1024,
  maintenance: { intervalMs: 0, gcPressureVersions: 0 },
} as const satisfies OpenOptions;

/** Opens an existing database directory for reading (see {@link READ_ONLY_OPTIONS}); never creates one. */
export async function openForReading(dir: string): Promise<Database> {
  await assertDatabaseDir(dir);
  return open({ dir, ...READ_ONLY_OPTIONS });
}
