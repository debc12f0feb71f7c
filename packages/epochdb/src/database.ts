import { DatabaseClosedError, DatabaseFailedError, InvalidOptionError, IoError, ReadOnlyError, VersionUnavailableError, type CommitRecord, type OpenOptionsParsed, type RecoveryEvent, type Version } from '@epochdb/core';
import { verifyDirectory, writeBackup, type Persistence, type PersistenceStats, type VerifyReport } from '@epochdb/persist';
import { WorkerPool, type WorkerPoolStats } from '@epochdb/workers';
import type { ShippingStats } from '@epochdb/replicate/api';
import {
  type ApplyListener,
  type MvccStore,
  type BatchOp,
  type BatchOptions,
  type DeleteOptions,
  type PutOptions,
  type ReadApi,
  type Snapshot,
  type StoreStats,
  type Transaction as StoreTransaction,
  type TransactionOptions,
} from '@epochdb/store';
import { CheckpointScheduler, type CheckpointStats } from './checkpoint-scheduler.js';
import { Maintenance, type MaintenanceStats } from './maintenance.js';
import type { FollowStats, WalFollower } from './wal-follower.js';
import { appliedChangesOf, ChangeStream, RecentCommits, type ChangeSource, type WatchOptions } from './watch.js';
import type { Collection } from './collection.js';
import type { CollectionOptions } from './collection-types.js';
import { IndexDefinitions } from './index-definitions.js';
import { CollectionRegistry } from './collection-registry.js';
import { historyGone } from './history-gone.js';
import { commitHistory } from './commit-history.js';
import { DatabaseReads } from './database-reads.js';
import { transactionClassFor, type Transaction } from './database-transaction.js';
import type { StandardSchema } from './standard-schema.js';

/** Everything `db.stats()` reports (the persistence counters are zero for a memory-only database). */
export type DatabaseStats = StoreStats &
  MaintenanceStats &
  PersistenceStats &
  WorkerPoolStats &
  FollowStats &
  CheckpointStats & {
    /**
     * Why the database is read-only, if a WAL write or fdatasync failed (then
     * writes reject `FAILED`; what was acknowledged but not yet fdatasync'ed may
     * not be durable, even after `close()`). `undefined` while healthy.
     */
    readonly failure: string | undefined;
    readonly persistent: boolean;
    /** Opened with `readOnly: true` (writes reject `READ_ONLY`). */
    readonly readOnly: boolean;
    /** A replicating primary's shipping: shipped version, backlog, connection, and why nothing ships if NATS refuses it (`undefined` without `replicate`). */
    readonly replication: ShippingStats | undefined;
  };

/** What opening a persistent directory found and did. */
export interface RecoveryReport {
  /** The checkpoint loaded (0: none). */
  readonly checkpointVersion: Version;
  readonly checkpointEntries: number;
  /** WAL records replayed after the checkpoint. */
  readonly replayedRecords: number;
  /** Torn tails truncated, checkpoint fallbacks, files moved aside (progress goes only to `onRecoveryEvent`). */
  readonly events: readonly RecoveryEvent[];
}

const NO_PERSISTENCE: PersistenceStats = Object.freeze({ walBytesSinceCheckpoint: 0, walSyncs: 0, checkpoints: 0, lastCheckpointVersion: 0, lastCheckpointMs: 0, bytesReclaimed: 0, checkpointing: false });
const NOT_FOLLOWING: FollowStats = Object.freeze({ followedRecords: 0, followedCheckpoints: 0, followErrors: 0, lastFollowError: undefined });
const NO_CHECKPOINTS: CheckpointStats = Object.freeze({ checkpointErrors: 0, lastCheckpointError: undefined, checkpointRetries: 0 });

/** Operations of recent commits kept in memory for change streams that resume; older history comes from the WAL. */
const RECENT_OPS = 10_000;


/**
 * @internal The worker pool behind `db`, for tests that crash its workers.
 * Not exported from the package.
 */
export function workerPoolOf(db: Database): WorkerPool {
  return poolOf.get(db)!;
}
const poolOf = new WeakMap<Database, WorkerPool>();

/**
 * An open EpochDB database. Reads are synchronous and see the newest
 * committed state; writes resolve to their commit version. Get one with
 * {@link open}; close it with {@link Database.close} or `await using`.
 */
export class Database extends DatabaseReads implements ReadApi, AsyncDisposable {
  readonly #store: MvccStore;
  readonly #maintenance: Maintenance;
  readonly #persistence: Persistence | undefined;
  readonly #options: OpenOptionsParsed;
  readonly #recovery: RecoveryReport | undefined;
  #closing: Promise<void> | undefined;
  #checkpoints: CheckpointScheduler | undefined;
  #follower: WalFollower | undefined;
  readonly #pool: WorkerPool;
  /** Recent commits kept for change streams that resume (`watch({ fromVersion })`). */
  readonly #recent = new RecentCommits(RECENT_OPS);
  readonly #streams = new Set<ChangeStream>();
  readonly #collections: CollectionRegistry;
  /** Persisted index definitions, kept in the metadata entry (the empty key, which no read path shows). */
  readonly #definitions: IndexDefinitions;
  /** Change listeners (change streams, collections), also fed by {@link Database.applyReplicated}. */
  readonly #applyListeners = new Set<ApplyListener>();
  /** Extra write checks (a replica refuses every write; a fenced primary too). */
  readonly #writeGates: (() => void)[] = [];
  readonly #checkpointListeners: ((version: Version) => Promise<void> | void)[] = [];
  readonly #closeHooks: (() => Promise<void>)[] = [];
  #replicationStats: (() => ShippingStats) | undefined;

  /** Not for direct use: {@link open} makes databases. */
  constructor(store: MvccStore, options: OpenOptionsParsed, persistence?: Persistence, recovery?: RecoveryReport) {
    super(store);
    this.#store = store;
    this.#options = options;
    this.#persistence = persistence;
    this.#recovery = recovery;
    this.#definitions = new IndexDefinitions(store, () => this.#persistence !== undefined && !this.#options.readOnly);
    this.#collections = new CollectionRegistry(store, this.#definitions, {
      live: this,
      watch: (options) => this.watch(options),
      onApply: (listener) => this.#onApply(listener),
    });
    store.setCommitGate(() => this.#checkWritable());
    // The store opens our transactions: with `tx.collection()` for this database's collections.
    store.transactionClass = transactionClassFor((name) => this.#collections.get(name));
    store.onCommit((record) => {
      this.#recent.add(record);
      return undefined;
    });
    // Started lazily by the first task. (With a custom fileSystem, file work runs
    // inline through it: a worker thread could not use it.)
    this.#pool = new WorkerPool({ workers: options.workers });
    const pool = this.#pool;
    if (persistence !== undefined) {
      const checkpoints = new CheckpointScheduler(persistence, {
        pool,
        fileSystem: options.fileSystem,
        now: () => store.clock.now(),
        retryMs: options.maintenance.checkpointRetryMs,
        checkpointed: () => this.#checkpointed(persistence),
      });
      this.#checkpoints = checkpoints;
      store.onCommit((record, context) => {
        const durable = persistence.append(record, context.sync);
        checkpoints.committed();
        return durable;
      });
    }
    // Read-only, the TTL cleaner could not commit its expire deletes (expired entries are invisible anyway).
    this.#maintenance = new Maintenance(store, options.maintenance, async (sources, target) => (await pool.run('gatherRanges', { sources, target })).ms, !options.readOnly);
    this.#maintenance.start();
    poolOf.set(this, this.#pool);
  }

  /** Whether the database persists to a directory (`open({ dir })`), also when opened `readOnly`. */
  get persistent(): boolean {
    return this.#options.dir !== undefined;
  }

  /** Whether the database was opened with `readOnly: true`: it reads a directory and never writes. */
  get readOnly(): boolean {
    return this.#options.readOnly;
  }

  /** @internal Follows the writer's WAL (`follow: true`) until close. */
  attachFollower(follower: WalFollower): void {
    this.#follower = follower;
    follower.start();
  }

  /** What recovery found when a persistent database was opened (`undefined` for memory-only). */
  get recovery(): RecoveryReport | undefined {
    return this.#recovery;
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
  batch(ops: readonly BatchOp[], options?: BatchOptions): Promise<Version> {
    return this.#store.batch(ops, options);
  }

  /** A read-only view of the past at `version` (not older than {@link Database.oldestVersion}). */
  snapshotAt(version: Version): Snapshot {
    if (typeof version !== 'number') {
      // Quoted, so that '3' does not read as 3.
      throw new InvalidOptionError(`snapshotAt(): version must be a non-negative integer, got ${typeof version === 'string' ? JSON.stringify(version) : typeof version}`);
    }
    try {
      return this.#store.snapshotAt(version);
    } catch (error) {
      if (!(error instanceof VersionUnavailableError) || version > this.#store.version) throw error;
      throw historyGone(version, { oldest: this.#store.oldestVersion, newest: this.#store.version, retainVersions: this.#options.retainVersions, openedFrom: this.#recovery?.checkpointVersion ?? 0 }, error);
    }
  }

  /** Starts a transaction by hand: finish it with `tx.commit()` or `tx.abort()`. */
  begin(options?: TransactionOptions): Transaction {
    return this.#store.begin(options) as Transaction;
  }

  /**
   * Runs `fn` in a transaction and commits it, re-running it on conflicts up
   * to `retries` times. Resolves to what `fn` returned.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactionOptions): Promise<T> {
    // The store opens this database's transaction class (see the constructor): every tx it hands `fn` is ours.
    return this.#store.transaction(fn as (tx: StoreTransaction) => Promise<T> | T, options);
  }

  /**
   * A change feed: an async iterator of every committed change (put, delete,
   * expiry) in version order, a whole commit's changes together, filtered by
   * `prefix`, `run` and `type`. With `fromVersion` it first replays what
   * happened after that version (from memory or the WAL; `VERSION_UNAVAILABLE`
   * if no longer retained). A slow consumer never blocks writers: past
   * `bufferSize` the stream ends with `WATCH_OVERFLOW`, naming the version
   * to resume from. `break` (or `stream.close()`) releases it; `close()` of
   * the database ends it.
   *
   * @example
   * for await (const change of db.watch({ prefix: 'user:' })) console.log(change.version, change.kind, change.key);
   */
  watch(options?: WatchOptions): ChangeStream {
    this.#store.assertOpen('watch');
    const stream = new ChangeStream(this.#changeSource, options);
    this.#streams.add(stream);
    return stream;
  }

  get #changeSource(): ChangeSource {
    const store = this.#store;
    return {
      get version(): number {
        return store.version;
      },
      history: { read: (after, upTo) => commitHistory({ recent: this.#recent, persistence: this.#persistence, dir: this.#options.dir, fileSystem: this.#options.fileSystem }, after, upTo) },
      codec: store.codec,
      subscribe: (listener) => this.#onApply((version, _time, changes) => listener(version, changes)),
      ended: (stream) => this.#streams.delete(stream),
    };
  }

  /**
   * A typed collection: the entries whose type tag is `name`, validated on
   * every write by `schema` — any Standard Schema validator: zod ≥ 3.24,
   * valibot ≥ 1, arktype ≥ 2 (errors name the field) — and read back with
   * the schema's TypeScript type. Defining it again with the same
   * schema (or none) returns the same collection.
   *
   * @example
   * const users = db.collection('user', { schema: z.object({ name: z.string(), email: z.string().email() }) });
   * await users.put('user:1', { name: 'Ada', email: 'ada@example.com' });
   * users.createIndex('byEmail', (u) => u.email, { unique: true });
   * users.index('byEmail').get('ada@example.com'); // [{ key: 'user:1', value: { name: 'Ada', ... }, ... }]
   */
  collection<S extends StandardSchema>(name: string, options: CollectionOptions<S>): Collection<S>;
  collection(name: string): Collection;
  collection<S extends StandardSchema>(name: string, options?: CollectionOptions<S>): Collection<S> {
    this.#store.assertOpen('collection');
    return this.#collections.define(name, options);
  }

  /** Registers a change listener with the store and for replicated records alike. */
  #onApply(listener: ApplyListener): () => void {
    const off = this.#store.onApply(listener);
    this.#applyListeners.add(listener);
    return () => {
      off();
      this.#applyListeners.delete(listener);
    };
  }

  /**
   * @internal Applies a commit record made by another database (a replica
   * following its primary): in memory with its own version, to the WAL if
   * persistent, and to change streams and collection indexes. Resolves when
   * it is as durable as the database's sync mode makes it.
   */
  applyReplicated(record: CommitRecord): Promise<void> | undefined {
    const listening = this.#applyListeners.size > 0;
    const before = listening ? record.ops.map((op) => this.#store.getEntry(op.key)) : [];
    this.#store.applyRecord(record);
    this.#recent.add(record);
    const durable = this.#persistence?.append(record, undefined);
    if (listening && record.ops.length > 0) {
      const changes = appliedChangesOf(record, before, this.#store.codec);
      for (const listener of this.#applyListeners) listener(record.version, record.time, changes);
    }
    this.#checkpoints?.committed();
    return durable;
  }

  /**
   * @internal Applies `record`, the difference to a state whose commits were
   * not read one by one (a followed writer pruned them): change streams end
   * with `VERSION_UNAVAILABLE` after what they hold, and resuming from before
   * it is refused, since those commits are gone.
   */
  applySkipped(record: CommitRecord): void {
    const from = this.#store.version;
    const gone = new VersionUnavailableError(
      `watch(): commits ${from + 1} to ${record.version} were checkpointed and pruned by the writer before this follower read them; the stream ended after version ${from}: watch again (history from version ${record.version} on)`,
    );
    for (const stream of this.#streams) stream.interrupted(gone);
    this.applyReplicated(record);
    // The difference is no commit a stream may replay.
    this.#recent.clear();
  }

  /** @internal Keeps WAL records above `floor()` through checkpoints (replication's unshipped backlog). */
  retainWalAbove(floor: () => Version): void {
    this.#persistence?.retainWalAbove(floor);
  }

  /** @internal Adds a check run before every write; throwing refuses it (replicas, fenced primaries). */
  addWriteGate(gate: () => void): void {
    this.#writeGates.push(gate);
  }

  /** @internal Calls `listener` with the version of every checkpoint written from now on; the checkpoint waits for it. */
  onCheckpoint(listener: (version: Version) => Promise<void> | void): void {
    this.#checkpointListeners.push(listener);
  }

  /** @internal Where {@link Database.stats} gets `replication` from (a replicating primary's shipper). */
  setReplicationStats(stats: () => ShippingStats): void {
    this.#replicationStats = stats;
  }

  /** @internal Runs `hook` at the start of {@link Database.close}, before the final checkpoint. */
  onClose(hook: () => Promise<void>): void {
    this.#closeHooks.push(hook);
  }

  /** Counters: keys, versions, snapshots, TTL and GC work, maintenance passes, WAL and checkpoints. */
  stats(): DatabaseStats {
    const store = this.#store.stats();
    return Object.freeze({
      ...store,
      // The database's own metadata entry (index definitions) is not the user's data.
      keys: store.keys - (this.#store.metadataEntry() === undefined ? 0 : 1),
      ...this.#maintenance.stats(),
      ...(this.#persistence?.stats() ?? NO_PERSISTENCE),
      ...this.#pool.stats(),
      ...(this.#follower?.stats() ?? NOT_FOLLOWING),
      ...(this.#checkpoints?.stats() ?? NO_CHECKPOINTS),
      failure: this.#persistence?.failed?.message,
      persistent: this.persistent,
      readOnly: this.#options.readOnly,
      replication: this.#replicationStats?.(),
    });
  }

  /**
   * Resolves when every commit made so far is on disk (fdatasync'ed),
   * whatever its sync mode. Resolves at once for a memory-only database.
   */
  async flushed(): Promise<void> {
    this.#store.assertOpen('flushed');
    await this.#persistence?.flushed();
  }

  /**
   * Checkpoints everything committed so far, and deletes the WAL segments and
   * checkpoints the new one makes redundant. A worker thread builds the file
   * from files alone: the previous checkpoint merged with the WAL (deletes,
   * overwrites and entries expired by now dropped), checksummed, fsync'ed
   * and renamed into place; the main thread only rotates the WAL, hands over
   * a plan of file names and versions, and prunes when the worker is done.
   * Runs by itself when the WAL passes `checkpointWalBytes` and on close. A
   * no-op for a memory-only database.
   */
  async checkpoint(): Promise<void> {
    this.#store.assertOpen('checkpoint');
    if (this.#options.readOnly) throw new ReadOnlyError('checkpoint(): the database was opened with readOnly: true; the process that holds the directory checkpoints it');
    await this.#checkpoints?.checkpoint();
  }

  async #checkpointed(persistence: Persistence): Promise<void> {
    const version = persistence.stats().lastCheckpointVersion;
    for (const listener of this.#checkpointListeners) await listener(version);
  }

  /**
   * @internal Checkpoints a snapshot of the in-memory state, streamed in
   * chunks that yield to the event loop. For where the files alone are not
   * the state: right after a salvage or a checkpoint fallback at open.
   */
  async checkpointFromMemory(): Promise<void> {
    this.#store.assertOpen('checkpoint');
    const persistence = this.#persistence;
    if (persistence === undefined) return;
    const snapshot = this.#store.snapshotForExport();
    try {
      await persistence.checkpoint(snapshot.version, snapshot.exportEntries(), this.#store.codec.table());
      await this.#checkpointed(persistence);
    } finally {
      snapshot.release();
    }
  }

  /**
   * Checks every checksum, header and footer of every file of the database
   * directory on a worker thread (the event loop stays free), changing
   * nothing, and reports per file what verified and the first damage found.
   * A memory-only database has nothing to verify (an empty, ok report).
   */
  async verify(): Promise<VerifyReport> {
    this.#store.assertOpen('verify');
    const dir = this.#options.dir;
    if (dir === undefined) return { ok: true, files: [], checkpoints: 0, segments: 0, entries: 0, records: 0 };
    if (this.#options.fileSystem !== undefined) return verifyDirectory(this.#options.fileSystem, dir);
    const { threadId: _threadId, ...report } = await this.#pool.run('verify', { dir });
    return report;
  }

  /**
   * Writes a consistent copy of the database, as of now, to `destDir` (which
   * must not exist or be empty), while writes continue. `open({ dir: destDir })`
   * opens it as a normal database. Works for memory-only databases too.
   */
  async backup(destDir: string): Promise<void> {
    this.#store.assertOpen('backup');
    if (typeof destDir !== 'string' || destDir.length === 0) {
      throw new InvalidOptionError('backup(): destDir must be a non-empty path');
    }
    const snapshot = this.#store.snapshotForExport();
    try {
      await writeBackup(destDir, snapshot.version, snapshot.exportEntries(), this.#store.codec.table(), this.#options.fileSystem);
    } finally {
      snapshot.release();
    }
  }

  /**
   * Stops background maintenance, refuses new writes, writes a final
   * checkpoint (as `checkpointOnClose` says; never after a failure),
   * flushes the WAL, releases the directory lock and closes the database.
   * Without a final checkpoint, an automatic one still running is cancelled
   * and the flushed WAL is replayed by the next open. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const hook of this.#closeHooks) await hook().catch(() => undefined);
    this.#maintenance.stop();
    // An automatic checkpoint still being built on a worker is cancelled: a closing checkpoint covers
    // everything it would, and without one the WAL stays authoritative (a full rewrite took a minute at 10M keys).
    const checkpointing = this.#checkpoints?.stop(true);
    await this.#follower?.stop();
    for (const stream of this.#streams) stream.databaseClosed();
    this.#streams.clear();
    try {
      const persistence = this.#persistence;
      if (persistence !== undefined) {
        const healthy = persistence.failed === undefined;
        const mode = this.#options.checkpointOnClose;
        const final = (): boolean => persistence.failed === undefined && (mode === true || (mode === 'auto' && persistence.closingCheckpointWorthIt));
        await checkpointing;
        try {
          if (healthy && final()) await this.#checkpoints!.checkpoint();
        } finally {
          await persistence.close();
        }
        // The WAL failed while closing (a running checkpoint's fdatasync, say): what was
        // acknowledged but not yet synced may not be durable, so this is no clean close.
        const failed = persistence.failed;
        if (healthy && failed !== undefined) throw new IoError(`close(): the write-ahead log failed while closing, so not everything acknowledged may be durable: ${failed.message}`, { cause: failed });
      }
    } finally {
      await this.#pool.close().catch(() => undefined);
      this.#store.close();
    }
  }

  #checkWritable(): void {
    if (this.#options.readOnly) throw new ReadOnlyError(`the database was opened with readOnly: true (${this.#options.dir}): writes are refused`);
    if (this.#closing !== undefined) throw new DatabaseClosedError('the database is closing: no more writes');
    const failed = this.#persistence?.failed;
    if (failed !== undefined) throw new DatabaseFailedError(`the database is read-only after a failed write: ${failed.message}`, { cause: failed });
    for (const gate of this.#writeGates) gate();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
