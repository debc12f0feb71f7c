import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IoError, ReplicationError, type StructureKeys, type Version } from '@epochdb/core';
import { checkpointName, nodeFileSystem, parseCheckpointName, readCheckpointForLoad, type CheckpointEntries } from '@epochdb/persist';
import { connectionOf, type ConnectionParsed } from './connection-options.js';
import type { ReplicationLog } from './replication-log.js';

/** Chunk size of checkpoint uploads and of object-store messages. */
const CHUNK_BYTES = 128 * 1024;

/** A checkpoint's state, loaded: what a replica or a restore starts from. */
export interface Bootstrap {
  readonly version: Version;
  /** Verified whole; each chunk decoded as it is iterated (like a local reopen). */
  readonly entries: CheckpointEntries;
  /** The checkpoint's shared structure table. */
  readonly structures: readonly StructureKeys[];
}

/** The versions of the checkpoints in the object store, oldest first. */
export async function listCheckpoints(log: ReplicationLog): Promise<Version[]> {
  if (!(await log.hasObjects())) return [];
  const objects = await (await log.objects()).list();
  const versions: Version[] = [];
  for (const info of objects) {
    const version = info.deleted ? undefined : parseCheckpointName(info.name);
    if (version !== undefined) versions.push(version);
  }
  return versions.sort((a, b) => a - b);
}

/** Streams the local checkpoint file `path` (at `version`) into the object store, in chunks: never the whole file in memory. */
export async function putCheckpointFile(log: ReplicationLog, path: string, version: Version): Promise<void> {
  const file = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  await (await log.objects()).put({ name: checkpointName(version), options: { max_chunk_size: CHUNK_BYTES } }, Readable.toWeb(file) as unknown as ReadableStream<Uint8Array>);
}

/** What the main thread hands an upload worker (upload-worker.ts, which imports it from here). */
export interface UploadTask {
  readonly connection: ConnectionParsed;
  readonly name: string;
  readonly timeoutMs: number;
  readonly path: string;
  readonly version: number;
}

/** Where to run an upload on a worker thread of its own (with its own connection, same servers, credentials and TLS). */
export interface UploadWorker extends ConnectionParsed {
  readonly timeoutMs: number;
}

const here = fileURLToPath(import.meta.url);
// Run from its TypeScript source (tests), the worker still loads the built `dist/upload-worker.js`.
const WORKER_FILE = here.endsWith('.ts') ? join(dirname(here), '..', 'dist', 'upload-worker.js') : join(dirname(here), 'upload-worker.js');

function uploadOnWorker(worker: UploadWorker, name: string, path: string, version: Version): Promise<void> {
  const task: UploadTask = { connection: connectionOf(worker), name, timeoutMs: worker.timeoutMs, path, version };
  return new Promise((resolve, reject) => {
    const thread = new Worker(WORKER_FILE, { workerData: task });
    let result: { ok: boolean; message?: string } | undefined;
    thread.once('message', (message: { ok: boolean; message?: string }) => (result = message));
    thread.once('error', reject);
    thread.once('exit', () => {
      if (result?.ok === true) resolve();
      else reject(new IoError(`checkpoint ${version} upload failed: ${result?.message ?? 'the upload worker exited'}`));
    });
  });
}

/**
 * Uploads the local checkpoint file `path` (at `version`) to the object store,
 * streamed in chunks (on a worker thread when `worker` says where to connect),
 * then keeps only the newest `keep` checkpoints and removes the stream
 * messages the oldest kept one covers.
 */
export async function uploadCheckpoint(log: ReplicationLog, path: string, version: Version, keep: number, worker?: UploadWorker): Promise<void> {
  if (worker !== undefined && existsSync(WORKER_FILE)) await uploadOnWorker(worker, log.name, path, version);
  else await putCheckpointFile(log, path, version);
  const store = await log.objects();
  const versions = await listCheckpoints(log);
  const drop = versions.slice(0, Math.max(0, versions.length - keep));
  for (const old of drop) await store.delete(checkpointName(old));
  const oldestKept = versions[drop.length];
  if (oldestKept === undefined) return;
  const tail = await log.tail();
  // The newest message always stays: it is how a primary learns where the stream ends.
  const seq = Math.min(await log.seqAfter(oldestKept, tail), tail.seq);
  if (seq > tail.firstSeq && tail.firstSeq > 0) await log.purgeBelow(seq);
}

/**
 * Loads the checkpoint at `version` from the object store: streamed to a
 * temporary file `scratch` (see {@link ReplicationLog.objectChunks}), then
 * read and verified like a local checkpoint.
 */
export async function downloadCheckpoint(log: ReplicationLog, version: Version, scratch: string): Promise<Bootstrap> {
  const info = await (await log.objects()).info(checkpointName(version));
  if (info === null || info.deleted) throw new ReplicationError(`checkpoint ${version} of ${JSON.stringify(log.names.stream)} is no longer in the object store`, false);
  try {
    let bytes = 0;
    const counted = async function* (chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunks) {
        bytes += chunk.byteLength;
        yield chunk;
      }
    };
    await pipeline(Readable.from(counted(log.objectChunks(info))), createWriteStream(scratch) as Writable);
    if (bytes !== info.size) throw new ReplicationError(`checkpoint ${version} of ${JSON.stringify(log.names.stream)}: the download ended after ${bytes} of ${info.size} bytes`, false);
    // Checksums and counts verified now; chunks decoded as the store loads them, as a local reopen does.
    const contents = await readCheckpointForLoad(nodeFileSystem, scratch);
    return { version: contents.version, entries: contents.entries, structures: contents.structures };
  } finally {
    await rm(scratch, { force: true });
  }
}
