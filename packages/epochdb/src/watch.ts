import { METADATA_KEY, shouldTrimQueue, VersionUnavailableError, WatchOverflowError, parseArgument, type CommitRecord, type Entry, type ValueCodec, type Version } from '@epochdb/core';
import type { AppliedChange } from '@epochdb/store';
import { z } from 'zod';

/** One committed change, as {@link ChangeStream} delivers it. */
export interface Change {
  /** The commit's version; every change of one commit has the same one and they arrive together. */
  readonly version: Version;
  readonly key: string;
  /** `'expire'`: the TTL cleaner reclaimed the key. */
  readonly kind: 'put' | 'delete' | 'expire';
  /** The new value of a put (deep-frozen). */
  readonly value?: unknown;
  /** A put's tags, or (delivered live) the tags of the entry a delete or expiry removed. */
  readonly run?: string;
  readonly type?: string;
  readonly expiresAt?: number;
}

/** Options of `db.watch()`. */
export interface WatchOptions {
  /** Only keys starting with this. */
  readonly prefix?: string;
  /** Only entries with this run tag. */
  readonly run?: string;
  /** Only entries with this type tag. */
  readonly type?: string;
  /**
   * Resume: deliver every change after this version (history still retained
   * in memory or in the WAL), then go on live. Default: only changes after now.
   */
  readonly fromVersion?: Version;
  /**
   * Changes buffered for a consumer that is behind (default 10,000; a single
   * larger commit is still delivered whole). Past it the stream ends with
   * `WATCH_OVERFLOW`, naming the version to resume from.
   */
  readonly bufferSize?: number;
}

const watchOptionsSchema = z.strictObject({
  prefix: z.string().optional(),
  run: z.string().min(1).optional(),
  type: z.string().min(1).optional(),
  fromVersion: z.number().int().min(0).optional(),
  bufferSize: z.number().int().min(1).max(100_000_000).optional(),
});

/** Where a stream gets the changes it missed: recent commits kept in memory, then the WAL. */
export interface ChangeHistory {
  /** Records in `(after, upTo]`, or throws `VERSION_UNAVAILABLE` if they are no longer retained. */
  read(after: Version, upTo: Version): CommitRecord[] | Promise<CommitRecord[]>;
}

/** What a {@link ChangeStream} needs from the database. */
export interface ChangeSource {
  readonly version: Version;
  readonly history: ChangeHistory;
  /** Decodes the values of commit records read back from history. */
  readonly codec: ValueCodec;
  /** Registers for live changes; returns the unsubscribe function. */
  subscribe(listener: (version: Version, changes: readonly AppliedChange[]) => void): () => void;
  /** Called when the stream ends, so the database forgets it. */
  ended(stream: ChangeStream): void;
}

const DEFAULT_BUFFER = 10_000;

/** Period of the keep-alive timer: it only holds the event loop open, so rarely is enough. */
const KEEP_ALIVE_MS = 1 << 30;

/**
 * An async iterator over committed changes in version order: history first
 * when resuming, then live. A slow consumer never blocks writers: changes
 * wait in a bounded buffer, and past it the stream ends with
 * {@link WatchOverflowError} once everything buffered has been delivered.
 * Breaking out of `for await`, {@link ChangeStream.close} and `db.close()`
 * release everything.
 */
export class ChangeStream implements AsyncIterableIterator<Change> {
  readonly #source: ChangeSource;
  readonly #filter: TagFilter;
  readonly #bufferSize: number;
  #buffer: Change[] = [];
  #head = 0;
  /** Live changes that arrived while history is still being delivered (at most `bufferSize`). */
  #early: Change[] | undefined;
  /** History not yet turned into changes: converted one commit at a time as the consumer reads. */
  #history: readonly CommitRecord[] = [];
  #historyHead = 0;
  /** Whether the history has been read (it may still be being delivered). */
  #historyLoaded = true;
  /** The version live delivery starts after (the database's version when the stream began). */
  #liveFrom: Version;
  #unsubscribe: (() => void) | undefined;
  /** Pending `next()` calls, oldest first (a consumer may ask for several at once). */
  #waiting: { resolve: (result: IteratorResult<Change>) => void; reject: (error: unknown) => void }[] = [];
  #ended = false;
  #failure: Error | undefined;
  #lastBuffered: Version;
  /**
   * A ref'd timer held while a `next()` waits, so that a program that only
   * consumes the stream stays alive, as it would on a socket; cleared as soon
   * as no one waits (the database's own timers are unref'd).
   */
  #keepAlive: NodeJS.Timeout | undefined;

  /** Not for direct use: `db.watch()` makes streams. */
  constructor(source: ChangeSource, options: WatchOptions | undefined) {
    const parsed = options === undefined ? {} : parseArgument(watchOptionsSchema, options, 'watch(): options');
    this.#source = source;
    this.#bufferSize = parsed.bufferSize ?? DEFAULT_BUFFER;
    const { prefix, run, type } = parsed;
    // The metadata key (the empty key: index definitions) is the database's own: never a user's change.
    this.#filter = (key, r, t, tagsUnknown = false) =>
      key !== METADATA_KEY && (prefix === undefined || key.startsWith(prefix)) && (tagsUnknown || ((run === undefined || r === run) && (type === undefined || t === type)));
    const now = source.version;
    if (parsed.fromVersion !== undefined && parsed.fromVersion > now) {
      throw new VersionUnavailableError(`watch(): fromVersion ${parsed.fromVersion} is newer than the database (version ${now})`);
    }
    this.#lastBuffered = parsed.fromVersion ?? now;
    this.#liveFrom = now;
    this.#unsubscribe = source.subscribe((version, changes) => this.#onLive(version, changes));
    if (parsed.fromVersion !== undefined && parsed.fromVersion < now) {
      this.#early = [];
      let history: CommitRecord[] | Promise<CommitRecord[]>;
      try {
        history = source.history.read(parsed.fromVersion, now);
      } catch (error) {
        this.#unsubscribe();
        throw error;
      }
      if (Array.isArray(history)) this.#history = history;
      else {
        this.#historyLoaded = false;
        void history.then(
          (records) => {
            this.#historyLoaded = true;
            if (!this.#ended) this.#history = records; // a stream closed meanwhile delivers none of it
            this.#wake();
          },
          (error: unknown) => {
            this.#historyLoaded = true;
            this.#fail(error as Error);
          },
        );
      }
    }
  }

  /** The version of the newest change buffered or delivered so far (what to resume from after an overflow). */
  get lastVersion(): Version {
    return this.#lastBuffered;
  }

  /** The next change; while it waits, the process is kept alive (see {@link ChangeStream.close}). */
  next(): Promise<IteratorResult<Change>> {
    // With earlier calls still waiting, this one queues behind them.
    if (this.#waiting.length === 0) {
      const ready = this.#take();
      if (ready !== undefined) return ready;
    }
    this.#keepAlive ??= setInterval(() => undefined, KEEP_ALIVE_MS);
    return new Promise((resolve, reject) => void this.#waiting.push({ resolve, reject }));
  }

  /** The next result if there is one now: a buffered change, the failure, or the end. */
  #take(): Promise<IteratorResult<Change>> | undefined {
    this.#refill();
    if (this.#head < this.#buffer.length) {
      const change = this.#buffer[this.#head++]!;
      if (this.#head === this.#buffer.length) {
        this.#buffer = [];
        this.#head = 0;
      }
      return Promise.resolve({ value: change, done: false });
    }
    // History still to read or to hand out comes before any failure (an overflow of live changes).
    const historyPending = !this.#historyLoaded || this.#historyHead < this.#history.length;
    if (this.#failure !== undefined && !historyPending) {
      const failure = this.#failure;
      this.#failure = undefined; // delivered once; the stream is over after it
      this.#end();
      return Promise.reject(failure);
    }
    if (this.#ended && !historyPending) return Promise.resolve({ value: undefined, done: true });
    return undefined;
  }

  /** Ends the stream (what `break` in `for await` calls). */
  return(): Promise<IteratorResult<Change>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Stops the stream and drops what it buffered. Idempotent. */
  close(): void {
    this.#buffer = [];
    this.#head = 0;
    this.#history = [];
    this.#historyHead = 0;
    this.#failure = undefined;
    this.#finish();
  }

  /** @internal The database closed: deliver what is buffered, then end. */
  databaseClosed(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#ended = true;
    this.#wake();
  }

  /** @internal Changes were lost to the database (a followed writer pruned them): deliver what is buffered, then fail with `error`. */
  interrupted(error: Error): void {
    if (!this.#ended && this.#failure === undefined) this.#fail(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /**
   * With the buffer empty, turns the next history commit(s) into changes;
   * once history is delivered, the live changes that arrived meanwhile follow.
   */
  #refill(): void {
    if (this.#head < this.#buffer.length || !this.#historyLoaded) return;
    while (this.#historyHead < this.#history.length && this.#buffer.length === 0) {
      const record = this.#history[this.#historyHead++]!;
      const changes = changesOfRecord(record, this.#filter, this.#source.codec);
      if (changes.length > 0) this.#buffer.push(...changes);
      this.#lastBuffered = record.version;
    }
    // Live changes follow once the last of the history has been read out of the buffer.
    if (this.#historyHead < this.#history.length || this.#early === undefined || this.#buffer.length > 0) return;
    const early = this.#early;
    this.#early = undefined;
    this.#history = [];
    if (this.#failure === undefined) this.#lastBuffered = this.#liveFrom;
    for (let i = 0; i < early.length; ) {
      const version = early[i]!.version;
      let j = i;
      while (j < early.length && early[j]!.version === version) j++;
      this.#enqueue(version, early.slice(i, j));
      i = j;
    }
  }

  #onLive(version: Version, changes: readonly AppliedChange[]): void {
    const matching: Change[] = [];
    for (const change of changes) {
      const tags = change.after ?? change.before;
      if (!this.#filter(change.key, tags?.run, tags?.type)) continue;
      matching.push(changeOf(version, change));
    }
    if (matching.length === 0) return;
    if (this.#early === undefined) {
      this.#enqueue(version, matching);
      return;
    }
    if (this.#early.length > 0 && this.#early.length + matching.length > this.#bufferSize) {
      // Behind while history is still being delivered: deliver the history, then end.
      this.#fail(
        new WatchOverflowError(
          `watch(): the consumer fell more than ${this.#bufferSize} changes behind (bufferSize) while replaying history; the stream ends after version ${this.#liveFrom}: resume with watch({ fromVersion: ${this.#liveFrom} })`,
          this.#liveFrom,
        ),
      );
      return;
    }
    this.#early.push(...matching);
  }

  /** Buffers one commit's changes whole, or ends the stream with an overflow. */
  #enqueue(version: Version, changes: readonly Change[]): void {
    if (this.#ended || this.#failure !== undefined) return;
    if (changes.length === 0) return;
    const buffered = this.#buffer.length - this.#head;
    if (buffered > 0 && buffered + changes.length > this.#bufferSize) {
      this.#fail(
        new WatchOverflowError(
          `watch(): the consumer fell more than ${this.#bufferSize} changes behind (bufferSize); the stream ended after version ${this.#lastBuffered}: resume with watch({ fromVersion: ${this.#lastBuffered} })`,
          this.#lastBuffered,
        ),
      );
      return;
    }
    this.#buffer.push(...changes);
    this.#lastBuffered = version;
    this.#wake();
  }

  #fail(error: Error): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#early = this.#early === undefined ? undefined : [];
    this.#failure = error;
    // Nothing live arrives any more: the database need not keep track of this stream.
    this.#source.ended(this);
    this.#wake();
  }

  #wake(): void {
    while (this.#waiting.length > 0) {
      const ready = this.#take();
      if (ready === undefined) return;
      const waiting = this.#waiting.shift()!;
      ready.then(waiting.resolve, waiting.reject);
    }
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
  }

  #finish(): void {
    this.#end();
    this.#wake();
  }

  /** Stops listening and forgets the stream (without answering waiting calls). */
  #end(): void {
    if (this.#unsubscribe !== undefined) {
      this.#unsubscribe();
      this.#unsubscribe = undefined;
    }
    this.#early = undefined;
    if (!this.#ended) {
      this.#ended = true;
      this.#source.ended(this);
    }
  }
}

function changeOf(version: Version, change: AppliedChange): Change {
  const out: { -readonly [P in keyof Change]: Change[P] } = { version, key: change.key, kind: change.kind };
  const entry = change.after ?? change.before;
  if (change.after !== undefined) out.value = change.after.value;
  if (entry?.run !== undefined) out.run = entry.run;
  if (entry?.type !== undefined) out.type = entry.type;
  if (change.after?.expiresAt !== undefined) out.expiresAt = change.after.expiresAt;
  return Object.freeze(out);
}

/** Whether a change passes a stream's prefix, run and type filters (`tagsUnknown`: a delete read back from history). */
type TagFilter = (key: string, run: string | undefined, type: string | undefined, tagsUnknown?: boolean) => boolean;

/** The changes of a stored commit record. Deletes read back from history carry no tags, so tag filters let them through. */
function changesOfRecord(record: CommitRecord, filter: TagFilter, codec: ValueCodec): Change[] {
  const changes: Change[] = [];
  for (const op of record.ops) {
    if (op.kind !== 'put') {
      if (filter(op.key, undefined, undefined, true)) changes.push(Object.freeze({ version: record.version, key: op.key, kind: op.kind }));
      continue;
    }
    if (!filter(op.key, op.run, op.type)) continue;
    const out: { -readonly [P in keyof Change]: Change[P] } = { version: record.version, key: op.key, kind: 'put', value: codec.decodeStored(op.encoded).value };
    if (op.run !== undefined) out.run = op.run;
    if (op.type !== undefined) out.type = op.type;
    if (op.expiresAt !== undefined) out.expiresAt = op.expiresAt;
    changes.push(Object.freeze(out));
  }
  return changes;
}

/**
 * The changes a commit record made by another database (a replica's primary,
 * a followed writer) applies, as the store reports its own commits to apply
 * listeners: `before` holds each key's entry before it was applied.
 */
export function appliedChangesOf(record: CommitRecord, before: readonly (Entry | undefined)[], codec: ValueCodec): AppliedChange[] {
  return record.ops.map((op, i) => {
    const old = before[i];
    const tags = old === undefined ? undefined : { ...(old.run === undefined ? {} : { run: old.run }), ...(old.type === undefined ? {} : { type: old.type }) };
    if (op.kind !== 'put') return { key: op.key, kind: op.kind, before: tags, after: undefined };
    const { encoded: _encoded, kind: _kind, ...rest } = op;
    return { key: op.key, kind: op.kind, before: tags, after: Object.freeze({ ...rest, value: codec.decodeStored(op.encoded).value, version: record.version }) };
  });
}

/**
 * Recent commit records kept in memory for resuming streams, newest last:
 * as many whole commits as hold at most `capacity` operations (a commit
 * larger than that on its own is not kept). Bounded by operations, not
 * commits, so a run of large batches cannot pin gigabytes of values.
 */
export class RecentCommits {
  readonly #capacity: number;
  #records: CommitRecord[] = [];
  #head = 0;
  #ops = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Operations kept at most. */
  get capacity(): number {
    return this.#capacity;
  }

  add(record: CommitRecord): void {
    const ops = Math.max(1, record.ops.length);
    if (ops > this.#capacity) {
      // Too large to keep: what is kept must stay contiguous, so forget everything before it too.
      this.#records = [];
      this.#head = 0;
      this.#ops = 0;
      return;
    }
    this.#records.push(record);
    this.#ops += ops;
    while (this.#ops > this.#capacity) {
      this.#ops -= Math.max(1, this.#records[this.#head]!.ops.length);
      // Let go of it now, not at the next compaction: a record holds all of its values.
      (this.#records as (CommitRecord | undefined)[])[this.#head++] = undefined;
    }
    if (shouldTrimQueue(this.#head, this.#records.length)) {
      this.#records = this.#records.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Forgets every record kept. */
  clear(): void {
    this.#records = [];
    this.#head = 0;
    this.#ops = 0;
  }

  /** The version of the oldest record kept, if any. */
  get oldestVersion(): Version | undefined {
    return this.#records[this.#head]?.version;
  }

  /** Records in `(after, upTo]` if all are still here, else `undefined`. */
  read(after: Version, upTo: Version): CommitRecord[] | undefined {
    const first = this.#records[this.#head];
    if (first === undefined || first.version > after + 1) return undefined;
    const start = this.#head + (after + 1 - first.version);
    const out = this.#records.slice(start, start + (upTo - after));
    return out.length === upTo - after && out[0]?.version === after + 1 ? out : undefined;
  }
}
