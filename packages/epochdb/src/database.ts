import { DatabaseClosedError, DatabaseFailedError, InvalidOptionError, type Entry, type OpenOptionsParsed, type RecoveryEvent, type Version } from '@epochdb/core';
import { verifyDirectory, writeBackup, type Persistence, type PersistenceStats, type VerifyReport } from '@epochdb/persist';
import { WorkerPool } from '@epochdb/workers';
import {
  type MvccStore,
  type BatchOp,
  type BatchOptions,
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

/** Everything `db.stats()` reports (the persistence counters are zero for a memory-only database). */
export type DatabaseStats = StoreStats &
  MaintenanceStats &
  PersistenceStats & {
    /** Automatic checkpoints that failed (the WAL stays authoritative; the next attempt waits for another `checkpointWalBytes`). */
    readonly checkpointErrors: number;
    readonly lastCheckpointError: string | undefined;
    readonly persistent: boolean;
    /** Background tasks run on the worker pool (or inline), and how many failed. */
    readonly tasksRun: number;
    readonly tasksFailed: number;
    readonly workers: number;
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

const NO_PERSISTENCE: PersistenceStats = Object.freeze({ walBytesSinceCheckpoint: 0, walSyncs: 0, checkpoints: 0, lastCheckpointVersion: 0, lastCheckpointMs: 0 });

/**
 * An open EpochDB database. Reads are synchronous and see the newest
 * committed state; writes resolve to their commit version. Get one with
 * {@link open}; close it with {@link Database.close} or `await using`.
 */
export class Database implements ReadApi, AsyncDisposable {
  readonly #store: MvccStore;
  readonly #maintenance: Maintenance;
  readonly #persistence: Persistence | undefined;
  readonly #options: OpenOptionsParsed;
  readonly #recovery: RecoveryReport | undefined;
  #closing: Promise<void> | undefined;
  #checkpointErrors = 0;
  #lastCheckpointError: string | undefined;
  #autoCheckpoint: Promise<void> | undefined;
  readonly #pool: WorkerPool;

  /** @internal Use {@link open}. */
  constructor(store: MvccStore, options: OpenOptionsParsed, persistence?: Persistence, recovery?: RecoveryReport) {
    this.#store = store;
    this.#options = options;
    this.#persistence = persistence;
    this.#recovery = recovery;
    store.setCommitGate(() => this.#checkWritable());
    if (persistence !== undefined) {
      store.onCommit((record, context) => {
        const durable = persistence.append(record, context.sync);
        if (persistence.checkpointDue && this.#autoCheckpoint === undefined) {
          this.#autoCheckpoint = this.checkpoint()
            .catch((error: unknown) => {
              this.#checkpointErrors++;
              this.#lastCheckpointError = error instanceof Error ? error.message : String(error);
              persistence.checkpointFailed();
            })
            .finally(() => (this.#autoCheckpoint = undefined));
        }
        return durable;
      });
    }
    this.#maintenance = new Maintenance(store, options.maintenance);
    this.#maintenance.start();
    // Started lazily by the first task. (With a custom fileSystem, file work runs
    // inline through it: a worker thread could not use it.)
    this.#pool = new WorkerPool({ workers: options.workers });
  }

  /** Whether the database persists to a directory (`open({ dir })`). */
  get persistent(): boolean {
    return this.#persistence !== undefined;
  }

  /** What recovery found when a persistent database was opened (`undefined` for memory-only). */
  get recovery(): RecoveryReport | undefined {
    return this.#recovery;
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
  batch(ops: readonly BatchOp[], options?: BatchOptions): Promise<Version> {
    return this.#store.batch(ops, options);
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

  /** Counters: keys, versions, snapshots, TTL and GC work, maintenance passes, WAL and checkpoints. */
  stats(): DatabaseStats {
    return Object.freeze({
      ...this.#store.stats(),
      ...this.#maintenance.stats(),
      ...(this.#persistence?.stats() ?? NO_PERSISTENCE),
      ...this.#pool.stats(),
      checkpointErrors: this.#checkpointErrors,
      lastCheckpointError: this.#lastCheckpointError,
      persistent: this.#persistence !== undefined,
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
   * Writes the current state as a checkpoint file and deletes the WAL
   * segments and checkpoints it makes redundant. Runs by itself when the WAL
   * passes `checkpointWalBytes` and on close. A no-op for a memory-only
   * database.
   */
  async checkpoint(): Promise<void> {
    this.#store.assertOpen('checkpoint');
    if (this.#persistence !== undefined) await this.#checkpointWith(this.#persistence);
  }

  /**
   * Checkpoints a snapshot of now, streamed in chunks that yield to the event
   * loop; the snapshot pins its version until the file is written. (The file
   * merge on a worker, `Persistence.checkpointFromWal` with the pool's
   * `checkpoint` task, is built and tested but not yet the default: see the
   * worker issue.)
   */
  async #checkpointWith(persistence: Persistence): Promise<void> {
    const snapshot = this.#store.snapshot();
    try {
      await persistence.checkpoint(snapshot.version, snapshot.exportEntries());
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
    const snapshot = this.#store.snapshot();
    try {
      await writeBackup(destDir, snapshot.version, snapshot.exportEntries(), this.#options.fileSystem);
    } finally {
      snapshot.release();
    }
  }

  /**
   * Stops background maintenance, refuses new writes, writes a final
   * checkpoint (unless `checkpointOnClose: false` or the database failed),
   * flushes the WAL, releases the directory lock and closes the database.
   * Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#maintenance.stop();
    try {
      const persistence = this.#persistence;
      if (persistence !== undefined) {
        if (this.#autoCheckpoint !== undefined) await this.#autoCheckpoint;
        try {
          if (this.#options.checkpointOnClose && persistence.failed === undefined) await this.#checkpointWith(persistence);
        } finally {
          await persistence.close();
        }
      }
    } finally {
      await this.#pool.close().catch(() => undefined);
      this.#store.close();
    }
  }

  #checkWritable(): void {
    if (this.#closing !== undefined) throw new DatabaseClosedError('the database is closing: no more writes');
    const failed = this.#persistence?.failed;
    if (failed !== undefined) throw new DatabaseFailedError(`the database is read-only after a failed write: ${failed.message}`, { cause: failed });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
