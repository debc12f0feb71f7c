import { openOptionsSchema, parseArgument, type Clock } from '@epochdb/core';
import { Database } from './database.js';

/** Options of {@link open}. Unknown names are rejected. */
export interface OpenOptions {
  /** Time source for TTL (default `Date.now`); inject one in tests. */
  readonly clock?: Clock;
  /** Longest key in UTF-8 bytes (default 1024, at most 65535). */
  readonly maxKeyBytes?: number;
  /** Largest encoded value in bytes (default 16 MiB). */
  readonly maxValueBytes?: number;
  /** Versions of history readable with `snapshotAt` behind the newest, even when no snapshot pins them (default 0). */
  readonly retainVersions?: number;
  /** Background TTL cleaning and version GC. */
  readonly maintenance?: {
    /** How often a maintenance slice starts, in ms (default 1000; 0 turns the timer off). */
    readonly intervalMs?: number;
    /** Longest one slice may hold the event loop, in ms (default 2). */
    readonly sliceMs?: number;
  };
}

/**
 * Opens a database. Today it lives in memory; persistence arrives with
 * `open({ dir })`.
 *
 * @example
 * const db = await open();
 * await db.put('user:1', { name: 'Ada' }, { type: 'user', ttl: 60_000 });
 * db.get('user:1'); // { name: 'Ada' }
 */
export async function open(options: OpenOptions = {}): Promise<Database> {
  return new Database(parseArgument(openOptionsSchema, options, 'open(): options'));
}
