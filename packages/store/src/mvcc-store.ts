import {
  ConflictError,
  DEFAULT_VALUE_CACHE_ENTRIES,
  DEFAULT_VALUE_SEGMENT_BYTES,
  DatabaseClosedError,
  InvalidOptionError,
  InvalidValueError,
  LimitExceededError,
  MAX_COMMIT_BYTES,
  VersionMismatchError,
  VersionUnavailableError,
  assertKey,
  gatherRanges,
  parseArgument,
  systemClock,
  tagSchema,
  transactionOptionsSchema,
  type Clock,
  type CommitOp,
  type CommitRecord,
  type CheckpointEntry,
  type Entry,
  type SyncMode,
  type Version,
} from '@epochdb/core';
import { CommitLog, type KeyChange } from './commit-log.js';
import type { AppliedChange, ApplyListener, CommitContext, CommitListener, CommitValidator, Committed, TransactionCheck } from './commit-types.js';
import { checkInvariants } from './invariants.js';
import type { Isolation } from './isolation.js';
import type { ScanOptions } from './key-range.js';
import { Leases, type LeaseHolder } from './leases.js';
import { expiryOf, type PendingWrite } from './pending-write.js';
import type { ReadApi } from './read-api.js';
import { ReadView, type IndexName } from './read-view.js';
import { parseScanOptions } from './scan-options.js';
import { Snapshot } from './snapshot.js';
import type { SnapshotHost, TransactionHost } from './store-host.js';
import { Transaction, type TransactionOptions, type TxCollectionLike } from './transaction.js';
import { TtlIndex } from './ttl-index.js';
import { recordSize, type CompactionPlan, type ValueMemoryStats } from './value-memory.js';
import { BUDGET_CHECK_EVERY, KEY_HEAP_BYTES, VersionChains } from './version-chains.js';
import { Versions, type VersionId } from './versions.js';
import { prepareBatch, prepareDelete, preparePut, writeBytes, type BatchOp, type BatchOptions, type DeleteOptions, type PutOptions } from './write-options.js';

/** Options of an {@link MvccStore}: every field required (defaults live in `openOptionsSchema`, see {@link DEFAULT_STORE_OPTIONS}). */
export interface MvccStoreOptions {
  /** Time source for TTL. */
  readonly clock: Clock;
  /** Longest key in UTF-8 bytes. */
  readonly maxKeyBytes: number;
  /** Largest encoded value in bytes. */
  readonly maxValueBytes: number;
  /** Versions of history kept readable behind the newest even when no snapshot pins them. */
  readonly retainVersions: number;
  /** Most operations one commit (transaction or batch) may hold. */
  readonly maxTransactionOps: number;
  /** Most encoded bytes one commit may hold. */
  readonly maxTransactionBytes: number;
  /** How long a snapshot or transaction may stay open, ms, by `clock` (0: forever). */
  readonly snapshotLeaseMs: number;
  /** Memory budget of the stored data in bytes (value memory exactly, the heap by estimate); commits past it are refused (0: none). */
  readonly maxMemoryBytes: number;
  /** Ceiling of the store's estimated heap bytes, below V8's heap limit; commits past it are refused (0: none). */
  readonly maxHeapBytes: number;
  /** Bytes per value-memory segment. */
  readonly segmentBytes: number;
  /** Frozen entries kept for hot keys (0: every read decodes a fresh frozen copy). */
  readonly valueCacheEntries: number;
}

/** The options a bare `new MvccStore()` gets (tests, tools); `open()` derives its own from `openOptionsSchema`. */
export const DEFAULT_STORE_OPTIONS: MvccStoreOptions = Object.freeze({
  clock: systemClock,
  maxKeyBytes: 1024,
  maxValueBytes: 16 * 1024 * 1024,
  retainVersions: 0,
  maxTransactionOps: 100_000,
  maxTransactionBytes: 64 * 1024 * 1024,
  snapshotLeaseMs: 60_000,
  maxMemoryBytes: 0,
  maxHeapBytes: 0,
  segmentBytes: DEFAULT_VALUE_SEGMENT_BYTES,
  valueCacheEntries: DEFAULT_VALUE_CACHE_ENTRIES,
});

/** Counters describing the store. */
export interface StoreStats extends ValueMemoryStats {
  /** Newest committed version. */
  readonly version: Version;
  /** Oldest version `snapshotAt` can read (the GC horizon). */
  readonly oldestVersion: Version;
  /** Keys whose newest version is a value (including expired ones not yet reclaimed). */
  readonly keys: number;
  /** Versions held in memory: newest values, tombstones and retained history. */
  readonly storedVersions: number;
  readonly openSnapshots: number;
  readonly openTransactions: number;
  /** Entries with a TTL that the cleaner has not reclaimed yet. */
  readonly ttlEntries: number;
  /** Expired entries reclaimed by the TTL cleaner so far. */
  readonly reclaimedExpired: number;
  /** Old versions reclaimed by version GC so far. */
  readonly collectedVersions: number;
  /** Superseded versions waiting for the GC horizon to pass them. */
  readonly pendingGc: number;
  /** Live value-memory bytes plus the estimated heap bytes of keys and indexes: what `maxMemoryBytes` is checked against. */
  readonly memoryBytes: number;
  /** Estimated heap bytes of keys, indexes and queues (the part of `memoryBytes` on the V8 heap). */
  readonly heapBytes: number;
  /** The memory budget (0: none). */
  readonly maxMemoryBytes: number;
  /** Snapshots and transactions ended because they outlived `snapshotLeaseMs`. */
  readonly leasesExpired: number;
  readonly valueCacheEntries: number;
  readonly valueCacheHits: number;
  readonly valueCacheMisses: number;
}

/**
 * The most expired entries one cleaning commit deletes. A slice commits as
 * many of these as fit its budget; small commits keep the overshoot past the
 * budget to one commit's work (about a millisecond).
 */
const MAX_EXPIRED_PER_COMMIT = 128;
/** The most one cleaning slice reclaims, whatever its clock says (a backstop for a stalled or faked clock). */
const MAX_EXPIRED_PER_SLICE = 4096;
const DEFAULT_RETRIES = 3;
/** Below this live fraction value memory is worth compacting (RAMCloud's cleaner keeps 80-90%). */
export const COMPACTION_TARGET_UTILIZATION = 0.8;

/**
 * The in-memory MVCC engine: a sorted B-tree of keys to version chains whose
 * records live in value memory off the V8 heap, one global monotonic version
 * counter, O(1) snapshots by copy-on-write clones, run/type secondary indexes,
 * a TTL index, and transactions with snapshot or serializable isolation.
 * Knows nothing of files or threads: persistence attaches with
 * {@link MvccStore.onCommit} and {@link MvccStore.applyRecord}; the worker pool
 * copies records with {@link MvccStore.planCompaction}.
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
  readonly #commitLog = new CommitLog();
  readonly #listeners = new Set<CommitListener>();
  readonly #applyListeners = new Set<ApplyListener>();
  readonly #validators = new Set<CommitValidator>();
  #version: Version = 0;
  #reclaimedExpired = 0;
  #closed = false;
  /** Versions below this were never in memory (loaded from a checkpoint without history). */
  #historyFloor: Version = 0;
  #commitGate: (() => void) | undefined;
  /** A compaction planned and not yet installed (only one at a time). */
  #compacting = false;
  readonly #host: SnapshotHost & TransactionHost;

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
    this.#versions = new Versions({ segmentBytes: o.segmentBytes, valueCacheEntries: o.valueCacheEntries });
    this.#chains = new VersionChains(this.#versions, this.#ttl);
    this.#leases = new Leases(this.snapshotLeaseMs, () => this.clock.now());
    this.#host = this.#makeHost();
  }

  /** The newest committed version (0 for an empty store). */
  get version(): Version {
    return this.#version;
  }

  /** The oldest version {@link snapshotAt} can read: the smallest version an open reader pins, or the retention window. */
  get oldestVersion(): Version {
    return Math.max(0, this.#horizon());
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
    const range = parseScanOptions(options, 'scan(): options');
    const { view, release } = this.#pinnedLiveView();
    return view.entries(range, () => this.assertOpen('scan'), release);
  }

  byRun(run: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#liveIndexed('run', run, options);
  }

  byType(type: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#liveIndexed('type', type, options);
  }

  // ---------------------------------------------------------------- writes

  /** Writes `value` at `key`; resolves to the commit version. */
  put(key: string, value: unknown, options?: PutOptions): Promise<Version> {
    try {
      this.assertOpen('put');
      const write = preparePut(this, key, value, options, 'put()');
      return settle(this.commitWrites([write], undefined, options?.sync));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Deletes `key` (a no-op write if it does not exist); resolves to the commit version. */
  delete(key: string, options?: DeleteOptions): Promise<Version> {
    try {
      this.assertOpen('delete');
      const write = prepareDelete(this, key, options, 'delete()');
      return settle(this.commitWrites([write], undefined, options?.sync));
    } catch (error) {
      return Promise.reject(error);
    }
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
      if (writes.length === 0) return Promise.resolve(this.#version);
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
    try {
      this.assertOpen('put');
      const write = { ...preparePut(this, key, value, options, `${validatedBy}.put()`), validatedBy };
      return settle(this.commitWrites([write], undefined, options.sync));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---------------------------------------------------------------- snapshots and transactions

  /** A read-only view at the current version. O(1) in the store's size. Release it when done. */
  snapshot(): Snapshot {
    this.assertOpen('snapshot');
    return this.#openSnapshot(this.#version);
  }

  /**
   * A read-only view of the past at `version`, which must be between
   * {@link oldestVersion} and {@link version}.
   */
  snapshotAt(version: Version): Snapshot {
    this.assertOpen('snapshotAt');
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new InvalidOptionError(`snapshotAt(): version must be a non-negative integer, got ${typeof version === 'string' ? JSON.stringify(version) : String(version)}`);
    }
    if (version > this.#version) {
      throw new VersionUnavailableError(`snapshotAt(): version ${version} is newer than the database (version ${this.#version})`);
    }
    if (version < this.oldestVersion) {
      throw new VersionUnavailableError(this.#unavailableReason(version));
    }
    return this.#openSnapshot(version);
  }

  /**
   * @internal A snapshot without a lease, for the database's own long reads
   * (a backup or checkpoint streamed from memory): they end it themselves.
   */
  snapshotForExport(): Snapshot {
    this.assertOpen('snapshot');
    return this.#openSnapshot(this.#version, false);
  }

  /** Starts a transaction by hand; finish it with `commit()` or `abort()`. */
  begin(options?: TransactionOptions): Transaction {
    this.assertOpen('begin');
    const parsed = options === undefined ? {} : parseArgument(transactionOptionsSchema, options, 'begin(): options');
    return this.#openTransaction(parsed.isolation ?? 'snapshot', parsed.sync);
  }

  /**
   * Runs `fn` in a transaction and commits it. On a conflict the callback
   * runs again, up to `retries` times (default 3), then the
   * {@link ConflictError} is thrown. If `fn` throws, nothing is applied.
   * Resolves to what `fn` returned.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactionOptions): Promise<T> {
    this.assertOpen('transaction');
    if (typeof fn !== 'function') throw new InvalidOptionError('transaction(): fn must be a function');
    const parsed = options === undefined ? {} : parseArgument(transactionOptionsSchema, options, 'transaction(): options');
    const retries = parsed.retries ?? DEFAULT_RETRIES;
    for (let attempt = 0; ; attempt++) {
      const tx = this.#openTransaction(parsed.isolation ?? 'snapshot', parsed.sync);
      let result: T;
      try {
        result = await fn(tx);
      } catch (error) {
        tx.abort();
        throw error;
      }
      if (!tx.active) return result;
      try {
        await tx.commit();
        return result;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= retries) throw error;
      }
    }
  }

  /** Resolves `tx.collection(name)`; installed by the database that defines collections. */
  collectionResolver: ((name: string, tx: Transaction) => TxCollectionLike) | undefined;

  // ---------------------------------------------------------------- maintenance

  /**
   * Reclaims expired entries as versioned `expire` deletes, in commits of at
   * most 128 keys, for about `budgetMs` (finding and committing both count).
   * Deletes a key only if it is still at the version that was found expired.
   * Returns how many were reclaimed. Complexity: O(expired found · log n).
   */
  reclaimExpired(budgetMs = 2): number {
    this.assertOpen('reclaimExpired');
    const deadline = performance.now() + budgetMs;
    let reclaimed = 0;
    for (;;) {
      const found = this.#findExpired(deadline);
      if (found.length === 0) break;
      const { record, durable } = this.commitWrites(found);
      // Nobody awaits the cleaner's commit. If persisting it fails, the persistence layer
      // has already turned the database read-only and reports it; an unhandled rejection
      // here would only kill the process.
      durable?.catch(() => undefined);
      this.#reclaimedExpired += record.ops.length;
      reclaimed += record.ops.length;
      if (found.length < MAX_EXPIRED_PER_COMMIT || reclaimed >= MAX_EXPIRED_PER_SLICE || performance.now() > deadline) break;
    }
    return reclaimed;
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
    return this.#chains.collectGarbage(this.#horizon(), performance.now() + budgetMs, this.#version, this.#leases.minPinned());
  }

  /** Superseded versions queued for GC (some may still be above the horizon). Complexity: O(1). */
  get pendingGc(): number {
    return this.#chains.pendingGc;
  }

  /** Whether superseded versions below the horizon wait for {@link collectGarbage}. */
  hasGarbage(): boolean {
    if (this.#chains.limboRecords > 0 && this.#leases.pins.size === 0) this.#chains.releaseLimbo(undefined);
    return this.#chains.hasGarbage(this.#horizon());
  }

  /**
   * Which sparse value-memory segments to compact, as a plan any thread can
   * carry out with `gatherRanges` (core) into a buffer of `plan.targetBytes`;
   * `undefined` when utilisation is at or above `targetUtilization` or a
   * compaction is already under way. Install the copy with
   * {@link installCompaction} (or drop it with {@link abandonCompaction}).
   */
  planCompaction(targetUtilization = COMPACTION_TARGET_UTILIZATION, maxBytes?: number): { plan: CompactionPlan; target: SharedArrayBuffer } | undefined {
    this.assertOpen('planCompaction');
    if (this.#compacting) return undefined;
    const memory = this.#versions.memory;
    const plan = memory.planCompaction(targetUtilization, maxBytes);
    if (plan === undefined) return undefined;
    this.#compacting = true;
    return { plan, target: memory.allocateTarget(plan.targetBytes) };
  }

  /** Installs a compaction's copy: ids point to the copies, the sparse segments are let go. Returns the records moved. O(records). */
  installCompaction(plan: CompactionPlan, target: SharedArrayBuffer): number {
    this.#compacting = false;
    if (this.#closed) return 0;
    return this.#versions.memory.installCompaction(plan, target);
  }

  /** Forgets a planned compaction whose copy failed (a crashed worker): the next plan starts afresh. */
  abandonCompaction(target: SharedArrayBuffer): void {
    this.#compacting = false;
    this.#versions.memory.returnTarget(target);
  }

  /**
   * Compacts value memory on this thread for about `budgetMs` (the store's own
   * upkeep when no worker pool does it). Returns the records moved.
   */
  compactValueMemory(budgetMs = 2, targetUtilization = COMPACTION_TARGET_UTILIZATION): number {
    const deadline = performance.now() + budgetMs;
    let moved = 0;
    for (;;) {
      const planned = this.planCompaction(targetUtilization);
      if (planned === undefined) return moved;
      gatherRanges(planned.plan.sources, planned.target);
      moved += this.installCompaction(planned.plan, planned.target);
      if (performance.now() > deadline) return moved;
    }
  }

  /** Whether value memory has fallen below the utilisation worth compacting. */
  needsCompaction(targetUtilization = COMPACTION_TARGET_UTILIZATION): boolean {
    return !this.#compacting && this.#versions.memory.utilization < targetUtilization && this.#versions.memory.stats().valueSegments > 1;
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
    const memory = this.#versions.memory.stats();
    const heapBytes = this.#heapBytes();
    return Object.freeze({
      version: this.#version,
      oldestVersion: this.oldestVersion,
      keys: this.#chains.liveKeys,
      storedVersions: this.#chains.storedVersions,
      openSnapshots: this.#leases.openSnapshots,
      openTransactions: this.#leases.openTransactions,
      ttlEntries: this.#ttl.size,
      reclaimedExpired: this.#reclaimedExpired,
      collectedVersions: this.#chains.collectedVersions,
      pendingGc: this.#chains.pendingGc,
      memoryBytes: memory.valueLiveBytes + heapBytes,
      heapBytes,
      maxMemoryBytes: this.maxMemoryBytes,
      leasesExpired: this.#leases.expired,
      ...memory,
      ...this.#versions.cache.stats(),
    });
  }

  // ---------------------------------------------------------------- seams for persistence

  /** Registers `listener` for every future commit; returns a function that removes it. */
  onCommit(listener: CommitListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Registers `listener` for the changes of every future commit made through
   * the write API (not recovery replay), with the entries before and after.
   * Returns a function that removes it.
   */
  onApply(listener: ApplyListener): () => void {
    this.#applyListeners.add(listener);
    return () => this.#applyListeners.delete(listener);
  }

  /**
   * Registers a validator run on every commit's writes after conflict and
   * `ifVersion` checks, before anything changes (unique indexes use it).
   * Returns a function that removes it.
   */
  addCommitValidator(validator: CommitValidator): () => void {
    this.#validators.add(validator);
    return () => this.#validators.delete(validator);
  }

  /**
   * Installs a check run at the start of every commit, before anything
   * changes; if it throws, the commit is refused (a persistent database that
   * failed uses it to become read-only).
   */
  setCommitGate(gate: (() => void) | undefined): void {
    this.#commitGate = gate;
  }

  /**
   * Loads a checkpoint into an empty store: every entry keeps its own
   * version, and the store's version becomes `version`. Listeners are not
   * called. Each value's bytes are copied into value memory as they are, not
   * decoded: a value that does not decode is a `CorruptionError` when read.
   */
  restore(entries: Iterable<CheckpointEntry>, version: Version): void {
    this.assertOpen('restore');
    if (this.#version !== 0 || this.#chains.primary.size !== 0) throw new InvalidOptionError('restore(): the store must be empty');
    if (!Number.isSafeInteger(version) || version < 0) throw new InvalidOptionError(`restore(): version must be a non-negative integer, got ${String(version)}`);
    for (const entry of entries) {
      if (!(entry.version > 0 && entry.version <= version)) {
        throw new InvalidOptionError(`restore(): entry ${JSON.stringify(entry.key)} has version ${entry.version}, outside 1..${version}`);
      }
      const id = this.#versions.value(entry.version, entry.encoded, undefined, entry.run, entry.type, entry.expiresAt);
      this.#chains.apply(entry.key, id, true, this.#chains.primary.get(entry.key));
    }
    this.#version = version;
    // A checkpoint holds only the newest version of each key: nothing before it can be read.
    this.#historyFloor = version;
  }

  /**
   * Replays a committed record (from a WAL or checkpoint) with its own
   * version, which must be above the current one. Listeners are not called.
   * Like {@link restore}, copies each put's bytes without decoding them.
   */
  applyRecord(record: CommitRecord): void {
    this.assertOpen('applyRecord');
    if (!Number.isSafeInteger(record.version) || record.version <= this.#version) {
      throw new InvalidOptionError(`applyRecord(): record.version must be an integer above ${this.#version}, got ${String(record.version)}`);
    }
    const eager = this.#eager();
    for (const op of record.ops) {
      const id =
        op.kind === 'put'
          ? this.#versions.value(record.version, op.encoded, undefined, op.run, op.type, op.expiresAt)
          : this.#versions.tombstone(record.version, op.kind === 'expire');
      this.#chains.apply(op.key, id, eager, this.#chains.primary.get(op.key));
    }
    this.#version = record.version;
  }

  /** Closes the store: every later call (also on snapshots and transactions) throws a {@link DatabaseClosedError}. */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    this.#applyListeners.clear();
    this.#validators.clear();
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
    this.#commitGate?.();
    const now = this.clock.now();
    if (check !== undefined) this.#checkConflicts(writes, check);
    for (const write of writes) {
      if (write.ifVersion === undefined) continue;
      const expected = write.ifVersion ?? 0;
      const actual = this.#liveVersion(write.key, now);
      if (actual !== expected) throw new VersionMismatchError(write.key, expected, actual);
    }
    const last = new Map<string, PendingWrite>();
    for (const write of writes) last.set(write.key, write);
    // The current head of every written key, looked up once for the budget check and the apply loop.
    const primary = this.#chains.primary;
    const heads: (VersionId | undefined)[] = [];
    for (const write of last.values()) heads.push(primary.get(write.key));
    this.#checkLimits(writes, last, heads);
    if (this.#validators.size > 0) {
      const final = [...last.values()];
      for (const validator of this.#validators) validator(final, now);
    }

    const versions = this.#versions;
    const chains = this.#chains;
    const version = this.#version + 1;
    const eager = this.#eager();
    const logging = this.#leases.serializableStarts.size > 0;
    const changes: KeyChange[] = [];
    const ops: CommitOp[] = [];
    const applied: AppliedChange[] | undefined = this.#applyListeners.size > 0 ? [] : undefined;
    let at = 0;
    for (const write of last.values()) {
      const before = heads[at++];
      let id: VersionId;
      let op: CommitOp;
      if (write.kind === 'put') {
        const prepared = write.prepared!;
        const expiresAt = expiryOf(write, now);
        id = versions.value(version, prepared.encoded, prepared.copyOnRead, write.run, write.type, expiresAt);
        op = { kind: 'put', key: write.key, encoded: prepared.encoded, ...tagsOf(write), ...(expiresAt === undefined ? {} : { expiresAt }) };
      } else {
        if (write.kind === 'expire' && (before === undefined || versions.version(before) !== write.seenVersion || !versions.isExpiredAt(before, now))) continue;
        id = versions.tombstone(version, write.kind === 'expire');
        op = { kind: write.kind, key: write.key };
      }
      // Read what the old head contributes before `apply` may free it.
      const beforeTags = before === undefined || versions.isTombstone(before) ? undefined : versions.tagsOf(before);
      const beforeExpiry = logging && before !== undefined ? versions.expiresAt(before) : undefined;
      // `before` is the current head: no second walk down the tree.
      if (!chains.apply(write.key, id, eager, before)) continue;
      ops.push(Object.freeze(op));
      if (logging) {
        changes.push({ key: write.key, before: before === undefined ? undefined : { ...beforeTags, expiresAt: beforeExpiry }, after: write.kind === 'put' ? tagsOf(write) : {}, expiry: write.kind === 'expire' });
      }
      if (applied !== undefined) {
        // The new entry's value is decoded from value memory (and cached for the next reader); `before`
        // contributes only its tags, so nothing can fail here halfway through the commit.
        applied.push({ key: write.key, kind: write.kind, before: beforeTags, after: write.kind === 'put' ? versions.entry(write.key, id) : undefined });
      }
    }
    this.#version = version;
    if (logging) this.#commitLog.append(version, changes);
    const record: CommitRecord = Object.freeze({ version, time: now, ops: Object.freeze(ops) });
    const durable = this.#notify(record, { sync });
    if (applied !== undefined && applied.length > 0) {
      for (const listener of this.#applyListeners) listener(version, now, applied);
    }
    return { version, record, durable };
  }

  /**
   * @internal Checks every structural invariant (for tests): indexes agree
   * with the primary map, counters and the memory account match, the TTL
   * index covers exactly the newest versions with an expiry. Throws on the first violation.
   */
  checkInvariants(): void {
    checkInvariants({ versions: this.#versions, chains: this.#chains, ttl: this.#ttl, version: this.#version });
  }

  // ---------------------------------------------------------------- private

  /** Refuses a commit past `maxTransactionOps`, `maxTransactionBytes`, the commit size limit or the memory budget. */
  #checkLimits(writes: readonly PendingWrite[], last: ReadonlyMap<string, PendingWrite>, heads: readonly (VersionId | undefined)[]): void {
    let bytes = 0;
    for (const write of last.values()) bytes += writeBytes(write);
    if (bytes > MAX_COMMIT_BYTES) {
      throw new InvalidValueError(`commit of ${last.size} operations is about ${bytes} bytes encoded, over the limit of ${MAX_COMMIT_BYTES} bytes for one commit`);
    }
    // The TTL cleaner's own commits (only expiries) are not held to the caller-facing limits.
    if (writes.every((w) => w.kind === 'expire')) return;
    if (last.size > this.maxTransactionOps) {
      throw new LimitExceededError(`commit of ${last.size} operations is over the limit of ${this.maxTransactionOps} (maxTransactionOps); split it`, 'maxTransactionOps');
    }
    if (bytes > this.maxTransactionBytes) {
      throw new LimitExceededError(`commit of ${last.size} operations is about ${bytes} bytes encoded, over the limit of ${this.maxTransactionBytes} bytes (maxTransactionBytes); split it`, 'maxTransactionBytes');
    }
    if (this.maxMemoryBytes > 0 || this.maxHeapBytes > 0) this.#checkMemoryBudget(last.values(), heads);
  }

  /**
   * Refuses a commit whose puts would grow the stored data past
   * `maxMemoryBytes` (live value memory exactly, plus the heap estimate) or the
   * heap estimate past `maxHeapBytes`. Net growth: a put that replaces a
   * version nothing else needs frees that version. Deletes and expiry are never refused.
   */
  #checkMemoryBudget(writes: Iterable<PendingWrite>, heads: readonly (VersionId | undefined)[]): void {
    const eager = this.#eager();
    let growth = 0;
    let heapGrowth = 0;
    let at = 0;
    for (const write of writes) {
      const before = heads[at++];
      if (write.kind !== 'put') continue;
      growth += recordSize(write.prepared!.encoded.byteLength, { expiry: write.ttl !== undefined || write.expiresAt !== undefined, tags: write.run !== undefined || write.type !== undefined });
      if (before === undefined) heapGrowth += KEY_HEAP_BYTES + write.key.length;
      else if (eager) growth -= this.#versions.recordBytes(before);
    }
    if (growth + heapGrowth <= 0) return;
    const heap = this.#heapBytes();
    const used = this.#versions.memory.stats().valueLiveBytes + heap;
    if (this.maxMemoryBytes > 0 && used + growth + heapGrowth > this.maxMemoryBytes) {
      throw new LimitExceededError(
        `write refused: the database holds ${used} bytes (value memory plus the estimated heap) and this commit would add about ${growth + heapGrowth}, over the memory budget of ${this.maxMemoryBytes} bytes (maxMemoryBytes); delete data or raise the budget`,
        'maxMemoryBytes',
      );
    }
    if (this.maxHeapBytes > 0 && heapGrowth > 0 && heap + heapGrowth > this.maxHeapBytes) {
      throw new LimitExceededError(
        `write refused: keys and indexes take about ${heap} bytes of the V8 heap and this commit would add about ${heapGrowth}, over the heap ceiling of ${this.maxHeapBytes} bytes derived from V8's heap limit (part of maxMemoryBytes); delete data or start node with a larger --max-old-space-size`,
        'maxMemoryBytes',
      );
    }
  }

  #heapBytes(): number {
    return this.#chains.heapBytes + this.#ttl.heapBytes;
  }

  #horizon(): Version {
    const pinned = this.#leases.minPinned();
    const retained = Math.max(this.#version - this.retainVersions, this.#historyFloor);
    return pinned === undefined ? retained : Math.min(pinned, retained);
  }

  #unavailableReason(version: Version): string {
    const oldest = this.oldestVersion;
    if (this.#historyFloor > 0 && version < this.#historyFloor && this.#historyFloor === oldest) {
      return `snapshotAt(): version ${version} is older than ${oldest}, the version this database was loaded at from its newest checkpoint (a checkpoint keeps only the newest version of each key, so history before it does not survive a reopen, whatever retainVersions says)`;
    }
    return `snapshotAt(): version ${version} is older than the oldest retained version ${oldest} (history below it was garbage-collected; pin it with an open snapshot or set retainVersions, now ${this.retainVersions})`;
  }

  /** Nothing older than the newest version can be read: superseded versions can go at once. */
  #eager(): boolean {
    return this.retainVersions === 0 && this.#leases.pins.size === 0;
  }

  #liveNode(key: string, operation: string, what: string): VersionId {
    if (this.#closed) this.assertOpen(operation);
    assertKey(key, what, this.maxKeyBytes);
    const id = this.#chains.primary.get(key);
    if (id === undefined) return 0;
    return this.#versions.isVisibleAt(id, this.clock.now()) ? id : 0;
  }

  #liveVersion(key: string, now: number): Version {
    const id = this.#chains.primary.get(key);
    return id !== undefined && this.#versions.isVisibleAt(id, now) ? this.#versions.version(id) : 0;
  }

  /**
   * A view of the current version for a scan of the live database, with its
   * version pinned until the scan ends (its records must not be freed and
   * their ids reused under it); an abandoned scan is let go by its lease.
   */
  #pinnedLiveView(): { view: ReadView; release: () => void } {
    const version = this.#version;
    const view = new ReadView(this.#versions, this.#chains.trees(version), version, this.clock.now());
    const leases = this.#leases;
    leases.pins.add(version);
    let released = false;
    const holder: LeaseHolder = {
      openedAt: view.now,
      expireLease: () => release(),
    };
    const release = (): void => {
      if (released) return;
      released = true;
      leases.drop(holder);
      leases.pins.remove(version);
    };
    leases.hold(holder);
    return { view, release };
  }

  #liveIndexed(index: IndexName, tag: string, options: ScanOptions | undefined): IterableIterator<Entry> {
    const operation = index === 'run' ? 'byRun' : 'byType';
    this.assertOpen(operation);
    const parsedTag = this.parseTag(tag, `${operation}(): ${index}`);
    const range = parseScanOptions(options, `${operation}(): options`);
    const { view, release } = this.#pinnedLiveView();
    return view.indexed(index, parsedTag, range, () => this.assertOpen(operation), release);
  }

  #openSnapshot(version: Version, leased = true): Snapshot {
    this.#leases.pins.add(version);
    this.#leases.openSnapshots++;
    return new Snapshot(this.#host, new ReadView(this.#versions, this.#chains.trees(this.#version), version, this.clock.now()), leased);
  }

  #openTransaction(isolation: Isolation, sync: SyncMode | undefined): Transaction {
    const start = this.#version;
    this.#leases.pins.add(start);
    this.#leases.openTransactions++;
    if (isolation === 'serializable') this.#leases.serializableStarts.add(start);
    return new Transaction(this.#host, new ReadView(this.#versions, this.#chains.trees(start), start, this.clock.now()), isolation, sync);
  }

  #notify(record: CommitRecord, context: CommitContext): Promise<void> | undefined {
    let waits: Promise<void>[] | undefined;
    for (const listener of this.#listeners) {
      const result = listener(record, context);
      if (result !== undefined) (waits ??= []).push(result);
    }
    if (waits === undefined) return undefined;
    return waits.length === 1 ? waits[0] : Promise.all(waits).then(() => undefined);
  }

  #checkConflicts(writes: readonly PendingWrite[], check: TransactionCheck): void {
    const changed = (key: string): boolean => this.#versions.changedSince(this.#chains.primary.get(key), check.start, check.now);
    for (const write of writes) {
      if (changed(write.key)) {
        throw new ConflictError(`transaction conflict: key ${JSON.stringify(write.key)} was written by another commit after this transaction began (version ${check.start})`, write.key);
      }
    }
    if (check.isolation !== 'serializable') return;
    for (const key of check.readKeys ?? []) {
      if (changed(key)) {
        throw new ConflictError(`serialization conflict: key ${JSON.stringify(key)}, read by this transaction, was changed by another commit after it began (version ${check.start})`, key);
      }
    }
    const overlap = check.ranges === undefined ? undefined : this.#commitLog.findOverlap(check.start, check.now, check.ranges);
    if (overlap !== undefined) {
      throw new ConflictError(`serialization conflict: key ${JSON.stringify(overlap)}, in a range this transaction scanned, was changed by another commit after it began (version ${check.start})`, overlap);
    }
  }

  /** Up to {@link MAX_EXPIRED_PER_COMMIT} keys still at the version the TTL index found expired, in expiry order. */
  #findExpired(deadline: number): PendingWrite[] {
    const now = this.clock.now();
    const found: PendingWrite[] = [];
    let visited = 0;
    for (const [key, version] of this.#ttl.due(now)) {
      const head = this.#chains.primary.get(key);
      if (head !== undefined && this.#versions.version(head) === version && this.#versions.isExpiredAt(head, now)) {
        found.push({ kind: 'expire', key, seenVersion: version });
        if (found.length >= MAX_EXPIRED_PER_COMMIT) break;
      }
      if (++visited % BUDGET_CHECK_EVERY === 0 && performance.now() > deadline) break;
    }
    return found;
  }

  /** The narrow interface snapshots and transactions see (not part of the store's public API). */
  #makeHost(): SnapshotHost & TransactionHost {
    const store = this;
    const leases = this.#leases;
    return {
      maxKeyBytes: this.maxKeyBytes,
      snapshotLeaseMs: this.snapshotLeaseMs,
      maxTransactionOps: this.maxTransactionOps,
      maxTransactionBytes: this.maxTransactionBytes,
      assertOpen: (operation) => store.assertOpen(operation),
      parseTag: (tag, what) => store.parseTag(tag, what),
      leaseExpired: (openedAt) => leases.isExpired(openedAt),
      holdLease: (holder) => leases.hold(holder),
      dropLease: (holder) => leases.drop(holder),
      countExpiredLease: () => void leases.expired++,
      releaseSnapshot: (version) => {
        leases.pins.remove(version);
        leases.openSnapshots--;
      },
      preparePut: (key, value, options, what) => preparePut(store, key, value, options, what),
      prepareDelete: (key, options, what) => prepareDelete(store, key, options, what),
      commitWrites: (writes, check, sync) => store.commitWrites(writes, check, sync),
      finishTransaction: (start, isolation) => {
        leases.pins.remove(start);
        leases.openTransactions--;
        if (isolation === 'serializable') {
          leases.serializableStarts.remove(start);
          store.#commitLog.trim(leases.serializableStarts.min());
        }
      },
      resolveCollection: (name, tx) => {
        if (store.collectionResolver === undefined) throw new InvalidOptionError(`tx.collection(): no collection named ${JSON.stringify(name)} is defined (db.collection(name, { schema }))`);
        return store.collectionResolver(name, tx as Transaction);
      },
    };
  }
}

function settle(committed: Committed): Promise<Version> {
  return committed.durable === undefined ? Promise.resolve(committed.version) : committed.durable.then(() => committed.version);
}

/** The run and type tags of a write (absent ones left out). */
function tagsOf(write: PendingWrite): { run?: string; type?: string } {
  const tags: { run?: string; type?: string } = {};
  if (write.run !== undefined) tags.run = write.run;
  if (write.type !== undefined) tags.type = write.type;
  return tags;
}

/** `options` without the fields set to `undefined` (so they take the defaults). */
function definedOnly<T extends object>(options: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [name, value] of Object.entries(options)) if (value !== undefined) (out as Record<string, unknown>)[name] = value;
  return out;
}
