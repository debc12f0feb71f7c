export { WorkerPool } from './worker-pool.js';
export type { WorkerPoolOptions, WorkerPoolStats } from './worker-pool.js';
export { reviveTaskError, runTask } from './tasks.js';
export type { TaskError, TaskMap, TaskName, TaskOutcome, TaskRequest } from './tasks.js';
