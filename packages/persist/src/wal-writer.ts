import { join } from 'node:path';
import { DatabaseFailedError, IoError, type CommitRecord, type SyncMode, type Version } from '@epochdb/core';
import type { FileHandle, FileSystem } from './file-system.js';
import { segmentName } from './directory-layout.js';
import { FrameBatch } from './frame-batch.js';
import { encodeSegmentHeader } from './wal-format.js';

/**
 * The commits (and barriers) that go to disk together: one write, at most one
 * fdatasync, and one promise that every one of them shares.
 */
class Group {
  /** Some commit asked for `'always'`, or a barrier ({@link WalWriter.flushed}) waits. */
  durable = false;
  /** Some commit asked for `'interval'`. */
  interval = false;
  /** The version of the group's last record (`undefined`: only barriers). */
  lastVersion: Version | undefined;
  readonly settled: Promise<void>;
  resolve!: () => void;
  reject!: (error: Error) => void;

  constructor() {
    this.settled = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/** Options of {@link WalWriter}. */
export interface WalWriterOptions {
  readonly fs: FileSystem;
  readonly dir: string;
  /** Rotate to a new segment once the current one reaches this size. */
  readonly segmentBytes: number;
  /** Period of the fdatasync timer for `'interval'` writes. */
  readonly syncIntervalMs: number;
  /**
   * A gathering group this large is written at once, while the disk is idle,
   * instead of at the end of the synchronous run that appends it (default
   * {@link EARLY_WRITE_BYTES}).
   */
  readonly earlyWriteBytes?: number | undefined;
}

/**
 * Default of {@link WalWriterOptions.earlyWriteBytes}: large enough to be
 * worth a trip to the disk of its own, small enough that a burst of commits
 * this big (thousands of them, tens of milliseconds of encoding) outlasts the
 * write it starts.
 */
export const EARLY_WRITE_BYTES = 1024 * 1024;

/**
 * The append side of the write-ahead log. `append` encodes a commit record
 * synchronously (so WAL order is version order) straight into the pending
 * group's buffer ({@link FrameBatch}); a single flush loop writes the group
 * with one write and, if any of its commits asked for `'always'`, one
 * fdatasync (group commit). While one group is on its way to the disk the
 * next one gathers, and goes as soon as the first returns. A group that
 * passes {@link WalWriterOptions.earlyWriteBytes} while the disk is idle goes
 * at once, from inside the append: a long synchronous burst of commits (no
 * microtask runs until it ends) would otherwise leave the disk idle while
 * it is encoded and the CPU idle while it is written. Every commit of a
 * group shares one promise. The first write or fsync error puts the writer
 * in a failed state: the affected commits and every later append are
 * rejected, never acknowledged.
 */
export class WalWriter {
  readonly #options: WalWriterOptions;
  #handle: FileHandle;
  #segmentSize: number;
  /** The frames of the pending group: appended to as commits happen, taken whole by the flush loop. */
  readonly #frames = new FrameBatch();
  /** The group gathering now (not yet taken by the flush loop). */
  #pending: Group | undefined;
  /** The flush loop, scheduled or running. */
  #flushing: Promise<void> | undefined;
  readonly #earlyWriteBytes: number;
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
    this.#earlyWriteBytes = options.earlyWriteBytes ?? EARLY_WRITE_BYTES;
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
    let bytes: number;
    try {
      bytes = this.#frames.append(record);
    } catch (error) {
      // The commit is already applied in memory (append runs inside the commit step):
      // never throw back into it. A record that cannot be logged fails the writer.
      this.#fail(error, undefined);
      return Promise.reject(this.#failed);
    }
    this.#bytesAppended += bytes;
    const group = this.#gathering();
    group.lastVersion = record.version;
    if (sync === 'always') group.durable = true;
    else if (sync === 'interval') group.interval = true;
    // Only when no file operation is queued: then the write starts now, in this turn.
    if (this.#operations === 0 && this.#frames.length >= this.#earlyWriteBytes) void this.#writePending();
    return group.settled;
  }

  /**
   * Resolves once everything appended before the call is written and
   * fdatasync'ed. Joins the group gathering now, not a wait for the queue
   * to empty: it completes under a steady stream of writes.
   */
  flushed(): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failedError());
    const group = this.#gathering();
    group.durable = true;
    return group.settled;
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

  /** The pending group, started (and its flush scheduled) if there is none. */
  #gathering(): Group {
    if (this.#pending !== undefined) return this.#pending;
    const group = new Group();
    this.#pending = group;
    // A microtask, not an immediate write: every commit made in the current
    // synchronous run joins the same write and the same fdatasync (up to
    // earlyWriteBytes: see append).
    this.#flushing ??= Promise.resolve().then(() => this.#flushLoop());
    return group;
  }

  async #drain(): Promise<void> {
    while (this.#flushing !== undefined || this.#operations > 0) await (this.#flushing ?? this.#chain);
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#pending !== undefined && this.#failed === undefined) {
        if (this.#operations > 0) {
          // An early write, a rotation or an interval sync is on its way: the group keeps
          // gathering and goes, whole, when the file is free.
          await this.#chain;
          continue;
        }
        await this.#writePending();
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /**
   * Takes the pending group and writes it (starting now if no file operation
   * is queued). Never rejects: a failure fails the writer. The group's
   * commits are acknowledged once the file is free again, so a commit that
   * awaited its ack and starts a burst finds the disk idle.
   */
  #writePending(): Promise<void> {
    const group = this.#pending!;
    this.#pending = undefined;
    const data = this.#frames.take();
    return this.#exclusive(() => this.#writeGroup(group, data)).then((written) => {
      if (written) group.resolve();
    });
  }

  /** Writes (and syncs, as the group asks) `data`; false when it failed (the group is rejected then). */
  async #writeGroup(group: Group, data: Buffer): Promise<boolean> {
    if (this.#failed !== undefined) {
      // Never write after a failure (the kernel may have dropped what came before).
      group.reject(this.#failedError());
      return false;
    }
    try {
      if (data.byteLength === 0) {
        if (group.durable && this.#dirty) await this.#datasync();
        return true;
      }
      if (group.durable && !this.#dirty && this.#handle.writeDurable !== undefined) {
        // Everything before is already on disk: one O_DSYNC write is as durable as write +
        // fdatasync and costs one trip to the disk instead of two.
        this.#syncs++;
        await this.#handle.writeDurable(data, this.#segmentSize);
      } else {
        await this.#handle.write(data, this.#segmentSize);
        this.#dirty = true;
        if (group.durable) await this.#datasync();
        else if (group.interval) this.#intervalPending = true;
      }
      this.#segmentSize += data.byteLength;
      this.#bytesWritten += data.byteLength;
      // Written: the kernel has the bytes, the buffer can take the next group's frames.
      this.#frames.recycle(data);
      // Records still pending have higher versions: a segment opened now starts after this group.
      this.#nextVersion = group.lastVersion! + 1;
    } catch (error) {
      this.#fail(error, group);
      return false;
    }
    if (this.#segmentSize >= this.#options.segmentBytes) {
      // Next in line, before any later group; this group's ack does not wait for it.
      void this.#exclusive(async () => {
        // A rotation queued before this one (a checkpoint's) may have started a new segment already.
        if (this.#segmentSize < this.#options.segmentBytes) return;
        try {
          await this.#rotate();
        } catch (error) {
          this.#fail(error, undefined);
        }
      });
    }
    return true;
  }

  async #rotate(): Promise<Version> {
    if (this.#failed !== undefined) throw this.#failedError();
    if (this.#dirty) await this.#datasync();
    let next: { handle: FileHandle; size: number };
    try {
      next = await WalWriter.#openSegment(this.#options, this.#nextVersion);
    } catch (error) {
      this.#fail(error, undefined);
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
      this.#fail(error, undefined);
      throw this.#failed;
    }
    this.#dirty = false;
    this.#intervalPending = false;
  }

  async #intervalSync(): Promise<void> {
    if (!this.#intervalPending || this.#failed !== undefined || this.#closed) return;
    await this.#exclusive(async () => {
      if (this.#intervalPending && this.#dirty && this.#failed === undefined && !this.#closed) await this.#datasync();
    }).catch((error: unknown) => this.#fail(error, undefined));
  }

  /** Fails the writer for good: `inFlight` (the group being written) gets the error itself, the pending group a read-only error. */
  #fail(error: unknown, inFlight: Group | undefined): void {
    this.#failed ??= new IoError(`write-ahead log write failed: ${(error as Error).message}`, { cause: error });
    inFlight?.reject(this.#failed);
    const pending = this.#pending;
    this.#pending = undefined;
    this.#frames.take();
    pending?.reject(this.#failedError());
  }

  #failedError(): DatabaseFailedError {
    return new DatabaseFailedError(`the database is read-only after a failed write: ${this.#failed?.message ?? 'unknown error'}`, { cause: this.#failed });
  }

  /** Runs file operations one at a time (writes, syncs and rotation never overlap). */
  #chain: Promise<unknown> = Promise.resolve();
  /** File operations queued or running: none, and the next one starts at once instead of a microtask later. */
  #operations = 0;
  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    this.#operations++;
    const run = async (): Promise<T> => {
      try {
        return await operation();
      } finally {
        // Before anyone waiting on the result runs: the file is free by then.
        this.#operations--;
      }
    };
    const result = this.#operations === 1 ? run() : this.#chain.then(run);
    this.#chain = result.catch(() => undefined);
    return result;
  }
}
