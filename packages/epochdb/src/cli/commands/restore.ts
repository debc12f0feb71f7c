import { SingleBar } from 'cli-progress';
import { restore, type RestoreOptions, type RestoreReport } from '@epochdb/replicate';
import { CliError, EXIT, type ExitCode } from '../exit-codes.js';
import { printable } from '../format.js';
import type { Io } from '../io.js';

/** Options of {@link restoreCommand}. */
export interface RestoreCommandOptions {
  readonly servers: string;
  readonly name: string;
  readonly version?: number;
  readonly json?: boolean;
  /** NATS user; its password is {@link RestoreCommandOptions.password} (from `EPOCHDB_NATS_PASSWORD`). */
  readonly user?: string;
  readonly password?: string;
  /** NATS token (from `EPOCHDB_NATS_TOKEN`). */
  readonly token?: string;
  readonly creds?: string;
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
}

/** The connection options of `restore()` for the command's flags. */
function connectionFlags(options: RestoreCommandOptions): Pick<RestoreOptions, 'user' | 'pass' | 'token' | 'credsFile' | 'tls'> {
  if (options.user !== undefined && options.password === undefined) throw new CliError('restore: --user needs its password in the environment variable EPOCHDB_NATS_PASSWORD', EXIT.usage);
  const tls = { ...(options.tlsCa === undefined ? {} : { caFile: options.tlsCa }), ...(options.tlsCert === undefined ? {} : { certFile: options.tlsCert }), ...(options.tlsKey === undefined ? {} : { keyFile: options.tlsKey }) };
  return {
    // A password in the environment without --user is not used: a token (EPOCHDB_NATS_TOKEN) is the user-less secret.
    ...(options.user === undefined ? {} : { user: options.user, pass: options.password! }),
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.creds === undefined ? {} : { credsFile: options.creds }),
    ...(Object.keys(tls).length === 0 ? {} : { tls }),
  };
}

/**
 * `epochdb restore <dir> --servers <host:port> --name <name> [--at <v>] [--user <u> | --creds <file>] [--tls-ca <file>]`:
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
  const connection = connectionFlags(options);
  let report: RestoreReport;
  try {
    report = await restore({ servers: options.servers.split(','), ...connection, name: options.name, dir, onProgress, ...(options.version === undefined ? {} : { version: options.version }) });
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
