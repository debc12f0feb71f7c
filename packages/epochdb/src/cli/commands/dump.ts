import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { finished } from 'node:stream/promises';
import { IoError } from '@epochdb/core';
import type { Database } from '../../database.js';
import { openForReading } from '../database-dir.js';
import { entryLine, headerLine, trailerLine } from '../dump-format.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { printable } from '../format.js';
import type { Io } from '../io.js';
import { LineWriter } from '../line-writer.js';

/** Options of {@link dumpCommand}. */
export interface DumpOptions {
  /** Write to this file (replaced atomically when the dump is complete) instead of stdout. */
  readonly out?: string;
  readonly json?: boolean;
}

/** What a dump wrote. */
export interface DumpSummary {
  readonly version: number;
  readonly entries: number;
}

/**
 * Writes the dump of everything visible in a snapshot of `db` as JSON lines: header, one line per
 * entry in key order, trailer. Format in docs/cli.md.
 */
export async function writeDump(db: Database, writer: LineWriter, now: Date): Promise<DumpSummary> {
  using snapshot = db.snapshot();
  const version = snapshot.version;
  await writer.write(headerLine(version, now));
  let entries = 0;
  for (const entry of snapshot.scan()) {
    await writer.write(entryLine(entry));
    entries++;
  }
  await writer.write(trailerLine(entries));
  return { version, entries };
}

/** Why the dump file cannot be created, naming `--out` (not the temporary name beside it). */
function cannotWrite(out: string, error: unknown): IoError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT' ? `directory ${printable(dirname(out))} does not exist` : code === 'EACCES' || code === 'EPERM' ? `no permission to write in ${printable(dirname(out))}` : code === 'ENOTDIR' ? `${printable(dirname(out))} is not a directory` : (error as Error).message;
  return new IoError(`dump --out ${printable(out)}: cannot create the file: ${why}`, { cause: error });
}

/**
 * `epochdb dump <dir> [--out file]`: every live entry with its run, type and
 * expiry, values in tagged JSON, to stdout or to a file. The summary goes to
 * stderr (to stdout with `--json` when writing to a file).
 */
export async function dumpCommand(io: Io, dir: string, options: DumpOptions): Promise<ExitCode> {
  const db = await openForReading(dir);
  try {
    let summary: DumpSummary;
    if (options.out === undefined) {
      summary = await writeDump(db, new LineWriter(io.stdout), new Date(io.now()));
    } else {
      // A dump cut short never replaces a complete one: write aside, rename when whole.
      const temporary = `${options.out}.tmp-${process.pid}`;
      const stream = createWriteStream(temporary, { flags: 'wx' });
      try {
        await once(stream, 'open');
      } catch (error) {
        throw cannotWrite(options.out, error);
      }
      // Errors while writing surface through finished() (or the drain wait), not as an unhandled event.
      stream.on('error', () => undefined);
      try {
        summary = await writeDump(db, new LineWriter(stream), new Date(io.now()));
        stream.end();
        await finished(stream);
        await rename(temporary, options.out);
      } catch (error) {
        stream.destroy();
        await unlink(temporary).catch(() => undefined);
        throw error;
      }
    }
    const report = { dir, out: options.out ?? null, version: summary.version, entries: summary.entries };
    if (options.json === true && options.out !== undefined) io.out(`${JSON.stringify(report)}\n`);
    else io.err(`dumped ${summary.entries} ${summary.entries === 1 ? 'entry' : 'entries'} at version ${summary.version}${options.out === undefined ? '' : ` to ${printable(options.out)}`}\n`);
    return EXIT.ok;
  } finally {
    await db.close();
  }
}
