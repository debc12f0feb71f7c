import { InvalidOptionError } from '@epochdb/core';

/** The JetStream names one replicated database uses. */
export interface LogNames {
  /** The stream of commit records. */
  readonly stream: string;
  /** The subject commit records are published on. */
  readonly subject: string;
  /** The object store bucket holding checkpoints. */
  readonly bucket: string;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The stream, subject and bucket for the replicated database `name`; `INVALID_OPTION` for a name JetStream cannot carry. */
export function logNames(name: unknown, what: string): LogNames {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidOptionError(`${what}: name must be 1-64 letters, digits, '-' or '_', got ${JSON.stringify(name)}`);
  }
  return Object.freeze({ stream: `EPOCHDB_${name}`, subject: `epochdb.${name}.log`, bucket: `EPOCHDB_${name}_checkpoints` });
}

/** Checks a `servers` option: one `host:port` (or URL) or a non-empty list of them. */
export function parseServers(servers: unknown, what: string): string[] {
  const list = typeof servers === 'string' ? [servers] : servers;
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new InvalidOptionError(`${what}: servers must be a NATS server address or a non-empty array of them, got ${JSON.stringify(servers)}`);
  }
  return list as string[];
}

/** Checks an optional positive integer option. */
export function positiveInteger(value: unknown, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(`${what} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}
