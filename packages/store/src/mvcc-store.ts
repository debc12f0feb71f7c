import {
  DatabaseClosedError,
  InvalidOptionError,
  METADATA_KEY,
  assertKey,
  parseArgument,
  tagSchema,
  transactionOptionsSchema,
  type Clock,
  type CommitRecord,
  type CheckpointEntry,
  type ChunkedEntries,
  type Entry,
  type SyncMode,
  type StructureKeys,
  type ValueCodec,
  type Version,
} from '@epochdb/core';
import { CommitPath } from './commit-path.js';
import { Compactor } from './compaction.js';
import type { ApplyListener, CommitListener, CommitValidator, Committed, TransactionCheck } from './commit-types.js';
import { checkInvariants } from './invariants.js';
import type { Isolation } from './isolation.js';
import type { ScanOptions } from './key-range.js';
import { Leases } from './leases.js';
import type { PendingWrite } from './pending-write.js';
import type { ReadApi } from './read-api.js';
import { ReadView, type IndexName } from './read-view.js';
import { History } from './history.js';
import { Snapshot } from './snapshot.js';
import { StoreLoader } from './store-loader.js';
import { storeStats } from './store-stats.js';
import { makeHost, type SnapshotHost, type TransactionHost } from './store-host.js';
import { DEFAULT_STORE_OPTIONS, definedOnly, type MvccStoreOptions, type StoreStats } from './store-options.js';
import { Transaction, type TransactionOptions } from './transaction.js';
import { DEFAULT_RETRIES, TransactionRunner } from './transaction-runner.js';
import { TtlCleaner } from './ttl-cleaner.js';
import { TtlIndex } from './ttl-index.js';
import { VersionChains } from './version-chains.js';
import { ViewReader } from './view-reader.js';
import { Versions, type VersionId } from './versions.js';
import { prepareBatch, prepareDelete, preparePut, type BatchOp, type BatchOptions, type DeleteOptions, type PutOptions } from './write-options.js';

export { DEFAULT_STORE_OPTIONS } from './store-options.js';
export type { MvccStoreOptions, StoreStats } from './store-options.js';

export { COMPACTION_TARGET_UTILIZATION } from './compaction.js';

/**
 * The in-memory MVCC engine: a sorted B-tree of keys to version chains whose
 * records live in value memory off the V8 heap, one global monotonic version
 * counter, O(1) snapshots by copy-on-write clones, run/type secondary indexes,
 * a TTL index, and transactions with snapshot or serializable isolation.
 * Knows nothing of files or threads: persistence attaches with
 * {@link MvccStore.onCommit} and {@link MvccStore.applyRecord}; the worker pool
 * copies records for {@link MvccStore.compaction}.
 */
export class MvccStore implements ReadApi {
  readonly clock: Clock;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly retainVersions: number;
  readonly maxTransactionOps: number;
  readonly maxTransactionBytes: number;
  readonly snapshotLeaseMs: number;
  readonly maxMemoryBytes: number;
  readonly maxHeapBytes: number;

  readonly #versions: Versions;
  readonly #ttl = new TtlIndex();
  readonly #chains: VersionChains;
  readonly #leases: Leases;
  /** The version counter, shared with the commit path. */
  readonly #state = { version: 0 as Version };
  readonly #commits: CommitPath;
  readonly #cleaner: TtlCleaner;
  #closed = false;
  /** Which past versions can still be read (the GC horizon). */
  readonly #history: History;
  readonly #compactor: Compactor;
  /** The read API's checks and argument validation (point reads take a faster path on the live tree). */
  readonly #reader: ViewReader = new ViewReader(this, '', (operation) => this.assertOpen(operation));
  readonly #host: SnapshotHost & TransactionHost;
  readonly #loader: StoreLoader;
  /** `transaction()`'s retry policy. */
  readonly #runner = new TransactionRunner((isolation, sync) => this.#openTransaction(isolation, sync));

  constructor(options: Partial<MvccStoreOptions> = {}) {
    const o = { ...DEFAULT_STORE_OPTIONS, ...definedOnly(options) };
    this.clock = o.clock;
    this.maxKeyBytes = o.maxKeyBytes;
    this.maxValueBytes = o.maxValueBytes;
    this.retainVersions = o.retainVersions;
    this.maxTransactionOps = o.maxTransactionOps;
    this.maxTransactionBytes = o.maxTransactionBytes;
    this.snapshotLeaseMs = o.snapshotLeaseMs;
    this.maxMemoryBytes = o.maxMemoryBytes;
    this.maxHeapBytes = o.maxHeapBytes;
    this.#versions = new Versions({ segmentBytes: o.segmentBytes, valueCacheEntries: o.valueCacheEntries, allocateSegment: o.allocateSegment, codec: o.codec });
    this.#chains = new VersionChains(this.#versions, this.#ttl);
    this.#leases = new Leases(this.snapshotLeaseMs, () => this.clock.now());
    this.#history = new History(this.retainVersions, this.#leases, this.#state);
    this.#commits = new CommitPath({
      versions: this.#versions,
      chains: this.#chains,
      leases: this.#leases,
      clock: this.clock,
      limits: this,
      state: this.#state,
      eager: () => this.#history.eager(),
      heapBytes: () => this.#heapBytes(),
    });
    this.#cleaner = new TtlCleaner(this.#ttl, this.#chains, this.#versions, this.clock, (writes) => this.commitWrites(writes));
    this.#compactor = new Compactor(this.#versions.memory, (operation) => this.assertOpen(operation), () => this.#closed);
    this.#host = this.#makeHost();
    this.#loader = new StoreLoader({ versions: this.#versions, chains: this.#chains, state: this.#state, eager: () => this.#history.eager() });
  }

  /** The codec of this store's values: its shared structure table (checkpoints carry {@link ValueCodec.table}). */
  get codec(): ValueCodec {
    return this.#versions.codec;
  }

  /** The newest committed version (0 for an empty store). */
  get version(): Version {
    return this.#state.version;
  }

  /** The oldest version {@link snapshotAt} can read: the smallest version an open reader pins, or the retention window. */
  get oldestVersion(): Version {
    return this.#history.oldest();
  }

  /** Whether {@link close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  // ---------------------------------------------------------------- reads

  get(key: string): unknown {
    const id = this.#liveNode(key, 'get', 'get(): key');
    return id === 0 ? undefined : this.#versions.read(key, id);
  }

  getEntry(key: string): Entry | undefined {
    const id = this.#liveNode(key, 'getEntry', 'getEntry(): key');
    return id === 0 ? undefined : this.#versions.entry(key, id);
  }

  has(key: string): boolean {
    return this.#liveNode(key, 'has', 'has(): key') !== 0;
  }

  /** Entries in key order, lazily, as of the version the scan starts at (it pins that version until it ends). */
  scan(options?: ScanOptions): IterableIterator<Entry> {
    this.assertOpen('scan');
    const range = this.#reader.scanRange(options);
    const { view, release, check } = this.#pinnedLiveView();
    return view.entries(range, () => {
      this.assertOpen('scan');
      check('scan');
    }, release);
  }

  byRun(run: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#liveIndexed('run', run, options);
  }

  byType(type: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#liveIndexed('type', type, options);
  }

  /**
   * The database's own metadata entry (at `METADATA_KEY`, which no read API
   * shows and no user can write; it is written with {@link commitWrites}), or
   * `undefined`. Like {@link stats}, also after close. Complexity: O(log n).
   */
  metadataEntry(): Entry | undefined {
    const id = this.#chains.primary.get(METADATA_KEY);
    return id === undefined || !this.#versions.isVisibleAt(id, this.clock.now()) ? undefined : this.#versions.entry(METADATA_KEY, id);
  }

  // ---------------------------------------------------------------- writes

  /** Writes `value` at `key`; resolves to the commit version. */
  put(key: string, value: unknown, options?: PutOptions): Promise<Version> {
    return this.#commitOne('put', () => preparePut(this, key, value, options, 'put()'), options?.sync);
  }

  /** Deletes `key` (a no-op write if it does not exist); resolves to the commit version. */
  delete(key: string, options?: DeleteOptions): Promise<Version> {
    return this.#commitOne('delete', () => prepareDelete(this, key, options, 'delete()'), options?.sync);
  }

  /**
   * Commits puts and deletes atomically under one version (an empty batch
   * commits nothing and resolves to the current version). Every `ifVersion`
   * is checked against the state before the batch; for a key given twice the
   * last operation wins.
   */
  batch(ops: readonly BatchOp[], options?: BatchOptions): Promise<Version> {
    try {
      this.assertOpen('batch');
      const { writes, sync } = prepareBatch(this, ops, options);
      // Nothing to commit: no new version.
      if (writes.length === 0) return Promise.resolve(this.#state.version);
      return settle(this.commitWrites(writes, undefined, sync));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A put a collection has already validated (its schema's output), committed
   * alone; resolves to its version once durable. `validatedBy` names the
   * validator (a neutral tag: the store does not know what it means).
   */
  putValidated(key: string, value: unknown, options: PutOptions, validatedBy: string): Promise<Version> {
    return this.#commitOne('put', () => ({ ...preparePut(this, key, value, options, `${validatedBy}.put()`), validatedBy }), options.sync);
  }

  // ---------------------------------------------------------------- snapshots and transactions

  /** A read-only view at the current version. O(1) in the store's size. Release it when done. */
  snapshot(): Snapshot {
    this.assertOpen('snapshot');
    return this.#openSnapshot(this.#state.version);
  }

  /**
   * A read-only view of the past at `version`, which must be between
   * {@link oldestVersion} and {@link version}.
   */
  snapshotAt(version: Version): Snapshot {
    this.assertOpen('snapshotAt');
    this.#history.assertReadable(version);
    return this.#openSnapshot(version);
  }

  /**
   * @internal A snapshot without a lease, for the database's own long reads
   * (a backup or checkpoint streamed from memory): they end it themselves.
   */
  snapshotForExport(): Snapshot {
    this.assertOpen('snapshot');
    return this.#openSnapshot(this.#state.version, false);
  }

  /** Starts a transaction by hand; finish it with `commit()` or `abort()`. */
  begin(options?: TransactionOptions): Transaction {
    this.assertOpen('begin');
    const parsed = options === undefined ? {} : parseArgument(transactionOptionsSchema, options, 'begin(): options');
    return this.#openTransaction(parsed.isolation ?? 'snapshot', parsed.sync);
  }

  /**
   * Runs `fn` in a transaction and commits it. On a conflict the callback
   * runs again, up to `retries` times (default 3), through the retry lanes of
   * {@link TransactionRunner}; then the `ConflictError` is thrown. If `fn`
   * throws, nothing is applied. Resolves to what `fn` returned.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactionOptions): Promise<T> {
    this.assertOpen('transaction');
    if (typeof fn !== 'function') throw new InvalidOptionError('transaction(): fn must be a function');
    const parsed = options === undefined ? {} : parseArgument(transactionOptionsSchema, options, 'transaction(): options');
    return this.#runner.run(fn, parsed.isolation ?? 'snapshot', parsed.sync, parsed.retries ?? DEFAULT_RETRIES);
  }

  /**
   * The class of the transactions {@link begin} and {@link transaction} open:
   * `Transaction`, or a subclass with the same constructor. The extension
   * point a database uses to give its transactions members of its own (the
   * `epochdb` package adds `tx.collection()`); the store knows nothing of them.
   */
  transactionClass: typeof Transaction = Transaction;

  // ---------------------------------------------------------------- maintenance

  /**
   * Reclaims expired entries as versioned `expire` deletes, in commits of at
   * most 128 keys, for about `budgetMs` (finding and committing both count).
   * Deletes a key only if it is still at the version that was found expired.
   * Returns how many were reclaimed. Complexity: O(expired found · log n).
   */
  reclaimExpired(budgetMs = 2): number {
    this.assertOpen('reclaimExpired');
    return this.#cleaner.reclaimExpired(budgetMs);
  }

  /** Whether an entry has expired and waits for {@link reclaimExpired}. */
  hasExpired(): boolean {
    return this.#ttl.hasDue(this.clock.now());
  }

  /**
   * Reclaims history below the GC horizon for about `budgetMs`: versions no
   * open snapshot, transaction or retention window can read, and tombstones
   * nobody needs. Returns how many versions were reclaimed.
   */
  collectGarbage(budgetMs = 2): number {
    this.assertOpen('collectGarbage');
    return this.#chains.collectGarbage(this.#history.horizon(), performance.now() + budgetMs, this.#state.version, this.#leases.minPinned());
  }

  /** Superseded versions queued for GC (some may still be above the horizon). Complexity: O(1). */
  get pendingGc(): number {
    return this.#chains.pendingGc;
  }

  /** Whether superseded versions below the horizon wait for {@link collectGarbage}. */
  hasGarbage(): boolean {
    if (this.#chains.limboRecords > 0 && this.#leases.pins.size === 0) this.#chains.releaseLimbo(undefined);
    return this.#chains.hasGarbage(this.#history.horizon());
  }

  /**
   * Completes the head index a bulk load left partial, in key order, for at
   * most `budgetMs`; returns whether it is complete (point reads of keys not
   * yet in it descend the tree meanwhile). Complexity: O(keys added).
   */
  fillHeadIndex(budgetMs = 2): boolean {
    this.assertOpen('fillHeadIndex');
    return this.#chains.fillHeads(performance.now() + budgetMs);
  }

  /** Value-memory cleaning: plans for the worker pool, installs, and an inline compaction (see {@link Compactor}). */
  get compaction(): Compactor {
    return this.#compactor;
  }

  /**
   * Ends every snapshot and transaction open longer than `snapshotLeaseMs`,
   * so none can pin version GC forever; using one afterwards throws
   * `LEASE_EXPIRED`. Returns how many were ended. Complexity: O(ended).
   */
  expireLeases(): number {
    return this.#leases.expireAll();
  }

  /** Counters describing the store. */
  stats(): StoreStats {
    return storeStats({ versions: this.#versions, chains: this.#chains, ttl: this.#ttl, leases: this.#leases }, {
      version: this.#state.version,
      oldestVersion: this.oldestVersion,
      reclaimedExpired: this.#cleaner.reclaimed,
      heapBytes: this.#heapBytes(),
      maxMemoryBytes: this.maxMemoryBytes,
    });
  }

  // ---------------------------------------------------------------- seams for persistence

  /** Registers `listener` for every future commit; returns a function that removes it. */
  onCommit(listener: CommitListener): () => void {
    this.#commits.listeners.add(listener);
    return () => this.#commits.listeners.delete(listener);
  }

  /**
   * Registers `listener` for the changes of every future commit made through
   * the write API (not recovery replay), with the entries before and after.
   * Returns a function that removes it.
   */
  onApply(listener: ApplyListener): () => void {
    this.#commits.applyListeners.add(listener);
    return () => this.#commits.applyListeners.delete(listener);
  }

  /**
   * Registers a validator run on every commit's writes after conflict and
   * `ifVersion` checks, before anything changes (unique indexes use it).
   * Returns a function that removes it.
   */
  addCommitValidator(validator: CommitValidator): () => void {
    this.#commits.validators.add(validator);
    return () => this.#commits.validators.delete(validator);
  }

  /**
   * Installs a check run at the start of every commit, before anything
   * changes; if it throws, the commit is refused (a persistent database that
   * failed uses it to become read-only).
   */
  setCommitGate(gate: (() => void) | undefined): void {
    this.#commits.gate = gate;
  }

  /**
   * Loads a checkpoint into an empty store: every entry keeps its own
   * version, and the store's version becomes `version`. Listeners are not
   * called. Each value's bytes are copied into value memory as they are, not
   * decoded: a value that does not decode is a `CorruptionError` when read.
   * `structures` is the checkpoint's shared structure table. Entries that
   * can be read in chunks ({@link ChunkedEntries}) load column by column.
   */
  restore(entries: Iterable<CheckpointEntry> | ChunkedEntries, version: Version, structures: readonly StructureKeys[] = []): void {
    this.assertOpen('restore');
    this.#loader.restore(entries, version, structures);
    // A checkpoint holds only the newest version of each key: nothing before it can be read.
    this.#history.floor = version;
  }

  /**
   * Loads a checkpoint and the committed records after it into an empty
   * store, as {@link restore} and {@link applyRecord} for each record would,
   * in one pass when no history is kept (see `StoreLoader.load`). The store's
   * version becomes the last record's (or `version`).
   */
  load(entries: Iterable<CheckpointEntry> | ChunkedEntries, version: Version, structures: readonly StructureKeys[], records: readonly CommitRecord[]): void {
    this.assertOpen('load');
    this.#loader.load(entries, version, structures, records);
    this.#history.floor = version;
  }

  /**
   * Replays a committed record (from a WAL or checkpoint) with its own
   * version, which must be above the current one. Listeners are not called.
   * Like {@link restore}, copies each put's bytes without decoding them, and
   * defines the record's structures first.
   */
  applyRecord(record: CommitRecord): void {
    this.assertOpen('applyRecord');
    this.#loader.applyRecord(record);
  }

  /** Closes the store: every later call (also on snapshots and transactions) throws a {@link DatabaseClosedError}. */
  close(): void {
    this.#closed = true;
    this.#commits.listeners.clear();
    this.#commits.applyListeners.clear();
    this.#commits.validators.clear();
    // Nothing reads a closed store (snapshots and scans opened before refuse too): its data goes
    // now, so a handle kept after close() (a variable reassigned only once a reopen returns) pins none of it.
    this.#chains.release();
    this.#versions.release();
  }

  /** Throws {@link DatabaseClosedError} once closed. */
  assertOpen(operation: string): void {
    if (this.#closed) throw new DatabaseClosedError(`${operation}(): the database is closed`);
  }

  /** Validates a run or type tag argument. */
  parseTag(tag: unknown, what: string): string {
    return parseArgument(tagSchema, tag, what);
  }

  /**
   * @internal Commits writes atomically in one synchronous step: checks
   * conflicts, `ifVersion`s and limits (throwing before any mutation), takes
   * the next version, applies everything, and hands the record to the listeners.
   */
  commitWrites(writes: readonly PendingWrite[], check?: TransactionCheck, sync?: SyncMode): Committed {
    this.assertOpen('commit');
    return this.#commits.commit(writes, check, sync);
  }

  /**
   * @internal Checks every structural invariant (for tests): indexes agree
   * with the primary map, counters and the memory account match, the TTL
   * index covers exactly the newest versions with an expiry. Throws on the first violation.
   */
  checkInvariants(): void {
    checkInvariants({ versions: this.#versions, chains: this.#chains, ttl: this.#ttl, version: this.#state.version });
  }

  // ---------------------------------------------------------------- private

  /** Prepares and commits one write alone; any failure (closed, bad input, conflict, limits) is a rejection. */
  #commitOne(operation: string, prepare: () => PendingWrite, sync: SyncMode | undefined): Promise<Version> {
    try {
      this.assertOpen(operation);
      return settle(this.commitWrites([prepare()], undefined, sync));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #heapBytes(): number {
    return this.#chains.heapBytes + this.#ttl.heapBytes;
  }

  #liveNode(key: string, operation: string, what: string): VersionId {
    if (this.#closed) this.assertOpen(operation);
    assertKey(key, what, this.maxKeyBytes);
    const id = this.#chains.heads.get(key);
    if (id === undefined) return 0;
    return this.#versions.isVisibleAt(id, this.clock.now()) ? id : 0;
  }

  /** A view of the current version for a scan of the live database, its version pinned until the scan ends (see {@link Leases.pinScan}). */
  #pinnedLiveView(): { view: ReadView; release: () => void; check: (operation: string) => void } {
    const version = this.#state.version;
    const view = new ReadView(this.#versions, this.#chains.trees(version), version, this.clock.now());
    return { view, ...this.#leases.pinScan(version, view.now, this.snapshotLeaseMs) };
  }


  #liveIndexed(index: IndexName, tag: string, options: ScanOptions | undefined): IterableIterator<Entry> {
    const { operation, tag: parsed, range } = this.#reader.indexedRange(index, tag, options);
    const { view, release, check } = this.#pinnedLiveView();
    return view.indexed(index, parsed, range, () => {
      this.assertOpen(operation);
      check(operation);
    }, release);
  }

  #openSnapshot(version: Version, leased = true): Snapshot {
    this.#leases.pins.add(version);
    this.#leases.openSnapshots++;
    return new Snapshot(this.#host, new ReadView(this.#versions, this.#chains.trees(this.#state.version), version, this.clock.now()), leased);
  }

  #openTransaction(isolation: Isolation, sync: SyncMode | undefined): Transaction {
    const start = this.#state.version;
    this.#leases.pins.add(start);
    this.#leases.openTransactions++;
    if (isolation === 'serializable') this.#leases.serializableStarts.add(start);
    return new this.transactionClass(this.#host, new ReadView(this.#versions, this.#chains.trees(start), start, this.clock.now()), isolation, sync);
  }

  /** The narrow interface snapshots and transactions see (not part of the store's public API). */
  #makeHost(): SnapshotHost & TransactionHost {
    return makeHost(this, this.#leases, (start) => this.#commits.commitLog.trim(start));
  }
}

function settle(committed: Committed): Promise<Version> {
  return committed.durable === undefined ? Promise.resolve(committed.version) : committed.durable.then(() => committed.version);
}

