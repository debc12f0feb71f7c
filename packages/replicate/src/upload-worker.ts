import { parentPort, workerData } from 'node:worker_threads';
import { putCheckpointFile } from './checkpoint-store.js';
import type { ConnectionParsed } from './connection-options.js';
import { ReplicationLog } from './replication-log.js';

/** What the main thread hands an upload worker. */
export interface UploadTask {
  readonly connection: ConnectionParsed;
  readonly name: string;
  readonly timeoutMs: number;
  readonly path: string;
  readonly version: number;
}

// A worker thread of its own, with its own connection: the upload streams the file in
// chunks off the main thread's event loop.
const task = workerData as UploadTask;
try {
  const log = await ReplicationLog.open(task.connection, task.name, task.timeoutMs);
  try {
    await putCheckpointFile(log, task.path, task.version);
  } finally {
    await log.close();
  }
  parentPort!.postMessage({ ok: true });
} catch (error) {
  parentPort!.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
}
