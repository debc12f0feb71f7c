import type { Version } from '@epochdb/core';
import type { MvccStore, ScanOptions, Snapshot } from '@epochdb/store';
import type { TypedEntry } from './collection-types.js';

/**
 * The read members of a {@link Database}: the live database's point reads,
 * scans and snapshots, typed for callers and forwarded to the store (which
 * validates arguments and checks that the database is open).
 */
export abstract class DatabaseReads {
  readonly #reads: MvccStore;

  constructor(store: MvccStore) {
    this.#reads = store;
  }

  /** The newest committed version (0 for an empty database). */
  get version(): Version {
    return this.#reads.version;
  }

  /** The oldest version `snapshotAt` can read (the version GC horizon). */
  get oldestVersion(): Version {
    return this.#reads.oldestVersion;
  }

  /** Whether the database has been closed. */
  get closed(): boolean {
    return this.#reads.closed;
  }

  /**
   * The value at `key`, or `undefined` when absent or expired. `T` only
   * casts (nothing is checked): for values checked against a schema, use a
   * `Database.collection`. Complexity: O(log n).
   */
  get<T = unknown>(key: string): T | undefined {
    return this.#reads.get(key) as T | undefined;
  }

  /** The entry at `key` (value, version, run, type, expiresAt), or `undefined`. `T` types the value, as in {@link DatabaseReads.get}. */
  getEntry<T = unknown>(key: string): TypedEntry<T> | undefined {
    return this.#reads.getEntry(key) as TypedEntry<T> | undefined;
  }

  /** Whether `key` exists and has not expired. */
  has(key: string): boolean {
    return this.#reads.has(key);
  }

  /** Entries in key order, lazily; later writes never disturb the iteration. See {@link ScanOptions}. `T` types values, as in {@link DatabaseReads.get}. */
  scan<T = unknown>(options?: ScanOptions): IterableIterator<TypedEntry<T>> {
    return this.#reads.scan(options) as IterableIterator<TypedEntry<T>>;
  }

  /** Live entries written with `run`, in key order. Complexity: O(log n + results). */
  byRun<T = unknown>(run: string, options?: ScanOptions): IterableIterator<TypedEntry<T>> {
    return this.#reads.byRun(run, options) as IterableIterator<TypedEntry<T>>;
  }

  /** Live entries written with `type`, in key order. Complexity: O(log n + results). */
  byType<T = unknown>(type: string, options?: ScanOptions): IterableIterator<TypedEntry<T>> {
    return this.#reads.byType(type, options) as IterableIterator<TypedEntry<T>>;
  }

  /** A read-only view at the current version, in O(1). Release it (or `using`) when done. */
  snapshot(): Snapshot {
    return this.#reads.snapshot();
  }
}
