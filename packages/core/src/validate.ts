import type { z } from 'zod';
import { InvalidKeyError, InvalidOptionError } from './errors.js';

/**
 * Parses `input` with `schema`, turning a failure into an
 * {@link InvalidOptionError} whose message names the argument (`what`), the
 * offending field and what was wrong.
 */
export function parseArgument<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = result.error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? `${what}.${issue.path.map(String).join('.')}` : what;
      return `${where}: ${issue.message}`;
    })
    .join('; ');
  throw new InvalidOptionError(details, { cause: result.error });
}

/**
 * The key of the database's own metadata entry (persisted index definitions):
 * the empty string, which {@link assertKey} refuses, so no user can read or
 * write it. It is stored, persisted, replicated, backed up and restored like
 * any entry, but it sorts before every other key and every scan starts after
 * it, so no scan, count, change feed, dump or adapter shows it.
 */
export const METADATA_KEY = '';

/**
 * Throws {@link InvalidKeyError} unless `key` is a non-empty, well-formed
 * string of at most `maxKeyBytes` UTF-8 bytes.
 */
export function assertKey(key: unknown, what: string, maxKeyBytes: number): asserts key is string {
  if (typeof key !== 'string') {
    throw new InvalidKeyError(`${what} must be a string, got ${key === null ? 'null' : typeof key}`);
  }
  if (key.length === 0) throw new InvalidKeyError(`${what} must not be empty`);
  if (!key.isWellFormed()) throw new InvalidKeyError(`${what} contains a lone surrogate and cannot be stored faithfully`);
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only measure keys that could be over.
  if (key.length * 3 > maxKeyBytes) {
    const bytes = Buffer.byteLength(key, 'utf8');
    if (bytes > maxKeyBytes) throw new InvalidKeyError(`${what} is ${bytes} bytes (UTF-8), over the limit of ${maxKeyBytes} bytes (maxKeyBytes)`);
  }
}
