import { LeaseExpiredError, SnapshotReleasedError, assertKey, type CheckpointEntry, type Entry, type Version } from '@epochdb/core';
import type { ScanOptions } from './key-range.js';
import type { LeaseHolder } from './leases.js';
import type { ReadApi } from './read-api.js';
import type { IndexName, ReadView } from './read-view.js';
import { parseScanOptions } from './scan-options.js';
import type { SnapshotHost } from './store-host.js';

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
  #released = false;
  #leaseExpired = false;

  /** @internal Use `db.snapshot()` or `db.snapshotAt()`. */
  constructor(store: SnapshotHost, view: ReadView, leased = true) {
    this.#store = store;
    this.#view = view;
    this.#leased = leased;
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

  get(key: string): unknown {
    this.#check('get');
    assertKey(key, 'snapshot.get(): key', this.#store.maxKeyBytes);
    const id = this.#view.node(key);
    return id === 0 ? undefined : this.#view.versions.read(key, id);
  }

  getEntry(key: string): Entry | undefined {
    this.#check('getEntry');
    assertKey(key, 'snapshot.getEntry(): key', this.#store.maxKeyBytes);
    const id = this.#view.node(key);
    return id === 0 ? undefined : this.#view.versions.entry(key, id);
  }

  has(key: string): boolean {
    this.#check('has');
    assertKey(key, 'snapshot.has(): key', this.#store.maxKeyBytes);
    return this.#view.node(key) !== 0;
  }

  scan(options?: ScanOptions): IterableIterator<Entry> {
    this.#check('scan');
    const range = parseScanOptions(options, 'snapshot.scan(): options');
    return this.#view.entries(range, () => this.#check('scan'));
  }

  byRun(run: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#indexed('run', run, options);
  }

  byType(type: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#indexed('type', type, options);
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

  #indexed(index: IndexName, tag: string, options: ScanOptions | undefined): IterableIterator<Entry> {
    const operation = index === 'run' ? 'byRun' : 'byType';
    this.#check(operation);
    const parsed = this.#store.parseTag(tag, `snapshot.${operation}(): ${index}`);
    const range = parseScanOptions(options, `snapshot.${operation}(): options`);
    return this.#view.indexed(index, parsed, range, () => this.#check(operation));
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
