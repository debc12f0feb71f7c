import { EpochError } from '@epochdb/core';

/** The exit codes of the `epochdb` command, documented in docs/cli.md. */
export const EXIT = {
  /** The command did what was asked. */
  ok: 0,
  /** A failure: damage found by `verify`, a key `get` did not find, a missing directory, an I/O error. */
  failure: 1,
  /** Bad command line: unknown command or option, missing or malformed argument. */
  usage: 2,
  /** The directory is open in another process (`LOCKED`). */
  locked: 3,
  /** The directory is damaged or not readable by this EpochDB (`CORRUPTION`, `UNSUPPORTED_FORMAT`). */
  corruption: 4,
} as const;

/** One of the values of {@link EXIT}. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * An error the command line raises itself (as opposed to one from the
 * library), carrying the exit code it should end the process with.
 */
export class CliError extends Error {
  readonly exitCode: ExitCode;

  constructor(message: string, exitCode: ExitCode = EXIT.failure, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** The exit code for an error thrown by a command: its own for a {@link CliError}, by `code` for an {@link EpochError}. */
export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof EpochError) {
    switch (error.code) {
      case 'LOCKED':
        return EXIT.locked;
      case 'CORRUPTION':
      case 'UNSUPPORTED_FORMAT':
        return EXIT.corruption;
      case 'INVALID_OPTION':
      case 'INVALID_KEY':
        return EXIT.usage;
      default:
        return EXIT.failure;
    }
  }
  return EXIT.failure;
}

/** The one-line message printed for an error: `epochdb: <CODE>: <message>` for library errors. */
export function describeError(error: unknown): string {
  if (error instanceof EpochError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
