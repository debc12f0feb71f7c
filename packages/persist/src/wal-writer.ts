import { join } from 'node:path';
import { DatabaseFailedError, IoError, type CommitRecord, type SyncMode, type Version } from '@epochdb/core';
import type { FileHandle, FileSystem } from './file-system.js';
import { segmentName } from './directory-layout.js';
import { encodeFrame, encodeSegmentHeader } from './wal-format.js';

interface Waiter {
  readonly version: Version;
  /** `undefined` for a barrier: resolved once everything queued before it is written and (for `'always'`) synced. */
  readonly frame: Buffer | undefined;
  readonly sync: SyncMode;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Options of {@link WalWriter}. */
export interface WalWriterOptions {
  readonly fs: FileSystem;
  readonly dir: string;
  /** Rotate to a new segment once the current one reaches this size. */
  readonly segmentBytes: number;
  /** Period of the fdatasync timer for `'interval'` writes. */
  readonly syncIntervalMs: number;
}

/**
 * The append side of the write-ahead log. `append` encodes a commit record
 * synchronously (so WAL order is version order) and queues it; a single flush
 * loop writes everything queued with one write and, if any queued commit asked
 * for `'always'`, one fdatasync (group commit). The first write or fsync
 * error puts the writer in a failed state: the affected commits and every
 * later append are rejected, never acknowledged.
 */
export class WalWriter {
  readonly #options: WalWriterOptions;
  #handle: FileHandle;
  #segmentSize: number;
  #queue: Waiter[] = [];
  #flushing: Promise<void> | undefined;
  /** Written to the OS but not yet fdatasync'ed. */
  #dirty = false;
  /** Holds unsynced `'interval'` writes: the timer syncs only then (`'none'` writes are never synced for their own sake). */
  #intervalPending = false;
  #failed: Error | undefined;
  /** The version of the next record to be written (not appended): the name of the next segment. */
  #nextVersion: Version;
  #bytesWritten = 0;
  #bytesAppended = 0;
  #interval: NodeJS.Timeout | undefined;
  #syncs = 0;
  #closed = false;

  private constructor(options: WalWriterOptions, handle: FileHandle, size: number, nextVersion: Version) {
    this.#options = options;
    this.#handle = handle;
    this.#segmentSize = size;
    this.#nextVersion = nextVersion;
    this.#interval = setInterval(() => void this.#intervalSync(), options.syncIntervalMs).unref();
  }

  /** Starts a fresh segment for records from `nextVersion` on. */
  static async create(options: WalWriterOptions, nextVersion: Version): Promise<WalWriter> {
    const { handle, size } = await WalWriter.#openSegment(options, nextVersion);
    return new WalWriter(options, handle, size, nextVersion);
  }

  static async #openSegment(options: WalWriterOptions, firstVersion: Version): Promise<{ handle: FileHandle; size: number }> {
    const handle = await options.fs.open(join(options.dir, segmentName(firstVersion)), 'w');
    try {
      const header = encodeSegmentHeader();
      await handle.write(header, 0);
      await handle.datasync();
      await options.fs.syncDir(options.dir);
      return { handle, size: header.byteLength };
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  /** The error that failed the writer, if one did. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  /** Bytes of records written to segment files since this writer started (automatic checkpoints go by {@link WalWriter.bytesAppended}). */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /**
   * Bytes of records appended since this writer started, written or still
   * queued: counted as the commit happens, so the commit that passes a
   * checkpoint threshold is the one that sees it.
   */
  get bytesAppended(): number {
    return this.#bytesAppended;
  }

  /** How many fdatasync calls the writer has made (group commit makes this far fewer than commits). */
  get syncs(): number {
    return this.#syncs;
  }

  /**
   * Queues `record`; the promise settles when it is durable as `sync` asks:
   * written and fdatasync'ed (`'always'`), or written to the OS (`'interval'`, `'none'`).
   */
  append(record: CommitRecord, sync: SyncMode): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failedError());
    if (this.#closed) return Promise.reject(new DatabaseFailedError('the write-ahead log is closed'));
    let frame: Buffer;
    try {
      frame = encodeFrame(record);
    } catch (error) {
      // The commit is already applied in memory (append runs inside the commit step):
      // never throw back into it. A record that cannot be logged fails the writer.
      this.#fail(error, []);
      return Promise.reject(this.#failed);
    }
    this.#bytesAppended += frame.byteLength;
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ version: record.version, frame, sync, resolve, reject });
      this.#kick();
    });
  }

  /**
   * Resolves once everything appended before the call is written and
   * fdatasync'ed. A barrier in the queue, not a wait for the queue to empty:
   * it completes under a steady stream of writes.
   */
  flushed(): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failedError());
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ version: 0, frame: undefined, sync: 'always', resolve, reject });
      this.#kick();
    });
  }

  /**
   * Continues in a new segment (for checkpoints: later records land in a file
   * of their own). Records still queued go to the new segment. Resolves to the
   * version of the last record in the old segments, all of them fdatasync'ed.
   */
  async rotate(): Promise<Version> {
    if (this.#failed !== undefined) throw this.#failedError();
    return this.#exclusive(() => this.#rotate());
  }

  /** Flushes and syncs everything, stops the timer and closes the segment. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      if (this.#failed === undefined) await this.flushed();
      await this.#drain();
    } finally {
      this.#closed = true;
      clearInterval(this.#interval);
      await this.#handle.close().catch(() => undefined);
    }
  }

  #kick(): void {
    // A microtask, not an immediate write: every commit made in the current
    // synchronous run joins the same write and the same fdatasync.
    this.#flushing ??= Promise.resolve().then(() => this.#flushLoop());
  }

  async #drain(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#queue.length > 0 && this.#failed === undefined) {
        const batch = this.#queue;
        this.#queue = [];
        await this.#exclusive(() => this.#writeBatch(batch));
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  async #writeBatch(batch: Waiter[]): Promise<void> {
    try {
      const frames = batch.filter((w) => w.frame !== undefined);
      const durable = batch.some((w) => w.sync === 'always');
      if (frames.length === 0) {
        if (durable && this.#dirty) await this.#datasync();
        for (const waiter of batch) waiter.resolve();
        return;
      }
      const data = frames.length === 1 ? frames[0]!.frame! : Buffer.concat(frames.map((w) => w.frame!));
      if (durable && !this.#dirty && this.#handle.writeDurable !== undefined) {
        // Everything before is already on disk: one O_DSYNC write is as durable as write +
        // fdatasync and costs one trip to the disk instead of two.
        this.#syncs++;
        await this.#handle.writeDurable(data, this.#segmentSize);
      } else {
        await this.#handle.write(data, this.#segmentSize);
        this.#dirty = true;
        if (durable) await this.#datasync();
        else if (batch.some((w) => w.sync === 'interval')) this.#intervalPending = true;
      }
      this.#segmentSize += data.byteLength;
      this.#bytesWritten += data.byteLength;
      // Records still queued have higher versions: a segment opened now starts after this batch.
      this.#nextVersion = frames[frames.length - 1]!.version + 1;
    } catch (error) {
      this.#fail(error, batch);
      return;
    }
    for (const waiter of batch) waiter.resolve();
    if (this.#segmentSize >= this.#options.segmentBytes) {
      try {
        await this.#rotate();
      } catch (error) {
        this.#fail(error, []);
      }
    }
  }

  async #rotate(): Promise<Version> {
    if (this.#failed !== undefined) throw this.#failedError();
    if (this.#dirty) await this.#datasync();
    let next: { handle: FileHandle; size: number };
    try {
      next = await WalWriter.#openSegment(this.#options, this.#nextVersion);
    } catch (error) {
      this.#fail(error, []);
      throw this.#failed;
    }
    const old = this.#handle;
    this.#handle = next.handle;
    this.#segmentSize = next.size;
    // The old segment is fully synced: failing to close it loses nothing.
    await old.close().catch(() => undefined);
    return this.#nextVersion - 1;
  }

  /** fdatasync; a failure fails the writer for good (after a failed fsync the kernel may have dropped the data: never retry). */
  async #datasync(): Promise<void> {
    this.#syncs++;
    try {
      await this.#handle.datasync();
    } catch (error) {
      this.#fail(error, []);
      throw this.#failed;
    }
    this.#dirty = false;
    this.#intervalPending = false;
  }

  async #intervalSync(): Promise<void> {
    if (!this.#intervalPending || this.#failed !== undefined || this.#closed) return;
    await this.#exclusive(async () => {
      if (this.#intervalPending && this.#dirty && this.#failed === undefined && !this.#closed) await this.#datasync();
    }).catch((error: unknown) => this.#fail(error, []));
  }

  #fail(error: unknown, batch: readonly Waiter[]): void {
    this.#failed ??= new IoError(`write-ahead log write failed: ${(error as Error).message}`, { cause: error });
    for (const waiter of batch) waiter.reject(this.#failed);
    const queued = this.#queue;
    this.#queue = [];
    for (const waiter of queued) waiter.reject(this.#failedError());
  }

  #failedError(): DatabaseFailedError {
    return new DatabaseFailedError(`the database is read-only after a failed write: ${this.#failed?.message ?? 'unknown error'}`, { cause: this.#failed });
  }

  /** Runs file operations one at a time (writes, syncs and rotation never overlap). */
  #chain: Promise<unknown> = Promise.resolve();
  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#chain.then(operation);
    this.#chain = result.catch(() => undefined);
    return result;
  }
}
