export { WorkerPool } from './worker-pool.js';
export type { WorkerPoolOptions } from './worker-pool.js';
export { runTask } from './tasks.js';
export type { TaskMap, TaskName, TaskRequest } from './tasks.js';
