import { parentPort, workerData } from 'node:worker_threads';
import { putCheckpointFile, type UploadTask } from './checkpoint-store.js';
import { ReplicationLog } from './replication-log.js';

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
