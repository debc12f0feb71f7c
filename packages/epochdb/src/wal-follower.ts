import type { CheckpointEntry, CommitOp, CommitRecord, StructureKeys, Version } from '@epochdb/core';
import type { WalTail } from '@epochdb/persist';
import type { MvccStore } from '@epochdb/store';

/** Counters of `open({ readOnly: true, follow: true })`. */
export interface FollowStats {
  /** WAL records applied since open by following the writer. */
  readonly followedRecords: number;
  /** Times following had to start again from a checkpoint (the writer pruned WAL not yet read). */
  readonly followedCheckpoints: number;
  /** Polls that failed; the next poll tries again. */
  readonly followErrors: number;
  readonly lastFollowError: string | undefined;
}

/**
 * Where a {@link WalFollower} applies what it reads: the database, so that
 * change streams and collection indexes see the followed commits as they
 * would a replica's.
 */
export interface FollowSink {
  /** Applies one of the writer's commit records (the next version). */
  applyRecord(record: CommitRecord): void;
  /** Applies the difference to a checkpoint whose commits the writer pruned before they were read. */
  applyCheckpoint(record: CommitRecord): void;
}

/**
 * Keeps a read-only database up with the process that writes its directory:
 * every `intervalMs` it reads the records appended to the WAL since the last
 * look ({@link WalTail}) and replays them into the store, in version order.
 * When the writer has pruned WAL not yet read (a checkpoint covered it), the
 * difference between the store and that checkpoint is applied as one record
 * at the checkpoint's version. The timer is unref'd.
 */
export class WalFollower {
  readonly #store: MvccStore;
  readonly #tail: WalTail;
  readonly #intervalMs: number;
  readonly #sink: FollowSink;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #stopped = false;
  #records = 0;
  #checkpoints = 0;
  #errors = 0;
  #lastError: string | undefined;

  /** `sink` defaults to the store alone (no change streams, no indexes). */
  constructor(store: MvccStore, tail: WalTail, intervalMs: number, sink?: FollowSink) {
    this.#store = store;
    this.#tail = tail;
    this.#intervalMs = intervalMs;
    this.#sink = sink ?? { applyRecord: (record) => store.applyRecord(record), applyCheckpoint: (record) => store.applyRecord(record) };
  }

  /** Starts polling. */
  start(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#polling = this.poll().finally(() => {
        this.#polling = undefined;
        this.start();
      });
    }, this.#intervalMs).unref();
  }

  /** Reads and applies what the writer appended since the last poll. Never rejects: failures are counted. */
  async poll(): Promise<void> {
    try {
      const read = await this.#tail.poll();
      if (this.#stopped || this.#store.closed) return;
      if (read.kind === 'checkpoint') {
        this.#applyCheckpoint(read.version, read.entries, read.structures);
        return;
      }
      for (const record of read.records) {
        if (record.version > this.#store.version) this.#sink.applyRecord(record);
      }
      this.#records += read.records.length;
    } catch (error) {
      this.#errors++;
      this.#lastError = error instanceof Error ? error.message : String(error);
    }
  }

  /** Stops polling and waits for a poll in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#polling;
  }

  stats(): FollowStats {
    return { followedRecords: this.#records, followedCheckpoints: this.#checkpoints, followErrors: this.#errors, lastFollowError: this.#lastError };
  }

  /** Moves the store to the checkpoint's state: puts for what changed, deletes for what is gone. */
  #applyCheckpoint(version: Version, entries: readonly CheckpointEntry[], structures: readonly StructureKeys[]): void {
    if (version <= this.#store.version) return;
    const ops: CommitOp[] = [];
    const kept = new Set<string>();
    for (const entry of entries) {
      kept.add(entry.key);
      if (this.#store.getEntry(entry.key)?.version === entry.version) continue;
      ops.push({
        kind: 'put',
        key: entry.key,
        encoded: entry.encoded,
        ...(entry.run === undefined ? {} : { run: entry.run }),
        ...(entry.type === undefined ? {} : { type: entry.type }),
        ...(entry.expiresAt === undefined ? {} : { expiresAt: entry.expiresAt }),
      });
    }
    for (const entry of this.#store.scan()) if (!kept.has(entry.key)) ops.push({ kind: 'delete', key: entry.key });
    // The checkpoint's table holds the follower's as a prefix (ids never change): define it before its values.
    this.#sink.applyCheckpoint({ version, time: this.#store.clock.now(), ops, ...(structures.length === 0 ? {} : { structures: { from: 0, keys: structures } }) });
    this.#checkpoints++;
  }
}
