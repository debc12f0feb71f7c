import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { DatabaseClosedError, IoError } from '@epochdb/core';
import { reviveTaskError, runTask, type TaskMap, type TaskName, type TaskOutcome, type TaskRequest } from './tasks.js';

const here = fileURLToPath(import.meta.url);
/**
 * The workers' entry point, always the built JavaScript: when this module runs
 * from its TypeScript source (tests), the worker still loads `dist/tasks.js`.
 */
const TASK_FILE = here.endsWith('.ts') ? join(dirname(here), '..', 'dist', 'tasks.js') : join(dirname(here), 'tasks.js');

/** Options of {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** Worker threads (0: run every task inline on the calling thread, for environments without threads). */
  readonly workers: number;
  /** How many times a task whose worker died or was terminated is run again on a fresh worker (default 1). */
  readonly retries?: number;
}

/** Counters of a {@link WorkerPool}. */
export interface WorkerPoolStats {
  /** Tasks that completed. */
  readonly tasksRun: number;
  /** Task attempts that failed: the task threw, or its worker died. */
  readonly tasksFailed: number;
  /** Attempts re-run after their worker died. */
  readonly tasksRetried: number;
  /** Worker threads configured (0: tasks run inline). */
  readonly workers: number;
  /** Worker threads alive right now (started by a task; they exit after a second idle). */
  readonly workerThreads: number;
}

/**
 * Background work off the main thread: a piscina pool started lazily on the
 * first task and destroyed by {@link WorkerPool.close}. Idle workers do not
 * keep the process alive. Tasks must be idempotent: one whose worker dies
 * (crashes, runs out of memory, is terminated) is run again on a fresh worker.
 */
export class WorkerPool {
  readonly #workers: number;
  readonly #retries: number;
  #pool: Piscina | undefined;
  #closed = false;
  #tasksRun = 0;
  #tasksFailed = 0;
  #tasksRetried = 0;

  constructor(options: WorkerPoolOptions) {
    this.#workers = options.workers;
    this.#retries = options.retries ?? 1;
  }

  stats(): WorkerPoolStats {
    return { tasksRun: this.#tasksRun, tasksFailed: this.#tasksFailed, tasksRetried: this.#tasksRetried, workers: this.#workers, workerThreads: this.#pool?.threads.length ?? 0 };
  }

  /**
   * Runs `task` on a worker (or inline with `workers: 0`). Rejects with the
   * task's own typed error, or with an `IoError` when its worker died on every
   * attempt, or `DatabaseClosedError` when the pool was closed meanwhile or
   * `signal` aborted it (its worker is terminated; an inline task runs to the end).
   */
  async run<N extends TaskName>(task: N, input: TaskMap[N]['input'], signal?: AbortSignal): Promise<TaskMap[N]['output']> {
    const request = { task, input } as TaskRequest;
    // A function, so the check after an await reads the signal as it is then.
    const cancelled = (): boolean => signal?.aborted === true;
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new DatabaseClosedError(`cannot run background task ${task}: the database is closing`);
      if (cancelled()) throw new DatabaseClosedError(`background task ${task} was cancelled`);
      let outcome: TaskOutcome;
      try {
        outcome = this.#workers === 0 ? await runTask(request) : ((await this.#start().run(request, signal === undefined ? {} : { signal })) as TaskOutcome);
      } catch (error) {
        // runTask never throws: the worker itself went away (or the pool was destroyed, or the task was aborted).
        this.#tasksFailed++;
        if (this.#closed) throw new DatabaseClosedError(`background task ${task} was cancelled: the database closed`, { cause: error });
        if (cancelled()) throw new DatabaseClosedError(`background task ${task} was cancelled`, { cause: error });
        if (attempt < this.#retries) {
          this.#tasksRetried++;
          continue;
        }
        throw new IoError(`background task ${task} failed: its worker stopped (${(error as Error).message})`, { cause: error });
      }
      if (!outcome.ok) {
        this.#tasksFailed++;
        throw reviveTaskError(task, outcome.error);
      }
      this.#tasksRun++;
      return outcome.value as TaskMap[N]['output'];
    }
  }

  /**
   * Terminates every worker thread now; the tasks they were running fail and
   * are retried on fresh workers. This is what a crash looks like to the
   * pool; tests use it to prove crashes leave the database whole.
   */
  async terminateWorkers(): Promise<number> {
    const threads = this.#pool?.threads ?? [];
    await Promise.all(threads.map((thread) => thread.terminate()));
    return threads.length;
  }

  /** Cancels running tasks (they reject with `DatabaseClosedError`) and terminates the workers. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.destroy();
  }

  #start(): Piscina {
    this.#pool ??= new Piscina({
      filename: TASK_FILE,
      minThreads: 0,
      maxThreads: this.#workers,
      idleTimeout: 1000,
    });
    return this.#pool;
  }
}
