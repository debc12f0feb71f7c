import { SingleBar } from 'cli-progress';
import { restore, type RestoreReport } from '@epochdb/replicate';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { printable } from '../format.js';
import type { Io } from '../io.js';

/** Options of {@link restoreCommand}. */
export interface RestoreCommandOptions {
  readonly servers: string;
  readonly name: string;
  readonly version?: number;
  readonly json?: boolean;
}

/**
 * `epochdb restore <dir> --servers <host:port> --name <name> [--version <v>]`:
 * builds `dir` (missing or empty) at a version the replication log still
 * covers, from the newest checkpoint at or below it in the JetStream object
 * store plus the stream's records after it. Progress goes to stderr: a bar on
 * a terminal, a line every 10% otherwise.
 */
export async function restoreCommand(io: Io, dir: string, options: RestoreCommandOptions): Promise<ExitCode> {
  let bar: SingleBar | undefined;
  let lastTenth = -1;
  const onProgress = (done: number, total: number): void => {
    if (io.stderrIsTty) {
      if (bar === undefined) {
        bar = new SingleBar({ stream: io.progressStream, format: 'restoring |{bar}| {percentage}% {value}/{total} records', barCompleteChar: '█', barIncompleteChar: '░', hideCursor: true, clearOnComplete: true });
        bar.start(total, 0);
      }
      bar.update(done);
      return;
    }
    const tenth = Math.floor((done * 10) / total);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      io.err(`restoring: ${done}/${total} records\n`);
    }
  };
  let report: RestoreReport;
  try {
    report = await restore({ servers: options.servers.split(','), name: options.name, dir, onProgress, ...(options.version === undefined ? {} : { version: options.version }) });
  } finally {
    bar?.stop();
  }
  if (options.json === true) io.out(`${JSON.stringify({ dir, ...report })}\n`);
  else {
    const from = report.checkpointVersion === 0 ? 'the stream alone' : `checkpoint ${report.checkpointVersion}`;
    io.out(`restored ${printable(options.name)} at version ${report.version} into ${printable(dir)}: ${report.entries} entries, from ${from} and ${report.records} records\n`);
  }
  return EXIT.ok;
}
