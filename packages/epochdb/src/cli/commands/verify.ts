import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { EpochError } from '@epochdb/core';
import { nodeFileSystem, parseCheckpointName, parseSegmentName, verifyDirectory, type FileReport, type VerifyReport } from '@epochdb/persist';
import { assertDatabaseDir } from '../database-dir.js';
import { describeError, EXIT, type ExitCode } from '../exit-codes.js';
import { formatBytes, printable } from '../format.js';
import type { Io } from '../io.js';
import { renderTable, type Column } from '../table.js';
import { watchReads } from '../verify-progress.js';

/** Options of {@link verifyCommand}. */
export interface VerifyOptions {
  readonly json?: boolean;
}

const COLUMNS: readonly Column[] = [
  { header: 'FILE' },
  { header: 'KIND' },
  { header: 'BYTES', align: 'right' },
  { header: 'ITEMS', align: 'right' },
  { header: 'STATUS', flexible: true, minWidth: 16 },
];

/** The status cell of one file: `ok`, `DAMAGED at <offset>: <why>`, or the torn tail recovery will truncate. */
export function fileStatus(file: FileReport): string {
  if (file.error !== undefined) return printable(`DAMAGED at offset ${file.error.offset}: ${file.error.message}`);
  if (file.incompleteTail !== undefined) return `ok, incomplete last record at offset ${file.incompleteTail.offset} (${file.incompleteTail.bytes} bytes; recovery truncates it)`;
  return 'ok';
}

/** The closing line of a report. */
export function verifySummary(report: VerifyReport): string {
  const contents = `${report.checkpoints} checkpoint(s), ${report.entries} entries; ${report.segments} WAL segment(s), ${report.records} records`;
  if (report.ok) return `ok: every checksum verified (${contents})`;
  const damaged = report.files.filter((f) => f.error !== undefined).length;
  const first = report.firstError!;
  return printable(`DAMAGED: ${damaged} file(s) damaged, first ${first.file} at offset ${first.offset}: ${first.message} (${contents}); \`epochdb repair\` keeps the longest consistent prefix`);
}

/**
 * Sizes of the files `verifyDirectory` reads (checkpoints and WAL segments),
 * for the progress total.
 */
async function verifiedFileSizes(dir: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const name of await nodeFileSystem.readdir(dir)) {
    if (parseCheckpointName(name) === undefined && parseSegmentName(name) === undefined) continue;
    sizes.set(name, (await nodeFileSystem.size(join(dir, name))) ?? 0);
  }
  return sizes;
}

/**
 * `epochdb verify <dir>`: reads every checkpoint and WAL segment and checks
 * every checksum, without opening the database (so it neither takes the lock
 * nor changes a file, and works on a directory too damaged to open). Progress
 * goes to stderr: a bar on a terminal, a line per file otherwise. Exit 1 when
 * any damage is found.
 */
export async function verifyCommand(io: Io, dir: string, options: VerifyOptions): Promise<ExitCode> {
  await assertDatabaseDir(dir);
  const sizes = await verifiedFileSizes(dir);
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  let bar: SingleBar | undefined;
  if (io.stderrIsTty) {
    bar = new SingleBar({
      stream: io.progressStream,
      format: 'verifying |{bar}| {percentage}% {done}/{size} {file}',
      barCompleteChar: '█',
      barIncompleteChar: '░',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
    });
    bar.start(Math.max(total, 1), 0, { done: formatBytes(0), size: formatBytes(total), file: '' });
  }
  const fs = watchReads(
    nodeFileSystem,
    sizes,
    (file) => {
      if (bar === undefined) io.err(`verifying ${file} (${formatBytes(sizes.get(file) ?? 0)})\n`);
    },
    ({ bytesDone, file }) => bar?.update(bytesDone, { done: formatBytes(bytesDone), file }),
  );
  let report: VerifyReport;
  try {
    report = await verifyDirectory(fs, dir);
  } catch (error) {
    // --json always prints a report, also when verify could not finish (an I/O error, say).
    if (options.json === true) io.out(`${JSON.stringify({ ok: false, error: { code: error instanceof EpochError ? error.code : 'IO_ERROR', message: describeError(error) } }, null, 2)}\n`);
    throw error;
  } finally {
    if (bar !== undefined) {
      bar.update(Math.max(total, 1));
      bar.stop();
    }
  }
  if (options.json === true) {
    io.out(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const rows = report.files.map((f) => [f.file, f.kind, String(f.bytes), String(f.items), fileStatus(f)]);
    if (rows.length > 0) io.out(renderTable(COLUMNS, rows, io.columns));
    if (report.vanished !== undefined) {
      io.out(printable(`${report.vanished.length} file(s) deleted by a checkpoint of the open database while verifying (not damage; the files that replaced them were verified): ${report.vanished.join(', ')}`) + '\n');
    }
    io.out(`${verifySummary(report)}\n`);
  }
  return report.ok ? EXIT.ok : EXIT.failure;
}
