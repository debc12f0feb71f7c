import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { isMainThread, threadId } from 'node:worker_threads';
import { CorruptionError, EpochError, IoError, gatherRanges, type ErrorCode, type GatherSource } from '@epochdb/core';
import { buildCheckpoint, nodeFileSystem, verifyDirectory, type CheckpointPlan, type CheckpointWritten, type VerifyReport } from '@epochdb/persist';

/**
 * The tasks a worker runs. Inputs and outputs are small plain objects (file
 * names, versions, reports): the dataset never crosses the thread boundary.
 */
export interface TaskMap {
  verify: { input: { readonly dir: string }; output: VerifyReport & { readonly threadId: number } };
  /** Merge the previous checkpoint and closed WAL segments into a new checkpoint file. */
  checkpoint: { input: CheckpointPlan; output: CheckpointWritten & { readonly threadId: number } };
  /**
   * Copy byte ranges of shared buffers into a shared target, packed in order:
   * the copying half of value-memory cleaning. The buffers are
   * `SharedArrayBuffer`s, so nothing is copied across the thread boundary but
   * offsets; the main thread only installs the result.
   */
  gatherRanges: { input: GatherInput; output: { readonly bytes: number; readonly ms: number; readonly threadId: number } };
}

/** Input of the `gatherRanges` task. */
export interface GatherInput {
  readonly sources: readonly GatherSource[];
  readonly target: SharedArrayBuffer;
}

export type TaskName = keyof TaskMap;

/** A task request as posted to a worker. */
export type TaskRequest = { [N in TaskName]: { readonly task: N; readonly input: TaskMap[N]['input'] } }[TaskName];

/**
 * An error thrown by a task, as plain data: structured cloning keeps neither
 * an error's class nor its extra fields, so a worker sends these and the
 * calling thread rebuilds the typed error with {@link reviveTaskError}.
 */
export interface TaskError {
  readonly code: ErrorCode | undefined;
  readonly message: string;
  readonly file?: string;
  readonly offset?: number;
  readonly lastGoodVersion?: number;
}

/** What a task reports: its output, or the error it threw. A worker that dies reports nothing. */
export type TaskOutcome<N extends TaskName = TaskName> = { readonly ok: true; readonly value: TaskMap[N]['output'] } | { readonly ok: false; readonly error: TaskError };

/** Runs one task in this thread (a worker's entry point, or inline with `workers: 0`). Never throws. */
export async function runTask(request: TaskRequest): Promise<TaskOutcome> {
  try {
    return { ok: true, value: await execute(request) };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}

async function execute(request: TaskRequest): Promise<TaskMap[TaskName]['output']> {
  switch (request.task) {
    case 'verify':
      return { ...(await verifyDirectory(nodeFileSystem, request.input.dir)), threadId };
    case 'checkpoint':
      return { ...(await buildCheckpoint(nodeFileSystem, request.input)), threadId };
    case 'gatherRanges': {
      const started = performance.now();
      const bytes = gatherRanges(request.input.sources, request.input.target);
      return { bytes, ms: performance.now() - started, threadId };
    }
  }
}

function describeError(error: unknown): TaskError {
  if (error instanceof CorruptionError) {
    return { code: error.code, message: error.message, file: error.file, offset: error.offset, lastGoodVersion: error.lastGoodVersion };
  }
  if (error instanceof EpochError) return { code: error.code, message: error.message };
  return { code: undefined, message: error instanceof Error ? error.message : String(error) };
}

/**
 * The typed error a task threw, rebuilt on the calling thread: corruption
 * stays a {@link CorruptionError} with its file and offset; anything that is
 * not an EpochDB error (a failed read or write) becomes an {@link IoError}.
 */
export function reviveTaskError(task: TaskName, error: TaskError): EpochError {
  if (error.code === 'CORRUPTION') {
    const revived = new CorruptionError('', { file: error.file ?? '', offset: error.offset ?? 0, lastGoodVersion: error.lastGoodVersion ?? 0 });
    revived.message = error.message;
    return revived;
  }
  return new IoError(`background task ${task} failed: ${error.message}`);
}

/**
 * Background work must lose to the app when they compete for a core: a
 * worker thread lowers its own scheduling priority (Linux: a thread is
 * addressed by its thread id, found through /proc/thread-self). Elsewhere, or
 * if not permitted, it runs at normal priority.
 */
export const WORKER_NICENESS = 10;
function lowerPriority(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, WORKER_NICENESS);
  } catch {
    // Not Linux, or not allowed: normal priority.
  }
}
if (!isMainThread) lowerPriority();

/** piscina's entry point: the default export. */
export default runTask;
