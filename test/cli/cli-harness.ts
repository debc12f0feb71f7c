/**
 * Runs the `epochdb` command line — in this process through `runCli` (so
 * coverage sees it), or as the real binary (packages/epochdb/dist/cli/main.js,
 * built by `npx tsc -b`) in a child process when a test needs one: stdin, or
 * `binary: true` — and builds database directories for it to work on.
 */
import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, type Database, type OpenOptions } from 'epochdb';
import { runCli } from '../../packages/epochdb/src/cli/program.js';

export const BIN = fileURLToPath(new URL('../../packages/epochdb/dist/cli/main.js', import.meta.url));

if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npx tsc -b\` before the CLI tests`);

/** What one run of the binary did. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `epochdb ...args`; never rejects on a non-zero exit. In this process
 * unless `input` (piped to stdin) or `binary` asks for the real executable.
 * `env.COLUMNS` sets the width output is fitted to.
 */
export async function epochdb(args: readonly string[], options: { env?: Record<string, string>; input?: string; cwd?: string; binary?: boolean } = {}): Promise<CliResult> {
  if (options.input !== undefined || options.binary === true || options.cwd !== undefined) return epochdbBinary(args, options);
  let stdout = '';
  let stderr = '';
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => void (stdout += chunk.toString('utf8')));
  const columns = Number.parseInt(options.env?.['COLUMNS'] ?? '', 10);
  const code = await runCli(args, {
    out: (text) => void (stdout += text),
    err: (text) => void (stderr += text),
    stdoutIsTty: false,
    stderrIsTty: false,
    columns: Number.isInteger(columns) && columns > 0 ? columns : undefined,
    stdout: stream,
    progressStream: new PassThrough(),
    now: () => Date.now(),
  });
  await new Promise((resolve) => setImmediate(resolve));
  return { code, stdout, stderr };
}

/** Runs the real binary in a child process. */
export function epochdbBinary(args: readonly string[], options: { env?: Record<string, string>; input?: string; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env['PATH'] ?? '', ...options.env }, cwd: options.cwd, maxBuffer: 64 << 20, timeout: 20_000 },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

/**
 * Runs several command lines one after the other: commands on the same
 * directory take its lock in turn (a second one at the same time exits 3).
 */
export async function epochdbInSequence(runs: readonly (readonly string[])[]): Promise<CliResult[]> {
  const results: CliResult[] = [];
  for (const args of runs) results.push(await epochdb(args));
  return results;
}

/** A temporary root for one test file, removed by `cleanup()`. */
export function tempRoot(name: string): { readonly dir: (label: string) => string; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), `epochdb-cli-${name}-`));
  let n = 0;
  return {
    dir: (label) => join(root, `${label}-${n++}`),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Options that keep fixture databases still: no maintenance commits, no checkpoint unless asked. */
export const FIXTURE: OpenOptions = { workers: 0, maintenance: { intervalMs: 0, gcPressureVersions: 0 } };

/** Opens `dir` in the test process, runs `fill`, closes. */
export async function buildDb(dir: string, fill: (db: Database) => Promise<void>, options: OpenOptions = {}): Promise<void> {
  const db = await open({ dir, ...FIXTURE, ...options });
  try {
    await fill(db);
  } finally {
    await db.close();
  }
}

/** Every file of `dir` (recursively) but the lock, with its bytes: to show that a command changed nothing. */
export function snapshotFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (sub: string): void => {
    for (const name of readdirSync(join(dir, sub)).sort()) {
      const rel = sub === '' ? name : join(sub, name);
      if (name.startsWith('LOCK')) continue;
      if (statSync(join(dir, rel)).isDirectory()) walk(rel);
      else out[rel] = readFileSync(join(dir, rel)).toString('base64');
    }
  };
  walk('');
  return out;
}

/** Flips every bit of the byte at `offset` of `file`. */
export function flipByte(file: string, offset: number): void {
  const bytes = readFileSync(file);
  bytes[offset] = bytes[offset]! ^ 0xff;
  writeFileSync(file, bytes);
}

/** The WAL segments of `dir`, oldest first. */
export function walSegments(dir: string): string[] {
  return readdirSync(dir).filter((n) => /^wal-\d{16}\.log$/.test(n)).sort();
}

/** The checkpoints of `dir`, oldest first. */
export function checkpoints(dir: string): string[] {
  return readdirSync(dir).filter((n) => /^checkpoint-\d{16}\.ckpt$/.test(n)).sort();
}
