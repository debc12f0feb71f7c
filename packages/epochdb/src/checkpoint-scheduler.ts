import { DatabaseClosedError } from '@epochdb/core';
import { buildCheckpoint, type CheckpointPlan, type CheckpointWritten, type FileSystem, type Persistence } from '@epochdb/persist';
import type { WorkerPool } from '@epochdb/workers';

/** Counters of the automatic checkpoints (part of `db.stats()`). */
export interface CheckpointStats {
  /**
   * Automatic checkpoints that failed. The WAL stays authoritative; the next
   * attempt comes after `maintenance.checkpointRetryMs` (doubling) or another
   * `checkpointWalBytes` of WAL, whichever is first.
   */
  readonly checkpointErrors: number;
  readonly lastCheckpointError: string | undefined;
  /** Automatic checkpoints started again by the retry timer after a failure. */
  readonly checkpointRetries: number;
}

/** Options of {@link CheckpointScheduler}. */
export interface CheckpointSchedulerOptions {
  /** Where checkpoints are built: the worker pool, unless a custom file system (which a worker thread cannot reach) makes it inline. */
  readonly pool: WorkerPool;
  readonly fileSystem: FileSystem | undefined;
  /** The clock's time, for the entries a checkpoint leaves out as expired. */
  readonly now: () => number;
  /** First retry delay after a failed automatic checkpoint, in ms (doubling, at most {@link MAX_CHECKPOINT_RETRY_MS}). */
  readonly retryMs: number;
  /** Called after every checkpoint written from files; the checkpoint resolves once it has. */
  readonly checkpointed?: () => Promise<void>;
}

/** The longest wait between two retries of a failed automatic checkpoint. */
export const MAX_CHECKPOINT_RETRY_MS = 60_000;

/**
 * When a persistent database checkpoints, beside {@link Maintenance} (which
 * does TTL and GC): automatically once the WAL since the last checkpoint
 * passes `checkpointWalBytes`, on request, and again after a failure, on a
 * timer that doubles its delay, so that an idle database does not keep a
 * large WAL because of one crashed worker. The build runs on a worker (or
 * inline with a custom file system); one automatic checkpoint at a time.
 */
export class CheckpointScheduler {
  readonly #persistence: Persistence;
  readonly #options: CheckpointSchedulerOptions;
  #errors = 0;
  #lastError: string | undefined;
  #retries = 0;
  /** Cancels the automatic checkpoint running, if any. */
  #abort: AbortController | undefined;
  /** Automatic checkpoints failed in a row: the retry delay doubles with each. */
  #failuresInRow = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(persistence: Persistence, options: CheckpointSchedulerOptions) {
    this.#persistence = persistence;
    this.#options = options;
  }

  /** After a commit was appended to the WAL: starts an automatic checkpoint if one is due. */
  committed(): void {
    if (this.#persistence.checkpointDue) this.#startAutomatic();
  }

  /**
   * Checkpoints everything committed so far, now (from the files: see
   * `Persistence.checkpointFromWal`). `signal` cancels a build running on a
   * worker (it rejects with `DatabaseClosedError`; the WAL stays authoritative).
   */
  async checkpoint(signal?: AbortSignal): Promise<void> {
    const fileSystem = this.#options.fileSystem;
    const build =
      fileSystem !== undefined
        ? (plan: CheckpointPlan): Promise<CheckpointWritten> => buildCheckpoint(fileSystem, plan)
        : async (plan: CheckpointPlan): Promise<CheckpointWritten> => {
            const { threadId: _threadId, ...written } = await this.#options.pool.run('checkpoint', plan, signal);
            return written;
          };
    await this.#persistence.checkpointFromWal(this.#options.now(), build);
    await this.#options.checkpointed?.();
  }

  /**
   * Starts no more automatic checkpoints or retries (at once), and resolves
   * when the one running, if any, has finished. `cancel`: a running
   * automatic checkpoint's worker is stopped instead of waited for.
   */
  stop(cancel = false): Promise<void> {
    this.#stopped = true;
    if (cancel) this.#abort?.abort();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    return this.#running ?? Promise.resolve();
  }

  stats(): CheckpointStats {
    return { checkpointErrors: this.#errors, lastCheckpointError: this.#lastError, checkpointRetries: this.#retries };
  }

  /** Starts an automatic checkpoint unless one runs; a failure schedules a retry. */
  #startAutomatic(): void {
    if (this.#running !== undefined || this.#stopped) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.#running = this.checkpoint(abort.signal)
      .then(() => {
        this.#failuresInRow = 0;
      })
      .catch((error: unknown) => {
        // Cancelled by close() (which then leaves the WAL to the next open): no failure.
        if (this.#stopped && error instanceof DatabaseClosedError) return;
        this.#errors++;
        this.#failuresInRow++;
        this.#lastError = error instanceof Error ? error.message : String(error);
        this.#persistence.checkpointFailed();
        this.#scheduleRetry();
      })
      .finally(() => {
        this.#running = undefined;
        this.#abort = undefined;
      });
  }

  /**
   * After a failed automatic checkpoint, tries again once `retryMs` (doubling
   * with each failure in a row, at most 60 s) have passed, even if nothing
   * more is written.
   */
  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#stopped) return;
    const delay = Math.min(this.#options.retryMs * 2 ** (this.#failuresInRow - 1), MAX_CHECKPOINT_RETRY_MS);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#stopped || this.#persistence.failed !== undefined) return;
      this.#retries++;
      this.#startAutomatic();
    }, delay).unref();
  }
}
