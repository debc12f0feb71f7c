import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { backupCommand } from './commands/backup.js';
import { checkpointCommand } from './commands/checkpoint.js';
import { dumpCommand } from './commands/dump.js';
import { getCommand } from './commands/get.js';
import { loadCommand } from './commands/load.js';
import { repairCommand } from './commands/repair.js';
import { restoreCommand, type RestoreCommandOptions } from './commands/restore.js';
import { scanCommand } from './commands/scan.js';
import { statsCommand } from './commands/stats.js';
import { verifyCommand } from './commands/verify.js';
import { describeError, EXIT, exitCodeFor, type ExitCode } from './exit-codes.js';
import type { Io } from './io.js';

/** Commander's codes for "help or version was asked for and printed": a success (`commander.help` also ends a bare `epochdb`, with exit code 1: a usage error). */
const INFORMATIONAL = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/** The version of the `epochdb` package (from its package.json, two levels above `dist/cli/`). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function parseLimit(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

/** Runs a command, turning what it throws into a message on stderr and an exit code. */
async function run(io: Io, command: () => Promise<ExitCode>): Promise<ExitCode> {
  try {
    return await command();
  } catch (error) {
    io.err(`epochdb: ${describeError(error)}\n`);
    if (process.env['EPOCHDB_DEBUG'] !== undefined && error instanceof Error) io.err(`${error.stack ?? ''}\n`);
    return exitCodeFor(error);
  }
}

/**
 * Builds the `epochdb` command line. `done` receives the exit code of the
 * command that ran.
 */
export function createProgram(io: Io, done: (code: ExitCode) => void): Command {
  const program = new Command('epochdb')
    .description('Inspect, verify, repair, dump and load EpochDB database directories.')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err, outputError: (text, write) => write(`epochdb: ${text.replace(/^error: /, '')}`) })
    .showHelpAfterError('(run `epochdb --help` for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 failure (damage found, key not found, missing directory, I/O error), 2 usage error,\n' +
        '            3 directory locked by another process, 4 corruption or unsupported format.\n' +
        "Run 'epochdb help <command>' for a command's arguments and options.",
    );
  // `program.command()` subcommands inherit exitOverride and output settings.
  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<ExitCode>) =>
    async (...args: A): Promise<void> =>
      done(await run(io, () => fn(...args)));

  program
    .command('stats')
    .description('version, key counts, files on disk, what recovery did')
    .argument('<dir>', 'database directory')
    .option('--json', 'print JSON')
    .action(action((dir: string, options: { json?: true }) => statsCommand(io, dir, options)));

  program
    .command('get')
    .description('one entry: value, version, run, type, expiry (exit 1 if absent)')
    .argument('<dir>', 'database directory')
    .argument('<key>', 'the key')
    .option('--json', 'print JSON (values in tagged JSON)')
    .action(action((dir: string, key: string, options: { json?: true }) => getCommand(io, dir, key, options)));

  program
    .command('scan')
    .description('entries in key order, optionally by prefix, range, run or type')
    .argument('<dir>', 'database directory')
    .option('--prefix <prefix>', 'keys starting with this')
    .option('--gte <key>', 'keys >= this')
    .option('--lt <key>', 'keys < this')
    .option('--run <run>', 'entries written with this run id (index walk)')
    .option('--type <type>', 'entries written with this type tag (index walk)')
    .option('--limit <n>', 'at most n entries', parseLimit)
    .option('--reverse', 'descending key order')
    .option('--json', 'print a JSON array (values in tagged JSON)')
    .action(action((dir: string, options: Parameters<typeof scanCommand>[2]) => scanCommand(io, dir, options)));

  program
    .command('verify')
    .description('check every checksum of every file, without opening the database (exit 1 on damage)')
    .argument('<dir>', 'database directory')
    .option('--json', 'print the report as JSON')
    .action(action((dir: string, options: { json?: true }) => verifyCommand(io, dir, options)));

  program
    .command('repair')
    .description('salvage recovery: keep the longest consistent prefix, move damaged files to damaged/')
    .argument('<dir>', 'database directory')
    .option('--json', 'print the report as JSON')
    .action(action((dir: string, options: { json?: true }) => repairCommand(io, dir, options)));

  program
    .command('dump')
    .description('write every entry as JSON lines (to stdout, or --out file)')
    .argument('<dir>', 'database directory')
    .option('--out <file>', 'write to this file instead of stdout (replaced when complete)')
    .option('--json', 'with --out: print the summary as JSON')
    .action(action((dir: string, options: { out?: string; json?: true }) => dumpCommand(io, dir, options)));

  program
    .command('load')
    .description('restore a dump into a new or empty database directory (created if missing; --merge for one with entries)')
    .argument('<dir>', 'database directory')
    .argument('<file>', 'dump file, or - for stdin')
    .option('--merge', 'load into a database that already holds entries (keys in the dump overwrite, others stay)')
    .option('--json', 'print the summary as JSON')
    .action(action((dir: string, file: string, options: { json?: true; merge?: true }) => loadCommand(io, dir, file, options)));

  program
    .command('checkpoint')
    .description('write a checkpoint now and prune the WAL it covers')
    .argument('<dir>', 'database directory')
    .option('--json', 'print the summary as JSON')
    .action(action((dir: string, options: { json?: true }) => checkpointCommand(io, dir, options)));

  program
    .command('backup')
    .description('consistent copy of the database into dest (missing or empty)')
    .argument('<dir>', 'database directory')
    .argument('<dest>', 'destination directory')
    .option('--json', 'print the summary as JSON')
    .action(action((dir: string, dest: string, options: { json?: true }) => backupCommand(io, dir, dest, options)));

  program
    .command('restore')
    .description('build dir (missing or empty) at a version from a NATS JetStream replication log')
    .argument('<dir>', 'directory to build')
    .requiredOption('--servers <list>', 'NATS server address(es), comma-separated')
    .requiredOption('--name <name>', 'the replicated database (the primary\'s replicate.name)')
    .option('--at <version>', 'the version to restore (default: the newest)', parseVersion)
    .option('--user <name>', 'NATS user (its password from the environment variable EPOCHDB_NATS_PASSWORD)')
    .option('--creds <file>', 'NATS credentials file (.creds: user JWT and NKey seed)')
    .option('--tls-ca <file>', 'PEM file of the CA that signed the server certificate')
    .option('--tls-cert <file>', 'PEM client certificate (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of the client certificate')
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', '\nSecrets never go on the command line: a password comes from EPOCHDB_NATS_PASSWORD (with --user), a token from EPOCHDB_NATS_TOKEN.')
    .action(action((dir: string, options: Omit<RestoreCommandOptions, 'version' | 'password' | 'token'> & { at?: number }) => {
      const { at, ...rest } = options;
      const password = process.env['EPOCHDB_NATS_PASSWORD'];
      const token = process.env['EPOCHDB_NATS_TOKEN'];
      return restoreCommand(io, dir, { ...rest, ...(at === undefined ? {} : { version: at }), ...(password === undefined ? {} : { password }), ...(token === undefined ? {} : { token }) });
    }));

  return program;
}

function parseVersion(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidArgumentError(`expected a positive integer version, got ${JSON.stringify(text)}`);
  return value;
}

/**
 * Runs the command line `argv` (without `node` and the script) and returns
 * the exit code: see {@link EXIT}.
 */
export async function runCli(argv: readonly string[], io: Io): Promise<ExitCode> {
  let code: ExitCode | undefined;
  const program = createProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return INFORMATIONAL.has(error.code) && error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw error;
  }
  return code ?? EXIT.usage;
}
