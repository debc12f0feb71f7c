import { InvalidKeyError, type Entry } from '@epochdb/core';
import type { Database } from '../../database.js';
import { openForReading } from '../database-dir.js';
import { CliError, EXIT, type ExitCode } from '../exit-codes.js';
import { formatExpiry, formatValueFull, orDash, printable } from '../format.js';
import type { Io } from '../io.js';
import { renderPairs } from '../table.js';
import { toTagged } from '../tagged-json.js';

/** Options of {@link getCommand}. */
export interface GetOptions {
  readonly json?: boolean;
}

/** The entry at `key`; a key `get` cannot hold is named as the command's argument, not by the library call behind it. */
function entryAt(db: Database, key: string): Entry | undefined {
  try {
    return db.getEntry(key);
  } catch (error) {
    if (error instanceof InvalidKeyError) throw new InvalidKeyError(`get: <key> ${JSON.stringify(key)} ${error.message.replace(/^getEntry\(\): key /, '')}`, { cause: error });
    throw error;
  }
}

/**
 * `epochdb get <dir> <key>`: one entry with its version, run, type, expiry and
 * full value. A missing (or expired) key is exit 1 with a message on stderr.
 */
export async function getCommand(io: Io, dir: string, key: string, options: GetOptions): Promise<ExitCode> {
  const db = await openForReading(dir);
  try {
    const entry = entryAt(db, key);
    if (entry === undefined) throw new CliError(`key ${JSON.stringify(key)} not found in ${dir}`, EXIT.failure);
    if (options.json === true) {
      io.out(`${JSON.stringify({ ...entry, value: toTagged(entry.value) })}\n`);
      return EXIT.ok;
    }
    io.out(
      renderPairs([
        ['key', printable(entry.key)],
        ['version', String(entry.version)],
        ['run', orDash(entry.run)],
        ['type', orDash(entry.type)],
        ['expires', formatExpiry(entry.expiresAt, io.now())],
        ['value', formatValueFull(entry.value, io.columns === undefined ? undefined : Math.max(20, io.columns - 9))],
      ]),
    );
    return EXIT.ok;
  } finally {
    await db.close();
  }
}
