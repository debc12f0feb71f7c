import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { runTask, type TaskMap, type TaskName } from './tasks.js';

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
}

/**
 * Background work off the main thread: a piscina pool started lazily on the
 * first task and destroyed by {@link WorkerPool.close}. Idle workers do not
 * keep the process alive.
 */
export class WorkerPool {
  readonly #workers: number;
  #pool: Piscina | undefined;
  #closed = false;
  #tasksRun = 0;
  #tasksFailed = 0;

  constructor(options: WorkerPoolOptions) {
    this.#workers = options.workers;
  }

  /** Tasks completed and failed so far. */
  stats(): { readonly tasksRun: number; readonly tasksFailed: number; readonly workers: number } {
    return { tasksRun: this.#tasksRun, tasksFailed: this.#tasksFailed, workers: this.#workers };
  }

  /** Runs `task` on a worker (or inline with `workers: 0`). */
  async run<N extends TaskName>(task: N, input: TaskMap[N]['input']): Promise<TaskMap[N]['output']> {
    if (this.#closed) throw new Error('the worker pool is closed');
    const request = { task, input } as Parameters<typeof runTask>[0];
    try {
      const output = this.#workers === 0 ? await runTask(request) : await this.#start().run(request);
      this.#tasksRun++;
      return output as TaskMap[N]['output'];
    } catch (error) {
      this.#tasksFailed++;
      throw error;
    }
  }

  /** Waits for running tasks and terminates the workers. Idempotent. */
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
