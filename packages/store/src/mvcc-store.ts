import {
  ConflictError,
  DatabaseClosedError,
  InvalidOptionError,
  InvalidValueError,
  LimitExceededError,
  MAX_COMMIT_BYTES,
  VersionMismatchError,
  VersionUnavailableError,
  assertKey,
  batchOptionsSchema,
  batchSchema,
  deleteOptionsSchema,
  parseArgument,
  prepareValue,
  putOptionsSchema,
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
import { createStringTree, type BTree } from './btree.js';
import { CommitLog, type KeyChange, type RangeRead } from './commit-log.js';
import type { ScanOptions } from './key-range.js';
import { expiryOf, type PendingWrite } from './pending-write.js';
import { PinSet } from './pin-set.js';
import type { ReadApi } from './read-api.js';
import { INDEX_SEPARATOR, ReadView, type IndexName, type TreeSet } from './read-view.js';
import { parseScanOptions } from './scan-options.js';
import { Snapshot } from './snapshot.js';
import { Transaction, type Isolation, type TransactionOptions, type TxCollectionLike } from './transaction.js';
import { VersionNode, changedSince, entryOf, isExpiredAt, isVisibleAt, valueOf, versionSize } from './version-node.js';

/** Options of an {@link MvccStore}. */
export interface MvccStoreOptions {
  /** Time source for TTL (default: `Date.now`). */
  readonly clock?: Clock | undefined;
  /** Longest key in UTF-8 bytes (default 1024). */
  readonly maxKeyBytes?: number | undefined;
  /** Largest encoded value in bytes (default 16 MiB). */
  readonly maxValueBytes?: number | undefined;
  /** Versions of history kept readable behind the newest even when no snapshot pins them (default 0). */
  readonly retainVersions?: number | undefined;
  /** Most operations one commit (transaction or batch) may hold (default 100,000). */
  readonly maxTransactionOps?: number | undefined;
  /** Most encoded bytes one commit may hold (default 64 MiB). */
  readonly maxTransactionBytes?: number | undefined;
  /** How long a snapshot or transaction may stay open, ms, by `clock` (default 60 s; 0: forever). */
  readonly snapshotLeaseMs?: number | undefined;
  /** Approximate memory budget of stored versions in bytes; commits that would grow past it are refused (default 0: none). */
  readonly maxMemoryBytes?: number | undefined;
}

/** Something whose life is bounded by `snapshotLeaseMs`: an open snapshot or transaction. */
export interface LeaseHolder {
  /** Clock time it was opened at. */
  readonly openedAt: number;
  /** Ends it because its lease ran out. */
  expireLease(): void;
}

/** Options of `put()`. */
export interface PutOptions {
  /** Run / session / tenant id, queryable with `byRun`. */
  readonly run?: string | undefined;
  /** Type tag, queryable with `byType`. */
  readonly type?: string | undefined;
  /** Time to live in ms from the commit. */
  readonly ttl?: number | undefined;
  /** Absolute expiry in epoch ms. */
  readonly expiresAt?: number | undefined;
  /** Commit only if the key is at this version (0 or null: only if it does not exist). */
  readonly ifVersion?: Version | null | undefined;
  /** Durability of this write, overriding the database default (persistent databases). */
  readonly sync?: SyncMode | undefined;
}

/** Options of `delete()`. */
export interface DeleteOptions {
  /** Commit only if the key is at this version. */
  readonly ifVersion?: Version | null | undefined;
  /** Durability of this write, overriding the database default (persistent databases). */
  readonly sync?: SyncMode | undefined;
}

/** Options of `batch()`. */
export interface BatchOptions {
  /** Durability of this batch, overriding the database default (persistent databases). */
  readonly sync?: SyncMode | undefined;
}

/** One operation of `batch()`. */
export type BatchOp =
  | ({ readonly op: 'put'; readonly key: string; readonly value: unknown } & Omit<PutOptions, 'sync'>)
  | ({ readonly op: 'delete'; readonly key: string } & Omit<DeleteOptions, 'sync'>);

/** What the writer asked for besides the record itself. */
export interface CommitContext {
  /** The durability the write asked for (`put(k, v, { sync })`), if it did. */
  readonly sync: SyncMode | undefined;
}

/**
 * Called synchronously, in version order, with every commit; may return a
 * promise the write's acknowledgement waits for (durability). Must not throw.
 */
export type CommitListener = (record: CommitRecord, context: CommitContext) => void | Promise<void>;

/** One key's change in a commit, as {@link MvccStore.onApply} reports it. */
export interface AppliedChange {
  readonly key: string;
  readonly kind: 'put' | 'delete' | 'expire';
  /**
   * The tags of the key's newest entry before the commit (`undefined` if
   * none; it may have expired already). Tags only: the old value is never
   * decoded on the commit path.
   */
  readonly before: { readonly run?: string; readonly type?: string } | undefined;
  /** The entry the commit wrote (`undefined` for a delete or expiry). */
  readonly after: Entry | undefined;
}

/** Called synchronously with every commit's changes, after they are applied and visible. Must not throw. */
export type ApplyListener = (version: Version, time: number, changes: readonly AppliedChange[]) => void;

/** Called with a commit's writes (one per key, the last one wins) before anything changes; throwing refuses the commit. */
export type CommitValidator = (writes: readonly PendingWrite[], now: number) => void;

/** Counters describing the store. */
export interface StoreStats {
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
  /** Approximate bytes held by stored versions: what `maxMemoryBytes` is checked against. */
  readonly memoryBytes: number;
  /** The memory budget (0: none). */
  readonly maxMemoryBytes: number;
  /** Snapshots and transactions ended because they outlived `snapshotLeaseMs`. */
  readonly leasesExpired: number;
}

/** What a synchronous commit produced. */
export interface Committed {
  readonly version: Version;
  readonly record: CommitRecord;
  /** Settles when every commit listener is done with the record (undefined: nothing to wait for). */
  readonly durable: Promise<void> | undefined;
}

/** Conflict checks a transaction's commit must pass. */
export interface TransactionCheck {
  readonly start: Version;
  /** The transaction's clock reading: what had expired by then was already invisible to it. */
  readonly now: number;
  readonly isolation: Isolation;
  readonly readKeys: ReadonlySet<string> | undefined;
  readonly ranges: readonly RangeRead[] | undefined;
}

const TTL_TIME_DIGITS = 16;
const MAX_TTL_TIME = 10 ** TTL_TIME_DIGITS - 1;
/**
 * The most expired entries one cleaning commit deletes. A slice commits as
 * many of these as fit its budget; small commits keep the overshoot past the
 * budget to one commit's work (about a millisecond), where one big commit of
 * thousands of deletes held the event loop for tens of ms.
 */
const MAX_EXPIRED_PER_COMMIT = 128;
/** The most one cleaning slice reclaims, whatever its clock says (a backstop for a stalled or faked clock). */
const MAX_EXPIRED_PER_SLICE = 4096;
/** How many items a time-bounded loop handles between clock reads. */
const BUDGET_CHECK_EVERY = 64;
const DEFAULT_RETRIES = 3;

/**
 * The TTL index key: expiry time as 16 zero-padded digits, then the key, so
 * index order is expiry order. The time is rounded up, so an entry the index
 * calls due has really expired (a fractional expiry rounded down once made
 * maintenance spin on an entry that was not due yet).
 */
function ttlKey(expiresAt: number, key: string): string {
  const time = Math.min(Math.max(Math.ceil(expiresAt), 0), MAX_TTL_TIME);
  return String(time).padStart(TTL_TIME_DIGITS, '0') + INDEX_SEPARATOR + key;
}

/**
 * The in-memory MVCC engine: a sorted B-tree of keys to version chains, one
 * global monotonic version counter, O(1) snapshots by copy-on-write clones,
 * run/type secondary indexes, a TTL index, and transactions with snapshot or
 * serializable isolation. Knows nothing of files or threads: persistence
 * attaches with {@link MvccStore.onCommit} and {@link MvccStore.applyRecord}.
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

  readonly #primary = createStringTree<VersionNode>();
  readonly #runIndex = createStringTree<true>();
  readonly #typeIndex = createStringTree<true>();
  /** `ttlKey(expiresAt, key)` → the version that set that expiry; only for newest versions. */
  readonly #ttlIndex = createStringTree<Version>();
  readonly #pins = new PinSet();
  readonly #serializableStarts = new PinSet();
  readonly #commitLog = new CommitLog();
  readonly #listeners = new Set<CommitListener>();
  readonly #applyListeners = new Set<ApplyListener>();
  readonly #validators = new Set<CommitValidator>();
  /** Superseded versions, in version order: `(key, v)` means the version below v of key is garbage once the horizon reaches v. */
  #gcQueue: { key: string; node: VersionNode }[] = [];
  #gcHead = 0;
  #version: Version = 0;
  #liveKeys = 0;
  #storedVersions = 0;
  /** Open snapshots and transactions in the order they were opened (so also by `openedAt`). */
  readonly #leases = new Set<LeaseHolder>();
  #leasesExpired = 0;
  /** Approximate bytes held by stored versions (see {@link VersionNode.size}). */
  #memoryBytes = 0;
  #openSnapshots = 0;
  #openTransactions = 0;
  #reclaimedExpired = 0;
  #collectedVersions = 0;
  #closed = false;
  /** Versions below this were never in memory (loaded from a checkpoint without history). */
  #historyFloor: Version = 0;
  #commitGate: (() => void) | undefined;
  #cloneCache: { version: Version; trees: TreeSet } | undefined;

  constructor(options: MvccStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxKeyBytes = options.maxKeyBytes ?? 1024;
    this.maxValueBytes = options.maxValueBytes ?? 16 * 1024 * 1024;
    this.retainVersions = options.retainVersions ?? 0;
    this.maxTransactionOps = options.maxTransactionOps ?? 100_000;
    this.maxTransactionBytes = options.maxTransactionBytes ?? 64 * 1024 * 1024;
    this.snapshotLeaseMs = options.snapshotLeaseMs ?? 60_000;
    this.maxMemoryBytes = options.maxMemoryBytes ?? 0;
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
    const node = this.#liveNode(key, 'get', 'get(): key');
    return node === undefined ? undefined : valueOf(node);
  }

  getEntry(key: string): Entry | undefined {
    const node = this.#liveNode(key, 'getEntry', 'getEntry(): key');
    return node === undefined ? undefined : entryOf(node);
  }

  has(key: string): boolean {
    return this.#liveNode(key, 'has', 'has(): key') !== undefined;
  }

  scan(options?: ScanOptions): IterableIterator<Entry> {
    this.assertOpen('scan');
    const range = parseScanOptions(options, 'scan(): options');
    return this.#liveView().entries(range, () => this.assertOpen('scan'));
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
      const write = this.preparePut(key, value, options, 'put()');
      return this.#settle(this.commitWrites([write], undefined, options?.sync));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Deletes `key` (a no-op write if it does not exist); resolves to the commit version. */
  delete(key: string, options?: DeleteOptions): Promise<Version> {
    try {
      this.assertOpen('delete');
      const write = this.prepareDelete(key, options, 'delete()');
      return this.#settle(this.commitWrites([write], undefined, options?.sync));
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
      const parsed = parseArgument(batchSchema, ops, 'batch(): ops');
      const { sync } = options === undefined ? {} : parseArgument(batchOptionsSchema, options, 'batch(): options');
      // Nothing to commit: no new version.
      if (parsed.length === 0) return Promise.resolve(this.#version);
      const writes = parsed.map((op, i) => {
        const what = `batch(): ops[${i}]`;
        if (op.op === 'delete') {
          assertKey(op.key, `${what}.key`, this.maxKeyBytes);
          return { kind: 'delete', key: op.key, ifVersion: op.ifVersion } satisfies PendingWrite;
        }
        const { op: _op, key, value, ...options } = op;
        return this.preparePut(key as string, value, options, what, true);
      });
      return this.#settle(this.commitWrites(writes, undefined, sync));
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
      throw new InvalidOptionError(`snapshotAt(): version must be a non-negative integer, got ${String(version)}`);
    }
    if (version > this.#version) {
      throw new VersionUnavailableError(`snapshotAt(): version ${version} is newer than the database (version ${this.#version})`);
    }
    if (version < this.oldestVersion) {
      throw new VersionUnavailableError(
        `snapshotAt(): version ${version} is older than the oldest retained version ${this.oldestVersion} (history below it was garbage-collected; pin it with an open snapshot or set retainVersions)`,
      );
    }
    return this.#openSnapshot(version);
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

  // ---------------------------------------------------------------- maintenance

  /**
   * Reclaims expired entries as versioned `expire` deletes, in commits of at
   * most 128 keys, for about `budgetMs` (finding and committing both count).
   * Deletes a key only if it is still at the version that was found expired.
   * Returns how many were reclaimed. Complexity: O(expired found · log n),
   * not O(n).
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

  /** Up to {@link MAX_EXPIRED_PER_COMMIT} keys still at the version the TTL index found expired, in expiry order. */
  #findExpired(deadline: number): PendingWrite[] {
    const now = this.clock.now();
    const found: PendingWrite[] = [];
    let visited = 0;
    for (const [tk, version] of this.#ttlIndex.entries()) {
      if (Number(tk.slice(0, TTL_TIME_DIGITS)) > now) break;
      const key = tk.slice(TTL_TIME_DIGITS + 1);
      const head = this.#primary.get(key);
      if (head !== undefined && head.version === version && isExpiredAt(head, now)) {
        found.push({ kind: 'expire', key, seenVersion: version });
        if (found.length >= MAX_EXPIRED_PER_COMMIT) break;
      }
      if (++visited % BUDGET_CHECK_EVERY === 0 && performance.now() > deadline) break;
    }
    return found;
  }

  /** Whether an entry has expired and waits for {@link reclaimExpired}. */
  hasExpired(): boolean {
    const first = this.#ttlIndex.minKey();
    return first !== undefined && Number(first.slice(0, TTL_TIME_DIGITS)) <= this.clock.now();
  }

  /**
   * Reclaims history below the GC horizon for about `budgetMs`: versions no
   * open snapshot, transaction or retention window can read, and tombstones
   * nobody needs. Returns how many versions were reclaimed.
   */
  collectGarbage(budgetMs = 2): number {
    this.assertOpen('collectGarbage');
    const horizon = this.#horizon();
    const deadline = performance.now() + budgetMs;
    const before = this.#collectedVersions;
    let handled = 0;
    while (this.#gcHead < this.#gcQueue.length) {
      const item = this.#gcQueue[this.#gcHead]!;
      if (item.node.version > horizon) break;
      this.#gcHead++;
      this.#collectBelow(item.key, item.node, horizon);
      if (++handled % BUDGET_CHECK_EVERY === 0 && performance.now() > deadline) break;
    }
    if (this.#gcHead > 1024 && this.#gcHead * 2 > this.#gcQueue.length) {
      this.#gcQueue = this.#gcQueue.slice(this.#gcHead);
      this.#gcHead = 0;
    }
    return this.#collectedVersions - before;
  }

  /** Superseded versions queued for GC (some may still be above the horizon). Complexity: O(1). */
  get pendingGc(): number {
    return this.#gcQueue.length - this.#gcHead;
  }

  /** Whether superseded versions below the horizon wait for {@link collectGarbage}. */
  hasGarbage(): boolean {
    const next = this.#gcQueue[this.#gcHead];
    return next !== undefined && next.node.version <= this.#horizon();
  }

  /** Counters describing the store. */
  stats(): StoreStats {
    return Object.freeze({
      version: this.#version,
      oldestVersion: this.oldestVersion,
      keys: this.#liveKeys,
      storedVersions: this.#storedVersions,
      openSnapshots: this.#openSnapshots,
      openTransactions: this.#openTransactions,
      ttlEntries: this.#ttlIndex.size,
      reclaimedExpired: this.#reclaimedExpired,
      collectedVersions: this.#collectedVersions,
      pendingGc: this.#gcQueue.length - this.#gcHead,
      memoryBytes: this.#memoryBytes,
      maxMemoryBytes: this.maxMemoryBytes,
      leasesExpired: this.#leasesExpired,
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
   * called. Values stay encoded until first read: the store keeps `encoded`
   * (do not modify it afterwards), and a value that does not decode is a
   * `CorruptionError` when read, not here.
   */
  restore(entries: Iterable<CheckpointEntry>, version: Version): void {
    this.assertOpen('restore');
    if (this.#version !== 0 || this.#primary.size !== 0) throw new InvalidOptionError('restore(): the store must be empty');
    if (!Number.isSafeInteger(version) || version < 0) throw new InvalidOptionError(`restore(): version must be a non-negative integer, got ${String(version)}`);
    for (const entry of entries) {
      if (!(entry.version > 0 && entry.version <= version)) {
        throw new InvalidOptionError(`restore(): entry ${JSON.stringify(entry.key)} has version ${entry.version}, outside 1..${version}`);
      }
      this.#apply(entry.key, VersionNode.loaded(entry.key, entry.version, entry.encoded, entry.run, entry.type, entry.expiresAt), true, this.#primary.get(entry.key));
    }
    this.#version = version;
    // A checkpoint holds only the newest version of each key: nothing before it can be read.
    this.#historyFloor = version;
  }

  /**
   * Replays a committed record (from a WAL or checkpoint) with its own
   * version, which must be above the current one. Listeners are not called.
   * Like {@link restore}, keeps each put's `encoded` bytes and decodes them on first read.
   */
  applyRecord(record: CommitRecord): void {
    this.assertOpen('applyRecord');
    if (!Number.isSafeInteger(record.version) || record.version <= this.#version) {
      throw new InvalidOptionError(`applyRecord(): record.version must be an integer above ${this.#version}, got ${String(record.version)}`);
    }
    const eager = this.#eager();
    for (const op of record.ops) {
      let node: VersionNode;
      if (op.kind === 'put') {
        node = VersionNode.loaded(op.key, record.version, op.encoded, op.run, op.type, op.expiresAt);
      } else {
        node = VersionNode.tombstone(op.key, record.version, op.kind === 'expire');
      }
      this.#apply(op.key, node, eager, this.#primary.get(op.key));
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

  // ---------------------------------------------------------------- internal API for Snapshot and Transaction

  /** @internal Throws {@link DatabaseClosedError} once closed. */
  assertOpen(operation: string): void {
    if (this.#closed) throw new DatabaseClosedError(`${operation}(): the database is closed`);
  }

  /** @internal Validates a put into a pending write. */
  preparePut(key: unknown, value: unknown, options: unknown, what: string, optionsParsed = false): PendingWrite {
    assertKey(key, `${what}: key`, this.maxKeyBytes);
    const parsed = options === undefined ? {} : optionsParsed ? (options as PutOptions) : parseArgument(putOptionsSchema, options, `${what}: options`);
    const prepared = prepareValue(value, this.maxValueBytes, `${what}: value`);
    return { kind: 'put', key, prepared, run: parsed.run, type: parsed.type, ttl: parsed.ttl, expiresAt: parsed.expiresAt, ifVersion: parsed.ifVersion };
  }

  /** @internal Validates a delete into a pending write. */
  prepareDelete(key: unknown, options: unknown, what: string): PendingWrite {
    assertKey(key, `${what}: key`, this.maxKeyBytes);
    const parsed = options === undefined ? {} : parseArgument(deleteOptionsSchema, options, `${what}: options`);
    return { kind: 'delete', key, ifVersion: parsed.ifVersion };
  }

  /** @internal Validates a run or type tag argument. */
  parseTag(tag: unknown, what: string): string {
    return parseArgument(tagSchema, tag, what);
  }

  /**
   * @internal Commits writes atomically in one synchronous step: checks
   * conflicts and `ifVersion`s (throwing before any mutation), takes the next
   * version, applies everything, and hands the record to the listeners.
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
    let bytes = 0;
    // Generous: 3 UTF-8 bytes per UTF-16 unit, plus framing per operation.
    for (const write of last.values()) bytes += this.writeBytes(write);
    if (bytes > MAX_COMMIT_BYTES) {
      throw new InvalidValueError(`commit of ${last.size} operations is about ${bytes} bytes encoded, over the limit of ${MAX_COMMIT_BYTES} bytes for one commit`);
    }
    // The TTL cleaner's own commits (only expiries) are not held to the caller-facing limits.
    const cleaner = writes.every((w) => w.kind === 'expire');
    if (!cleaner && last.size > this.maxTransactionOps) {
      throw new LimitExceededError(`commit of ${last.size} operations is over the limit of ${this.maxTransactionOps} (maxTransactionOps); split it`, 'maxTransactionOps');
    }
    if (!cleaner && bytes > this.maxTransactionBytes) {
      throw new LimitExceededError(`commit of ${last.size} operations is about ${bytes} bytes encoded, over the limit of ${this.maxTransactionBytes} bytes (maxTransactionBytes); split it`, 'maxTransactionBytes');
    }
    if (this.maxMemoryBytes > 0) this.#checkMemoryBudget(last.values());
    if (this.#validators.size > 0) {
      const final = [...last.values()];
      for (const validator of this.#validators) validator(final, now);
    }

    const version = this.#version + 1;
    const eager = this.#eager();
    const logging = this.#serializableStarts.size > 0;
    const changes: KeyChange[] = [];
    const ops: CommitOp[] = [];
    const applied: AppliedChange[] | undefined = this.#applyListeners.size > 0 ? [] : undefined;
    for (const write of last.values()) {
      const before = this.#primary.get(write.key);
      let node: VersionNode;
      let op: CommitOp;
      if (write.kind === 'put') {
        const prepared = write.prepared!;
        const expiresAt = expiryOf(write, now);
        node = VersionNode.value(write.key, version, prepared.stored, prepared.copyOnRead, write.run, write.type, expiresAt, prepared.encoded.byteLength);
        op = { kind: 'put', key: write.key, encoded: prepared.encoded, ...tagsOf(write), ...(expiresAt === undefined ? {} : { expiresAt }) };
      } else {
        if (write.kind === 'expire' && (before === undefined || before.version !== write.seenVersion || !isExpiredAt(before, now))) continue;
        node = VersionNode.tombstone(write.key, version, write.kind === 'expire');
        op = { kind: write.kind, key: write.key };
      }
      // `before` is the current head: no second walk down the tree.
      if (!this.#apply(write.key, node, eager, before)) continue;
      ops.push(Object.freeze(op));
      if (logging) changes.push({ key: write.key, before, after: node });
      if (applied !== undefined) {
        // `node` was just written (its value is at hand); `before` contributes only its tags,
        // so nothing can fail here halfway through the commit.
        applied.push({ key: write.key, kind: write.kind, before: before === undefined || before.tombstone ? undefined : tagsOfNode(before), after: node.tombstone ? undefined : entryOf(node) });
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
   * Refuses a commit whose puts would grow the stored data past
   * `maxMemoryBytes`. Net growth: a put that replaces a version nothing else
   * needs frees that version. Deletes and expiry are never refused.
   */
  #checkMemoryBudget(writes: Iterable<PendingWrite>): void {
    const eager = this.#eager();
    let growth = 0;
    for (const write of writes) {
      if (write.kind !== 'put') continue;
      growth += versionSize(write.key, write.prepared!.encoded.byteLength, write.prepared!.copyOnRead);
      const before = this.#primary.get(write.key);
      if (eager && before !== undefined) growth -= before.size;
    }
    if (growth > 0 && this.#memoryBytes + growth > this.maxMemoryBytes) {
      throw new LimitExceededError(
        `write refused: the database holds about ${this.#memoryBytes} bytes and this commit would add about ${growth}, over the memory budget of ${this.maxMemoryBytes} bytes (maxMemoryBytes); delete data or raise the budget`,
        'maxMemoryBytes',
      );
    }
  }

  /** @internal The estimate `maxTransactionBytes` counts for one buffered write. */
  writeBytes(write: PendingWrite): number {
    return (write.prepared?.encoded.byteLength ?? 0) + 3 * (write.key.length + (write.run?.length ?? 0) + (write.type?.length ?? 0)) + 32;
  }

  // ---------------------------------------------------------------- leases

  /** @internal Registers an open snapshot or transaction for `snapshotLeaseMs`. */
  holdLease(holder: LeaseHolder): void {
    if (this.snapshotLeaseMs > 0) this.#leases.add(holder);
  }

  /** @internal Unregisters it (released, committed or aborted). */
  dropLease(holder: LeaseHolder): void {
    this.#leases.delete(holder);
  }

  /** @internal Whether something opened at `openedAt` has outlived its lease. */
  leaseExpired(openedAt: number): boolean {
    return this.snapshotLeaseMs > 0 && this.clock.now() - openedAt >= this.snapshotLeaseMs;
  }

  /** @internal Counts one lease ended (by the sweep or when its holder was next used). */
  countExpiredLease(): void {
    this.#leasesExpired++;
  }

  /**
   * Ends every snapshot and transaction open longer than `snapshotLeaseMs`,
   * so none can pin version GC forever; using one afterwards throws
   * `LEASE_EXPIRED`. Returns how many were ended. Complexity: O(ended).
   */
  expireLeases(): number {
    let ended = 0;
    for (const holder of this.#leases) {
      if (!this.leaseExpired(holder.openedAt)) break;
      holder.expireLease(); // unregisters itself
      ended++;
    }
    return ended;
  }

  /**
   * @internal A put a collection has already validated (its schema's output),
   * committed alone; resolves to its version once durable.
   */
  putValidated(key: string, value: unknown, options: PutOptions, collection: string): Promise<Version> {
    try {
      const write = { ...this.preparePut(key, value, options, `${collection}.put()`), validatedBy: collection };
      return this.#settle(this.commitWrites([write], undefined, options.sync));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** @internal Resolves `tx.collection(name)`; installed by the database that defines collections. */
  collectionResolver: ((name: string, tx: Transaction) => TxCollectionLike) | undefined;

  /** @internal `tx.collection(name)`. */
  resolveCollection(name: string, tx: Transaction): TxCollectionLike {
    if (this.collectionResolver === undefined) throw new InvalidOptionError(`tx.collection(): no collection named ${JSON.stringify(name)} is defined (db.collection(name, { schema }))`);
    return this.collectionResolver(name, tx);
  }

  /** @internal Called when a snapshot is released. */
  releaseSnapshot(version: Version): void {
    this.#pins.remove(version);
    this.#openSnapshots--;
  }

  /** @internal Called when a transaction commits or aborts. */
  finishTransaction(start: Version, isolation: Isolation): void {
    this.#pins.remove(start);
    this.#openTransactions--;
    if (isolation === 'serializable') {
      this.#serializableStarts.remove(start);
      this.#commitLog.trim(this.#serializableStarts.min());
    }
  }

  /**
   * @internal Checks every structural invariant (for tests): indexes agree
   * with the primary map, counters match, the TTL index covers exactly the
   * newest versions with an expiry. Throws on the first violation.
   */
  checkInvariants(): void {
    let live = 0;
    let stored = 0;
    let bytes = 0;
    let previous: VersionNode | undefined;
    const fail = (message: string): never => {
      throw new Error(`store invariant violated: ${message}`);
    };
    for (const [key, head] of this.#primary.entries()) {
      if (!head.tombstone) live++;
      previous = undefined;
      for (let node: VersionNode | undefined = head; node !== undefined; node = node.prev) {
        stored++;
        bytes += node.size;
        if (previous !== undefined && node.version >= previous.version) fail(`versions of ${key} do not decrease`);
        if (node.version > this.#version) fail(`${key} has version ${node.version} above ${this.#version}`);
        for (const index of ['run', 'type'] as const) {
          const tag = node[index];
          if (tag !== undefined && !this.#indexTree(index).has(tag + INDEX_SEPARATOR + key)) fail(`${index} index lacks ${tag}/${key}`);
        }
        previous = node;
      }
      if (!head.tombstone && head.expiresAt !== undefined && this.#ttlIndex.get(ttlKey(head.expiresAt, key)) !== head.version) {
        fail(`TTL index lacks ${key}`);
      }
    }
    if (live !== this.#liveKeys) fail(`live key count ${this.#liveKeys}, actual ${live}`);
    if (stored !== this.#storedVersions) fail(`stored version count ${this.#storedVersions}, actual ${stored}`);
    if (bytes !== this.#memoryBytes) fail(`memory account ${this.#memoryBytes} bytes, actual ${bytes}`);
    for (const index of ['run', 'type'] as const) {
      for (const [composite] of this.#indexTree(index).entries()) {
        const cut = composite.indexOf(INDEX_SEPARATOR);
        const tag = composite.slice(0, cut);
        const key = composite.slice(cut + 1);
        let found = false;
        for (let node = this.#primary.get(key); node !== undefined && !found; node = node.prev) found = node[index] === tag;
        if (!found) fail(`${index} index has stale entry ${tag}/${key}`);
      }
    }
    for (const [tk, version] of this.#ttlIndex.entries()) {
      const head = this.#primary.get(tk.slice(TTL_TIME_DIGITS + 1));
      if (head === undefined || head.version !== version || head.tombstone) fail(`TTL index has stale entry ${tk}`);
    }
  }

  // ---------------------------------------------------------------- private

  #horizon(): Version {
    const pinned = this.#pins.min();
    const retained = Math.max(this.#version - this.retainVersions, this.#historyFloor);
    return pinned === undefined ? retained : Math.min(pinned, retained);
  }

  /** Nothing older than the newest version can be read: superseded versions can go at once. */
  #eager(): boolean {
    return this.retainVersions === 0 && this.#pins.size === 0;
  }

  #liveNode(key: string, operation: string, what: string): VersionNode | undefined {
    if (this.#closed) this.assertOpen(operation);
    assertKey(key, what, this.maxKeyBytes);
    const node = this.#primary.get(key);
    if (node === undefined || node.tombstone) return undefined;
    // isVisibleAt, reading the clock only for an entry with a TTL.
    return node.expiresAt === undefined || node.expiresAt > this.clock.now() ? node : undefined;
  }

  #liveVersion(key: string, now: number): Version {
    const node = this.#primary.get(key);
    return node !== undefined && isVisibleAt(node, now) ? node.version : 0;
  }

  /** O(1) copy-on-write clones of the trees at the current version, shared by every reader opened at it. */
  #trees(): TreeSet {
    if (this.#cloneCache?.version !== this.#version) {
      this.#cloneCache = {
        version: this.#version,
        trees: { primary: this.#primary.clone(), run: this.#runIndex.clone(), type: this.#typeIndex.clone() },
      };
    }
    return this.#cloneCache.trees;
  }

  #liveView(): ReadView {
    return new ReadView(this.#trees(), this.#version, this.clock.now());
  }

  #liveIndexed(index: IndexName, tag: string, options: ScanOptions | undefined): IterableIterator<Entry> {
    const operation = index === 'run' ? 'byRun' : 'byType';
    this.assertOpen(operation);
    const parsedTag = this.parseTag(tag, `${operation}(): ${index}`);
    const range = parseScanOptions(options, `${operation}(): options`);
    return this.#liveView().indexed(index, parsedTag, range, () => this.assertOpen(operation));
  }

  #openSnapshot(version: Version, leased = true): Snapshot {
    this.#pins.add(version);
    this.#openSnapshots++;
    return new Snapshot(this, new ReadView(this.#trees(), version, this.clock.now()), leased);
  }

  /**
   * @internal A snapshot without a lease, for the database's own long reads
   * (a backup or checkpoint streamed from memory): they end it themselves.
   */
  snapshotForExport(): Snapshot {
    this.assertOpen('snapshot');
    return this.#openSnapshot(this.#version, false);
  }

  #openTransaction(isolation: Isolation, sync: SyncMode | undefined): Transaction {
    const start = this.#version;
    this.#pins.add(start);
    this.#openTransactions++;
    if (isolation === 'serializable') this.#serializableStarts.add(start);
    return new Transaction(this, new ReadView(this.#trees(), start, this.clock.now()), isolation, sync);
  }

  #settle(committed: Committed): Promise<Version> {
    return committed.durable === undefined ? Promise.resolve(committed.version) : committed.durable.then(() => committed.version);
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
    const changed = (key: string): boolean => changedSince(this.#primary.get(key), check.start, check.now);
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

  /**
   * Makes `node` the newest version of `key` (whose head is now `old`),
   * keeping the indexes and counters exact. Returns false (and changes nothing) for a delete of a key
   * that does not exist.
   */
  #apply(key: string, node: VersionNode, eager: boolean, old: VersionNode | undefined): boolean {
    const wasLive = old !== undefined && !old.tombstone;
    if (node.tombstone && !wasLive) return false;
    if (!wasLive && !node.tombstone) this.#liveKeys++;
    if (wasLive && node.tombstone) this.#liveKeys--;
    if (wasLive && old.expiresAt !== undefined) this.#ttlIndex.delete(ttlKey(old.expiresAt, key));
    if (!node.tombstone && node.expiresAt !== undefined) this.#ttlIndex.set(ttlKey(node.expiresAt, key), node.version);
    if (node.run !== undefined && old?.run !== node.run) this.#runIndex.set(node.run + INDEX_SEPARATOR + key, true);
    if (node.type !== undefined && old?.type !== node.type) this.#typeIndex.set(node.type + INDEX_SEPARATOR + key, true);
    this.#storedVersions++;
    this.#memoryBytes += node.size;
    if (eager) {
      if (node.tombstone) {
        this.#primary.delete(key);
        this.#storedVersions--;
        this.#memoryBytes -= node.size;
      } else {
        this.#primary.set(key, node);
      }
      if (old !== undefined) this.#drop(key, old, node.tombstone ? undefined : node);
    } else {
      node.prev = old;
      this.#primary.set(key, node);
      if (old !== undefined) this.#gcQueue.push({ key, node });
    }
    return true;
  }

  /** Cuts the versions of `key` older than `version` once the horizon has passed it; drops a tombstone nobody needs. */
  #collectBelow(key: string, node: VersionNode, horizon: Version): void {
    // The queue holds the node itself: cutting below it is O(1), not a walk down from the head.
    const head = this.#primary.get(key);
    const cut = node.prev;
    if (!node.detached && cut !== undefined) {
      node.prev = undefined;
      this.#drop(key, cut, head);
    }
    if (head !== undefined && head.tombstone && head.prev === undefined && head.version <= horizon) {
      this.#primary.delete(key);
      head.detached = true;
      this.#storedVersions--;
      this.#memoryBytes -= head.size;
      this.#collectedVersions++;
    }
  }

  /**
   * Accounts for a detached chain starting at `dropped` and removes the index
   * entries that no version still reachable from `kept` uses.
   */
  #drop(key: string, dropped: VersionNode, kept: VersionNode | undefined): void {
    let count = 0;
    for (let node: VersionNode | undefined = dropped; node !== undefined; node = node.prev) {
      node.detached = true;
      this.#memoryBytes -= node.size;
      count++;
    }
    this.#storedVersions -= count;
    this.#collectedVersions += count;
    for (const index of ['run', 'type'] as const) {
      for (let node: VersionNode | undefined = dropped; node !== undefined; node = node.prev) {
        const tag = node[index];
        if (tag === undefined || chainHasTag(kept, index, tag)) continue;
        this.#indexTree(index).delete(tag + INDEX_SEPARATOR + key);
      }
    }
  }

  #indexTree(index: IndexName): BTree<string, true> {
    return index === 'run' ? this.#runIndex : this.#typeIndex;
  }
}

function chainHasTag(head: VersionNode | undefined, index: IndexName, tag: string): boolean {
  for (let node = head; node !== undefined; node = node.prev) if (node[index] === tag) return true;
  return false;
}

function tagsOf(write: PendingWrite): { run?: string; type?: string } {
  const tags: { run?: string; type?: string } = {};
  if (write.run !== undefined) tags.run = write.run;
  if (write.type !== undefined) tags.type = write.type;
  return tags;
}

/** The run and type tags of a version, without its value. */
function tagsOfNode(node: VersionNode): { run?: string; type?: string } {
  const tags: { run?: string; type?: string } = {};
  if (node.run !== undefined) tags.run = node.run;
  if (node.type !== undefined) tags.type = node.type;
  return tags;
}
