import { LeaseExpiredError, SnapshotReleasedError, type CheckpointEntry, type Entry, type Version } from '@epochdb/core';
import type { ScanOptions } from './key-range.js';
import type { LeaseHolder } from './leases.js';
import type { ReadApi } from './read-api.js';
import type { ReadView } from './read-view.js';
import type { SnapshotHost } from './store-host.js';
import { ViewReader } from './view-reader.js';

/**
 * A read-only view of the database at one version. Creating one is O(1): it
 * shares the B-tree copy-on-write. TTL is judged at its creation time, so
 * repeated reads agree. It pins its version against version GC until
 * {@link Snapshot.release} (or `using`), or until it has been open for
 * `snapshotLeaseMs`: then it is ended, and using it throws `LEASE_EXPIRED`.
 */
export class Snapshot implements ReadApi, Disposable, LeaseHolder {
  readonly #store: SnapshotHost;
  readonly #view: ReadView;
  readonly #leased: boolean;
  readonly #reader: ViewReader;
  #released = false;
  #leaseExpired = false;

  /** @internal Use `db.snapshot()` or `db.snapshotAt()`. */
  constructor(store: SnapshotHost, view: ReadView, leased = true) {
    this.#store = store;
    this.#view = view;
    this.#leased = leased;
    this.#reader = new ViewReader(store, 'snapshot.', (operation) => this.#check(operation));
    if (leased) store.holdLease(this);
  }

  /** @internal Clock time the snapshot was opened at (its lease runs from then). */
  get openedAt(): number {
    return this.#view.now;
  }

  /** @internal Ends the snapshot because it outlived `snapshotLeaseMs`. */
  expireLease(): void {
    if (this.#released) return;
    this.#leaseExpired = true;
    this.#store.countExpiredLease();
    this.release();
  }

  /** The version this snapshot reads. */
  get version(): Version {
    return this.#view.version;
  }

  /** Whether {@link release} has been called. */
  get released(): boolean {
    return this.#released;
  }

  /** The value of `key` at this snapshot's version, or `undefined`. `T` only casts, as in `db.get<T>()`. */
  get<T = unknown>(key: string): T | undefined {
    return this.#reader.get(this.#view, key) as T | undefined;
  }

  getEntry(key: string): Entry | undefined {
    return this.#reader.getEntry(this.#view, key);
  }

  has(key: string): boolean {
    return this.#reader.has(this.#view, key);
  }

  scan(options?: ScanOptions): IterableIterator<Entry> {
    return this.#reader.scan(this.#view, options);
  }

  byRun(run: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#reader.indexed(this.#view, 'run', run, options);
  }

  byType(type: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#reader.indexed(this.#view, 'type', type, options);
  }

  /**
   * Every visible entry with its value still encoded, in key order, lazily:
   * what a checkpoint or backup writes: the bytes in value memory, copied out
   * (never decoded or encoded again).
   */
  *exportEntries(): Generator<CheckpointEntry> {
    this.#check('exportEntries');
    const versions = this.#view.versions;
    for (const [key, id] of this.#view.visibleNodes(() => this.#check('exportEntries'))) {
      yield { key, encoded: versions.encoded(id), version: versions.version(id), run: versions.run(id), type: versions.type(id), expiresAt: versions.expiresAt(id) };
    }
  }

  /** Ends the snapshot and unpins its version. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#store.dropLease(this);
    this.#store.releaseSnapshot(this.#view.version);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  #check(operation: string): void {
    this.#store.assertOpen(`snapshot.${operation}`);
    if (!this.#released && this.#leased && this.#store.leaseExpired(this.#view.now)) this.expireLease();
    if (this.#leaseExpired) {
      throw new LeaseExpiredError(
        `snapshot.${operation}(): the snapshot at version ${this.#view.version} was open longer than snapshotLeaseMs (${this.#store.snapshotLeaseMs} ms) and was ended so it could not hold back version GC; take a new snapshot`,
      );
    }
    if (this.#released) throw new SnapshotReleasedError(`snapshot.${operation}(): snapshot at version ${this.#view.version} has been released`);
  }
}
