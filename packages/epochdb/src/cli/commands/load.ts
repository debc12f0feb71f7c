import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { assertKey, parseArgument, prepareValue, putOptionsSchema } from '@epochdb/core';
import type { BatchOp } from '@epochdb/store';
import { open } from '../../open.js';
import { WRITE_OPTIONS } from '../database-dir.js';
import { DumpFormatError, parseHeader, parseLine, type DumpEntry, type DumpHeader } from '../dump-format.js';
import { CliError, EXIT, type ExitCode } from '../exit-codes.js';
import { printable } from '../format.js';
import type { Io } from '../io.js';

/** Options of {@link loadCommand}. */
export interface LoadOptions {
  readonly json?: boolean;
  /** Load into a database that already holds entries (keys in the dump overwrite, others stay). */
  readonly merge?: boolean;
}

/** A dump read and checked in full, before anything is written. */
export interface ParsedDump {
  readonly header: DumpHeader;
  readonly entries: readonly DumpEntry[];
}

/** Entries per batch: each batch is one WAL record and one atomic commit. */
const BATCH_ENTRIES = 1000;
/** Largest key and value `load` accepts: what {@link WRITE_OPTIONS} opens with. */
const { maxKeyBytes: MAX_KEY_BYTES, maxValueBytes: MAX_VALUE_BYTES } = WRITE_OPTIONS;

/**
 * Reads a dump from `lines` and checks every line as `put` would (key,
 * value, run, type, expiresAt), so that a bad line fails the load before
 * anything is written. Blank lines are ignored; the trailer must be present
 * and its count must match.
 */
export async function readDump(lines: AsyncIterable<string>): Promise<ParsedDump> {
  let header: DumpHeader | undefined;
  const entries: DumpEntry[] = [];
  let ended: number | undefined;
  let n = 0;
  for await (const text of lines) {
    n++;
    if (text.trim() === '') continue;
    if (header === undefined) {
      if (n !== 1) throw new DumpFormatError(n, 'the header must be the first line');
      header = parseHeader(text);
      continue;
    }
    if (ended !== undefined) throw new DumpFormatError(n, 'text after the end line');
    const line = parseLine(text, n);
    if (line.kind === 'end') {
      if (line.entries !== entries.length) throw new DumpFormatError(n, `the end line counts ${line.entries} entries, the dump holds ${entries.length}`);
      ended = line.entries;
      continue;
    }
    const { key, value, run, type, expiresAt } = line.entry;
    try {
      assertKey(key, 'key', MAX_KEY_BYTES);
      prepareValue(value, MAX_VALUE_BYTES, 'value');
      parseArgument(putOptionsSchema, { run, type, expiresAt }, 'entry');
    } catch (error) {
      throw new DumpFormatError(n, `key ${JSON.stringify(key)}: ${(error as Error).message}`, { cause: error });
    }
    entries.push(line.entry);
  }
  if (header === undefined) throw new DumpFormatError(1, 'empty file: not an epochdb dump');
  if (ended === undefined) throw new DumpFormatError(n, 'the dump is incomplete: no end line (cut short?)');
  return { header, entries };
}

/** The batch operation restoring `entry`, keeping its absolute expiry time. */
export function restoreOp(entry: DumpEntry): BatchOp {
  return {
    op: 'put',
    key: entry.key,
    value: entry.value,
    ...(entry.run === undefined ? {} : { run: entry.run }),
    ...(entry.type === undefined ? {} : { type: entry.type }),
    ...(entry.expiresAt === undefined ? {} : { expiresAt: entry.expiresAt }),
  };
}

async function linesOf(file: string): Promise<AsyncIterable<string>> {
  if (file === '-') return createInterface({ input: process.stdin, crlfDelay: Infinity });
  try {
    if (!(await stat(file)).isFile()) throw new CliError(`${file}: not a file`);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`, EXIT.failure, { cause: error });
  }
  return createInterface({ input: createReadStream(file), crlfDelay: Infinity });
}

/**
 * `epochdb load <dir> <file>`: restores a dump into `dir` (created if
 * missing). A database that already holds entries is refused unless
 * `--merge` (then keys already there are overwritten, others kept). The whole file
 * is read and checked first, so a bad line writes nothing. Entries already
 * expired are skipped; the others keep their absolute expiry time, run and
 * type. Committed in batches of {@link BATCH_ENTRIES}, then fdatasync'ed and
 * checkpointed once.
 */
export async function loadCommand(io: Io, dir: string, file: string, options: LoadOptions): Promise<ExitCode> {
  let dump: ParsedDump;
  try {
    dump = await readDump(await linesOf(file));
  } catch (error) {
    if (error instanceof DumpFormatError) throw new CliError(`${printable(file)}: ${printable(error.message)}`, EXIT.failure, { cause: error });
    throw error;
  }
  const now = io.now();
  const live = dump.entries.filter((e) => e.expiresAt === undefined || e.expiresAt > now);
  const db = await open({ dir, ...WRITE_OPTIONS });
  try {
    if (options.merge !== true && !db.scan({ limit: 1 }).next().done) {
      throw new CliError(`${printable(dir)} already holds ${db.stats().keys} key(s): load refuses to merge into it by surprise; pass --merge to load anyway (keys in the dump overwrite, others stay), or load into a new directory`, EXIT.failure);
    }
    for (let i = 0; i < live.length; i += BATCH_ENTRIES) {
      await db.batch(live.slice(i, i + BATCH_ENTRIES).map(restoreOp), { sync: 'none' });
    }
    await db.flushed();
    const report = { dir, file, loaded: live.length, skippedExpired: dump.entries.length - live.length, version: db.version, dumpVersion: dump.header.version };
    if (options.json === true) io.out(`${JSON.stringify(report)}\n`);
    else io.out(`loaded ${report.loaded} ${report.loaded === 1 ? 'entry' : 'entries'} into ${printable(dir)} (skipped ${report.skippedExpired} expired; database now at version ${report.version})\n`);
    return EXIT.ok;
  } finally {
    await db.close();
  }
}
