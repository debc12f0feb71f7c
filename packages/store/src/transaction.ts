import { LeaseExpiredError, LimitExceededError, TransactionFinishedError, UNCOMMITTED_VERSION, type Entry, type SyncMode, type Version } from '@epochdb/core';
import { compareStrings } from './btree.js';
import type { RangeRead } from './commit-log.js';
import type { Isolation } from './isolation.js';
import type { KeyRange, ScanOptions } from './key-range.js';
import type { LeaseHolder } from './leases.js';
import { expiryOf, type PendingWrite } from './pending-write.js';
import type { ReadApi } from './read-api.js';
import type { IndexName, ReadView } from './read-view.js';
import { ViewReader } from './view-reader.js';
import type { TransactionHost } from './store-host.js';
import type { VersionId } from './versions.js';
import { writeBytes, type DeleteOptions, type PutOptions } from './write-options.js';

export type { Isolation } from './isolation.js';

/** Options of `transaction()` and `begin()`. */
export interface TransactionOptions {
  /** Default `'snapshot'`. */
  readonly isolation?: Isolation | undefined;
  /**
   * How many times `transaction()` re-runs the callback after a conflict
   * (default 3); the first re-run waits for its keys in a retry lane (see
   * `TransactionRunner`). 0: the first conflict is thrown.
   */
  readonly retries?: number | undefined;
  /** Durability of the commit, overriding the database default (persistent databases). */
  readonly sync?: SyncMode | undefined;
}

type TransactionState = 'active' | 'committed' | 'aborted';

/**
 * A transaction: reads see the snapshot taken when it began plus its own
 * writes; writes are buffered and applied atomically under one version by
 * {@link Transaction.commit}. Under `'serializable'` the keys and ranges it
 * read are validated at commit too.
 */
export class Transaction implements ReadApi, AsyncDisposable, LeaseHolder {
  readonly isolation: Isolation;
  readonly #sync: SyncMode | undefined;
  readonly #store: TransactionHost;
  readonly #view: ReadView;
  readonly #writes = new Map<string, PendingWrite>();
  readonly #reader: ViewReader;
  /** What the transaction read: tracked only under `'serializable'`. */
  readonly #readKeys: Set<string> | undefined;
  readonly #ranges: RangeRead[] | undefined;
  #state: TransactionState = 'active';
  #leaseExpired = false;
  /** Encoded bytes of the buffered writes, as `maxTransactionBytes` counts them. */
  #bytes = 0;
  #commitVersion: Version | undefined;

  /** @internal Use `db.begin()` or `db.transaction()`. */
  constructor(store: TransactionHost, view: ReadView, isolation: Isolation, sync: SyncMode | undefined) {
    this.#store = store;
    this.#sync = sync;
    this.#view = view;
    this.#reader = new ViewReader(store, 'tx.', (operation) => this.#check(operation));
    this.isolation = isolation;
    if (isolation === 'serializable') {
      this.#readKeys = new Set();
      this.#ranges = [];
    }
    store.holdLease(this);
  }

  /** @internal Clock time the transaction began at (its lease runs from then). */
  get openedAt(): number {
    return this.#view.now;
  }

  /** @internal Aborts the transaction because it outlived `snapshotLeaseMs`. */
  expireLease(): void {
    if (this.#state !== 'active') return;
    this.#leaseExpired = true;
    this.#store.countExpiredLease();
    this.#finish('aborted');
  }

  /** The version the transaction reads (its start snapshot). */
  get version(): Version {
    return this.#view.version;
  }

  /** Whether the transaction can still be used. */
  get active(): boolean {
    return this.#state === 'active';
  }

  /** The version the commit got, once committed (the start version for a read-only transaction). */
  get commitVersion(): Version | undefined {
    return this.#commitVersion;
  }

  /** The value of `key` as this transaction sees it, or `undefined`. `T` only casts, as in `db.get<T>()`. */
  get<T = unknown>(key: string): T | undefined {
    return this.#read('get', key, (w) => (w.prepared === undefined ? undefined : this.#view.versions.codec.read(w.prepared.encoded, w.prepared.copyOnRead)), (id) => this.#view.versions.read(key, id)) as T | undefined;
  }

  getEntry(key: string): Entry | undefined {
    return this.#read('getEntry', key, (w) => this.#pendingEntry(w), (id) => this.#view.versions.entry(key, id));
  }

  has(key: string): boolean {
    return this.#read('has', key, () => true, () => true) ?? false;
  }

  scan(options?: ScanOptions): IterableIterator<Entry> {
    const range = this.#reader.scanRange(options);
    this.#ranges?.push({ range });
    return this.#merged('scan', range, this.#view.entries(range.withoutLimit()), undefined);
  }

  byRun(run: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#indexed('run', run, options);
  }

  byType(type: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#indexed('type', type, options);
  }

  /** Buffers a put; it becomes visible to others when the transaction commits. `ifVersion` is checked at commit. */
  put(key: string, value: unknown, options?: PutOptions): void {
    this.#check('put');
    this.#buffer(this.#store.preparePut(key, value, options, 'tx.put()'), 'tx.put()');
  }

  /** @internal A put whose value a collection has already validated (its schema's output). */
  putValidated(key: string, value: unknown, options: PutOptions, collection: string): void {
    this.#check('put');
    this.#buffer({ ...this.#store.preparePut(key, value, options, `${collection}.put()`), validatedBy: collection }, `${collection}.put()`);
  }

  /** Buffers a delete. */
  delete(key: string, options?: DeleteOptions): void {
    this.#check('delete');
    this.#buffer(this.#store.prepareDelete(key, options, 'tx.delete()'), 'tx.delete()');
  }

  /** Adds a write unless it would take the transaction past `maxTransactionOps` or `maxTransactionBytes` (then nothing changes). */
  #buffer(write: PendingWrite, what: string): void {
    const replaced = this.#writes.get(write.key);
    const ops = this.#writes.size + (replaced === undefined ? 1 : 0);
    const bytes = this.#bytes + writeBytes(write) - (replaced === undefined ? 0 : writeBytes(replaced));
    if (ops > this.#store.maxTransactionOps) {
      throw new LimitExceededError(`${what}: the transaction would hold ${ops} operations, over the limit of ${this.#store.maxTransactionOps} (maxTransactionOps)`, 'maxTransactionOps');
    }
    if (bytes > this.#store.maxTransactionBytes) {
      throw new LimitExceededError(`${what}: the transaction would hold about ${bytes} bytes, over the limit of ${this.#store.maxTransactionBytes} (maxTransactionBytes)`, 'maxTransactionBytes');
    }
    this.#writes.set(write.key, write);
    this.#bytes = bytes;
  }

  /**
   * Commits every buffered write atomically under one new version and
   * resolves to it once durable. Throws a `ConflictError` (and aborts) if a
   * concurrent commit won; nothing is applied then.
   */
  async commit(): Promise<Version> {
    this.#check('commit');
    if (this.#writes.size === 0) {
      this.#finish('committed');
      this.#commitVersion = this.#view.version;
      return this.#view.version;
    }
    let committed;
    try {
      committed = this.#store.commitWrites([...this.#writes.values()], {
        start: this.#view.version,
        now: this.#view.now,
        isolation: this.isolation,
        readKeys: this.#readKeys,
        ranges: this.#ranges,
      }, this.#sync);
    } catch (error) {
      this.#finish('aborted');
      throw error;
    }
    this.#finish('committed');
    this.#commitVersion = committed.version;
    if (committed.durable !== undefined) await committed.durable;
    return committed.version;
  }

  /**
   * Throws if this transaction can no longer be used (finished, its lease
   * expired, or the database closed), naming `operation`: for the members a
   * subclass adds (see `MvccStore.transactionClass`).
   */
  protected assertActive(operation: string): void {
    this.#check(operation);
  }

  /** @internal The keys read under `'serializable'` (`undefined` under `'snapshot'`, which does not track reads) and whether a range was scanned. */
  get readSet(): { readonly keys: ReadonlySet<string> | undefined; readonly scanned: boolean } {
    return { keys: this.#readKeys, scanned: (this.#ranges?.length ?? 0) > 0 };
  }

  /** @internal The writes buffered so far, by key (the last one per key). */
  get ownWrites(): ReadonlyMap<string, PendingWrite> {
    return this.#writes;
  }

  /** Discards the buffered writes. Idempotent; a no-op after commit. */
  abort(): void {
    if (this.#state === 'active') this.#finish('aborted');
  }

  /** Aborts if still active (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.abort();
  }

  #read<T>(operation: string, key: string, pending: (write: PendingWrite) => T, committed: (id: VersionId) => T): T | undefined {
    this.#reader.key(operation, key);
    const write = this.#writes.get(key);
    if (write !== undefined) return this.#pendingVisible(write) ? pending(write) : undefined;
    this.#readKeys?.add(key);
    const id = this.#view.node(key);
    return id === 0 ? undefined : committed(id);
  }

  #indexed(index: IndexName, tag: string, options: ScanOptions | undefined): IterableIterator<Entry> {
    const { operation, tag: parsed, range } = this.#reader.indexedRange(index, tag, options);
    this.#ranges?.push({ range, index: { name: index, tag: parsed } });
    return this.#merged(operation, range, this.#view.indexed(index, parsed, range.withoutLimit()), (w) => w[index] === parsed);
  }

  /**
   * Merges committed entries with the transaction's own writes in `range`
   * (as they were when the scan started), own writes winning, up to the limit.
   */
  #merged(operation: string, range: KeyRange, committed: Iterator<Entry>, matches: ((write: PendingWrite) => boolean) | undefined): IterableIterator<Entry> {
    const direction = range.reverse ? -1 : 1;
    // Own writes as they are now, when the scan starts (a generator body would only run at the first next()).
    const pending = [...this.#writes.values()]
      .filter((w) => range.includes(w.key))
      .sort((a, b) => direction * compareStrings(a.key, b.key));
    return this.#merge(operation, range, committed, matches, pending, direction);
  }

  *#merge(
    operation: string,
    range: KeyRange,
    committed: Iterator<Entry>,
    matches: ((write: PendingWrite) => boolean) | undefined,
    pending: readonly PendingWrite[],
    direction: number,
  ): Generator<Entry> {
    let i = 0;
    let yielded = 0;
    const emit = (write: PendingWrite): Entry | undefined =>
      this.#pendingVisible(write) && (matches === undefined || matches(write)) ? this.#pendingEntry(write) : undefined;
    const before = (a: string, b: string): boolean => (direction === 1 ? a < b : a > b);
    while (yielded < range.limit) {
      // Checked before the committed side is read: a closed store has let its records go.
      this.#check(operation);
      const next = committed.next();
      if (next.done === true) break;
      const entry = next.value;
      for (; i < pending.length && before(pending[i]!.key, entry.key) && yielded < range.limit; i++) {
        this.#check(operation);
        const own = emit(pending[i]!);
        if (own !== undefined) {
          yielded++;
          yield own;
        }
      }
      if (yielded >= range.limit) return;
      if (i < pending.length && pending[i]!.key === entry.key) {
        const own = emit(pending[i++]!);
        if (own !== undefined) {
          yielded++;
          yield own;
        }
        continue;
      }
      yielded++;
      yield entry;
    }
    for (; i < pending.length && yielded < range.limit; i++) {
      this.#check(operation);
      const own = emit(pending[i]!);
      if (own !== undefined) {
        yielded++;
        yield own;
      }
    }
  }

  #pendingVisible(write: PendingWrite): boolean {
    if (write.kind !== 'put') return false;
    const expiresAt = expiryOf(write, this.#view.now);
    return expiresAt === undefined || expiresAt > this.#view.now;
  }

  #pendingEntry(write: PendingWrite): Entry {
    const prepared = write.prepared!;
    const entry: { -readonly [P in keyof Entry]: Entry[P] } = {
      key: write.key,
      value: this.#view.versions.codec.read(prepared.encoded, prepared.copyOnRead),
      version: UNCOMMITTED_VERSION,
    };
    entry.run = write.run;
    entry.type = write.type;
    entry.expiresAt = expiryOf(write, this.#view.now);
    return Object.freeze(entry);
  }

  #finish(state: TransactionState): void {
    this.#state = state;
    this.#store.dropLease(this);
    this.#store.finishTransaction(this.#view.version, this.isolation);
  }

  #check(operation: string): void {
    this.#store.assertOpen(`tx.${operation}`);
    if (this.#state === 'active' && this.#store.leaseExpired(this.#view.now)) this.expireLease();
    if (this.#leaseExpired) {
      throw new LeaseExpiredError(
        `tx.${operation}(): the transaction begun at version ${this.#view.version} was open longer than snapshotLeaseMs (${this.#store.snapshotLeaseMs} ms) and was aborted so it could not hold back version GC; nothing it wrote was applied`,
      );
    }
    if (this.#state !== 'active') throw new TransactionFinishedError(`tx.${operation}(): the transaction has already ${this.#state === 'committed' ? 'committed' : 'aborted'}`);
  }
}
