import type { Entry, Version } from '@epochdb/core';
import type { ScanOptions } from './key-range.js';

/**
 * The read API shared by the live database, snapshots and transactions.
 * Reads are synchronous; scans are lazy iterables that later writes never
 * disturb.
 */
export interface ReadApi {
  /** The version this reader sees (for the live database, the newest). */
  readonly version: Version;
  /** The value of `key`, or `undefined` when it does not exist or has expired. Complexity: O(log n). */
  get(key: string): unknown;
  /** The value of `key` with its version, run, type and expiry. Complexity: O(log n). */
  getEntry(key: string): Entry | undefined;
  /** Whether `key` exists and has not expired. Complexity: O(log n). */
  has(key: string): boolean;
  /** Entries in key order (or reverse), lazily. Complexity: O(log n + results). */
  scan(options?: ScanOptions): IterableIterator<Entry>;
  /** Live entries written with this `run`, in key order. Complexity: O(log n + results). */
  byRun(run: string, options?: ScanOptions): IterableIterator<Entry>;
  /** Live entries written with this `type`, in key order. Complexity: O(log n + results). */
  byType(type: string, options?: ScanOptions): IterableIterator<Entry>;
}
