import type { Entry } from '@epochdb/core';
import type { ScanOptions } from '@epochdb/store';
import type { Database } from '../../database.js';
import { openForReading } from '../database-dir.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { formatExpiryShort, formatValueInline, orDash, printable } from '../format.js';
import type { Io } from '../io.js';
import { renderTable, type Column } from '../table.js';
import { toTagged } from '../tagged-json.js';

/** Options of {@link scanCommand}. */
export interface ScanCommandOptions {
  readonly prefix?: string;
  readonly gte?: string;
  readonly lt?: string;
  readonly run?: string;
  readonly type?: string;
  readonly limit?: number;
  readonly reverse?: boolean;
  readonly json?: boolean;
}

const COLUMNS: readonly Column[] = [
  { header: 'KEY', flexible: true, minWidth: 12 },
  { header: 'VERSION', align: 'right' },
  { header: 'RUN', flexible: true },
  { header: 'TYPE', flexible: true },
  { header: 'EXPIRES' },
  { header: 'VALUE', flexible: true, minWidth: 10 },
];

/**
 * The entries to list: a key-range scan, or an index walk by run or type
 * (both: walk the run index and keep the entries of that type, so the limit
 * counts matches, not entries walked).
 */
export function* selectEntries(db: Database, options: ScanCommandOptions): Generator<Entry> {
  const range: ScanOptions = {
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    ...(options.gte === undefined ? {} : { gte: options.gte }),
    ...(options.lt === undefined ? {} : { lt: options.lt }),
    ...(options.reverse === true ? { reverse: true } : {}),
  };
  const { run, type, limit } = options;
  if (run !== undefined && type !== undefined) {
    if (limit === 0) return;
    let count = 0;
    for (const entry of db.byRun(run, range)) {
      if (entry.type !== type) continue;
      yield entry;
      if (++count === limit) return;
    }
    return;
  }
  const limited: ScanOptions = limit === undefined ? range : { ...range, limit };
  if (run !== undefined) yield* db.byRun(run, limited);
  else if (type !== undefined) yield* db.byType(type, limited);
  else yield* db.scan(limited);
}

/**
 * `epochdb scan <dir>`: entries in key order as a table (values abbreviated,
 * fitted to the terminal), or with `--json` as a JSON array of
 * `{ key, value, version, run?, type?, expiresAt? }` with tagged values,
 * written as it is read.
 */
export async function scanCommand(io: Io, dir: string, options: ScanCommandOptions): Promise<ExitCode> {
  const db = await openForReading(dir);
  try {
    const entries = selectEntries(db, options);
    if (options.json === true) {
      let first = true;
      io.out('[');
      for (const entry of entries) {
        io.out(`${first ? '\n' : ',\n'}${JSON.stringify({ ...entry, value: toTagged(entry.value) })}`);
        first = false;
      }
      io.out(first ? ']\n' : '\n]\n');
      return EXIT.ok;
    }
    const now = io.now();
    const rows = [...entries].map((e) => [printable(e.key), String(e.version), orDash(e.run), orDash(e.type), formatExpiryShort(e.expiresAt, now), formatValueInline(e.value)]);
    if (rows.length === 0) {
      io.err('no entries\n');
      return EXIT.ok;
    }
    io.out(renderTable(COLUMNS, rows, io.columns));
    io.err(`${rows.length} ${rows.length === 1 ? 'entry' : 'entries'}\n`);
    return EXIT.ok;
  } finally {
    await db.close();
  }
}
