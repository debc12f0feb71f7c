import { threadId } from 'node:worker_threads';
import { buildCheckpoint, nodeFileSystem, verifyDirectory, type CheckpointPlan, type CheckpointWritten, type VerifyReport } from '@epochdb/persist';

/**
 * The tasks a worker runs. Inputs and outputs are small plain objects (file
 * names, versions, reports): the dataset never crosses the thread boundary.
 */
export interface TaskMap {
  verify: { input: { readonly dir: string }; output: VerifyReport & { readonly threadId: number } };
  /** Merge the previous checkpoint and closed WAL segments into a new checkpoint file. */
  checkpoint: { input: CheckpointPlan; output: CheckpointWritten & { readonly threadId: number } };
}

export type TaskName = keyof TaskMap;

/** A task request as posted to a worker. */
export type TaskRequest = { [N in TaskName]: { readonly task: N; readonly input: TaskMap[N]['input'] } }[TaskName];

/** Runs one task in this thread (a worker's entry point, or inline with `workers: 0`). */
export async function runTask(request: TaskRequest): Promise<TaskMap[TaskName]['output']> {
  switch (request.task) {
    case 'verify':
      return { ...(await verifyDirectory(nodeFileSystem, request.input.dir)), threadId };
    case 'checkpoint':
      return { ...(await buildCheckpoint(nodeFileSystem, request.input)), threadId };
  }
}

/** piscina's entry point: the default export. */
export default runTask;
