/**
 * Where a command writes, and what it knows about the terminal. Commands take
 * one instead of touching `process` so that they can be run and observed in
 * tests; {@link processIo} is the real one.
 */
export interface Io {
  /** Writes to standard output (data: tables, JSON). */
  out(text: string): void;
  /** Writes to standard error (diagnostics, progress). */
  err(text: string): void;
  readonly stdoutIsTty: boolean;
  readonly stderrIsTty: boolean;
  /** Width to fit tables into; `undefined`: no limit (output to a pipe or a file). */
  readonly columns: number | undefined;
  /** Standard output as a stream, for long output that must respect backpressure (`dump`). */
  readonly stdout: NodeJS.WritableStream;
  /** The stream a progress bar draws on (only used when {@link stderrIsTty}). */
  readonly progressStream: NodeJS.WritableStream;
  /** Epoch milliseconds (TTL display, skipping expired entries on load). */
  now(): number;
}

/**
 * The real process: stdout and stderr, their TTY-ness, and the width of the
 * terminal (or `$COLUMNS` when stdout is not a terminal, so output to a pipe
 * can still be fitted on request).
 */
export function processIo(): Io {
  const envColumns = Number.parseInt(process.env['COLUMNS'] ?? '', 10);
  const columns = process.stdout.isTTY ? process.stdout.columns : Number.isInteger(envColumns) && envColumns > 0 ? envColumns : undefined;
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    stdoutIsTty: process.stdout.isTTY === true,
    stderrIsTty: process.stderr.isTTY === true,
    columns,
    stdout: process.stdout,
    progressStream: process.stderr,
    now: () => Date.now(),
  };
}
