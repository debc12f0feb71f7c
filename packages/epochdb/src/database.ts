import type { Entry, OpenOptionsParsed, Version } from '@epochdb/core';
import {
  MvccStore,
  type BatchOp,
  type DeleteOptions,
  type PutOptions,
  type ReadApi,
  type ScanOptions,
  type Snapshot,
  type StoreStats,
  type Transaction,
  type TransactionOptions,
} from '@epochdb/store';
import { Maintenance, type MaintenanceStats } from './maintenance.js';

/** Everything `db.stats()` reports. */
export type DatabaseStats = StoreStats & MaintenanceStats;

/**
 * An open EpochDB database. Reads are synchronous and see the newest
 * committed state; writes resolve to their commit version. Get one with
 * {@link open}; close it with {@link Database.close} or `await using`.
 */
export class Database implements ReadApi, AsyncDisposable {
  readonly #store: MvccStore;
  readonly #maintenance: Maintenance;

  /** @internal Use {@link open}. */
  constructor(options: OpenOptionsParsed) {
    this.#store = new MvccStore({
      clock: options.clock,
      maxKeyBytes: options.maxKeyBytes,
      maxValueBytes: options.maxValueBytes,
      retainVersions: options.retainVersions,
    });
    this.#maintenance = new Maintenance(this.#store, options.maintenance);
    this.#maintenance.start();
  }

  /** The newest committed version (0 for an empty database). */
  get version(): Version {
    return this.#store.version;
  }

  /** The oldest version {@link Database.snapshotAt} can read (the version GC horizon). */
  get oldestVersion(): Version {
    return this.#store.oldestVersion;
  }

  /** Whether the database has been closed. */
  get closed(): boolean {
    return this.#store.closed;
  }

  /** The value at `key`, or `undefined` when absent or expired. Complexity: O(log n). */
  get(key: string): unknown {
    return this.#store.get(key);
  }

  /** The entry at `key` (value, version, run, type, expiresAt), or `undefined`. */
  getEntry(key: string): Entry | undefined {
    return this.#store.getEntry(key);
  }

  /** Whether `key` exists and has not expired. */
  has(key: string): boolean {
    return this.#store.has(key);
  }

  /** Entries in key order, lazily; later writes never disturb the iteration. See {@link ScanOptions}. */
  scan(options?: ScanOptions): IterableIterator<Entry> {
    return this.#store.scan(options);
  }

  /** Live entries written with `run`, in key order. Complexity: O(log n + results). */
  byRun(run: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#store.byRun(run, options);
  }

  /** Live entries written with `type`, in key order. Complexity: O(log n + results). */
  byType(type: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#store.byType(type, options);
  }

  /** Writes `value` at `key`. Resolves to the commit version. See {@link PutOptions}. */
  put(key: string, value: unknown, options?: PutOptions): Promise<Version> {
    return this.#store.put(key, value, options);
  }

  /** Deletes `key`. Resolves to the commit version. */
  delete(key: string, options?: DeleteOptions): Promise<Version> {
    return this.#store.delete(key, options);
  }

  /** Commits puts and deletes atomically under one version. */
  batch(ops: readonly BatchOp[]): Promise<Version> {
    return this.#store.batch(ops);
  }

  /** A read-only view at the current version, in O(1). Release it (or `using`) when done. */
  snapshot(): Snapshot {
    return this.#store.snapshot();
  }

  /** A read-only view of the past at `version` (not older than {@link Database.oldestVersion}). */
  snapshotAt(version: Version): Snapshot {
    return this.#store.snapshotAt(version);
  }

  /** Starts a transaction by hand: finish it with `tx.commit()` or `tx.abort()`. */
  begin(options?: TransactionOptions): Transaction {
    return this.#store.begin(options);
  }

  /**
   * Runs `fn` in a transaction and commits it, re-running it on conflicts up
   * to `retries` times. Resolves to what `fn` returned.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactionOptions): Promise<T> {
    return this.#store.transaction(fn, options);
  }

  /** Counters: keys, versions, snapshots, TTL and GC work, maintenance passes. */
  stats(): DatabaseStats {
    return Object.freeze({ ...this.#store.stats(), ...this.#maintenance.stats() });
  }

  /** Stops background maintenance and closes the database. Idempotent. */
  async close(): Promise<void> {
    this.#maintenance.stop();
    this.#store.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
