import { randomUUID } from 'node:crypto';
import { ReplicationError, VersionUnavailableError, type CommitRecord, type EpochError, type Version } from '@epochdb/core';
import { nodeFileSystem, readWalHistory } from '@epochdb/persist';
import { classifyNatsError, isConfigurationFailure } from './connection-options.js';
import { encodeRecordMessages } from './record-message.js';
import { isWrongLastSequence, ReplicationLog, type LogTail } from './replication-log.js';
import type { ReplicateOptionsParsed } from './replicate-options.js';

/** What the shipper needs from the database it ships. */
export interface ShippingHost {
  /** The newest committed version. */
  readonly version: Version;
  /** The database directory: its WAL is the source of what to ship. */
  readonly dir: string;
  /** Resolves when everything committed so far is durable locally. */
  flushed(): Promise<void>;
  /** Called once if another primary holds the log: from then on every write is refused with this error. */
  fenced(error: ReplicationError): void;
  /** The newest local checkpoint's version (0: none). */
  readonly checkpointVersion: Version;
  /** Uploads the local checkpoint at `version` to the object store. */
  uploadCheckpoint(version: Version): Promise<void>;
}

import type { ShippingStats } from './shipping-status.js';

export type { ShippingStats } from './shipping-status.js';

/** Records published (grouped into messages, see `encodeRecordMessages`) before waiting for their acknowledgements. */
const WINDOW = 8192;
/** Commit records kept in memory for shipping; past this, the backlog is read back from the WAL. */
const MAX_QUEUED = 50_000;
const RETRY_MS = 100;
const MAX_RETRY_MS = 1_000;
/** Retry interval while NATS refuses credentials, TLS or a permission: only a change on its side cures that. */
const FAILURE_RETRY_MS = 2_000;

interface Waiter {
  readonly version: Version;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/**
 * Ships a primary's commit records to its JetStream stream, in version
 * order, each after it is durable locally. Publishes with the version as
 * message id (a retry is deduplicated) and with the expected last sequence
 * (a second primary cannot interleave: the first one to find a message of
 * another primary after its own is fenced). When NATS is unreachable the
 * backlog waits, in memory up to a bound, then in the WAL, and is shipped
 * from where the stream ends once NATS is back: no gap, no duplicate.
 */
export class Shipper {
  readonly #host: ShippingHost;
  readonly #options: ReplicateOptionsParsed;
  /** This instance's id, in every message it publishes. */
  readonly #primary = randomUUID();
  #log: ReplicationLog | undefined;
  #tail: LogTail | undefined;
  /** The stream sequence this instance first published after: a message of another primary past it means a second primary. */
  #ownedAfter: number | undefined;
  #queue: CommitRecord[] = [];
  #waiters: Waiter[] = [];
  #fenced: ReplicationError | undefined;
  #closed = false;
  #wake: (() => void) | undefined;
  /** Ends a retry wait early (close()). */
  #interrupt: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #published = 0;
  #resyncs = 0;
  #jumps = 0;
  /** The newest version known durable locally. */
  #localDurable: Version;
  /** Set while NATS refuses what shipping needs (see {@link ShippingStats.failure}). */
  #failure: EpochError | undefined;
  /** The newest version this instance knew the stream at (`undefined`: NATS not reached this session). */
  #knownShipped: Version | undefined;

  constructor(host: ShippingHost, options: ReplicateOptionsParsed) {
    this.#host = host;
    this.#options = options;
    this.#localDurable = host.version;
  }

  /** The connected log, if any (checkpoint upload uses it). */
  get log(): ReplicationLog | undefined {
    return this.#log;
  }

  /** The newest version JetStream has stored. */
  get shippedVersion(): Version {
    return this.#tail?.version ?? 0;
  }

  /**
   * Starts shipping. Waits up to `timeoutMs` for a first contact with NATS
   * and rejects with a {@link ReplicationError} if the stream is ahead of the
   * local database (another primary, or this directory is older than the log);
   * NATS being unreachable is no error: commits go on locally.
   */
  async start(): Promise<void> {
    const first = this.#sync().then(
      () => undefined,
      (error: unknown) => classifyNatsError(error, this.#options, `opening the replication log ${JSON.stringify(this.#options.name)}`) ?? error,
    );
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, this.#options.timeoutMs, 'timeout').unref());
    const result = await Promise.race([first, timeout]);
    // Another primary, or credentials, TLS or permissions NATS refuses: the primary does not open.
    if (result instanceof ReplicationError || isConfigurationFailure(result)) {
      await this.close();
      throw result;
    }
    // The loop goes on from the first contact, whenever it ends: never two at once.
    this.#loop = first.then((error) => {
      if (error instanceof ReplicationError) return this.#fence(error);
      if (error !== undefined) this.#tail = undefined;
      return this.#run();
    });
  }

  /** Takes a new commit (a store commit listener); with `ack: 'replicated'`, the returned promise settles when JetStream stored it. */
  committed(record: CommitRecord): Promise<void> | undefined {
    if (this.#queue.length < MAX_QUEUED) this.#queue.push(record);
    else this.#queue = [];
    this.#wake?.();
    if (this.#options.ack === 'local') return undefined;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(this.#notReplicated(record.version, `was not stored by JetStream within ${this.#options.timeoutMs} ms`));
      }, this.#options.timeoutMs);
      const waiter: Waiter = {
        version: record.version,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      if (this.#fenced !== undefined) waiter.reject(this.#notReplicated(record.version, 'cannot be replicated: another primary holds the log'));
      else if (this.#failure !== undefined) this.#rejectRefused([waiter], this.#failure);
      else this.#waiters.push(waiter);
    });
  }

  #notReplicated(version: Version, why: string, cause?: EpochError): ReplicationError {
    const durable = this.#localDurable >= version;
    return new ReplicationError(`write at version ${version} ${why}; it is ${durable ? '' : 'not yet '}durable locally${durable ? ' and will be shipped when JetStream is reachable' : ''}`, durable, cause === undefined ? undefined : { cause });
  }

  /** Rejects `waiters` because NATS refuses shipping (`failure`), once their records are durable locally (so the error says so). */
  #rejectRefused(waiters: readonly Waiter[], failure: EpochError): void {
    const upTo = this.#host.version;
    void this.#host.flushed().then(
      () => (this.#localDurable = Math.max(this.#localDurable, upTo)),
      () => undefined,
    ).then(() => {
      for (const waiter of waiters) waiter.reject(this.#notReplicated(waiter.version, `cannot be replicated: ${failure.message}`, failure));
    });
  }

  /** Records `error` (NATS refuses credentials, TLS or a permission) as why nothing ships; reports it once per cause. */
  #refused(error: EpochError): void {
    const known = this.#failure;
    this.#failure = error;
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#rejectRefused(waiters, error);
    if (known?.code !== error.code || known.message !== error.message) this.#options.onEvent?.({ type: 'shipping-failed', error });
  }

  /** Counters. */
  stats(): ShippingStats {
    // While the connection is down (or refused), the newest version the stream was known to hold.
    const shipped = this.#knownShipped ?? 0;
    return Object.freeze({
      shippedVersion: shipped,
      backlog: Math.max(0, this.#host.version - shipped),
      connected: this.connected,
      fenced: this.#fenced !== undefined,
      published: this.#published,
      resyncs: this.#resyncs,
      checkpointJumps: this.#jumps,
      failure: this.#failure?.message,
      failureCode: this.#failure?.code,
    });
  }

  /** The newest version this instance knew the stream at (`undefined`: NATS was not reached this session). */
  get knownShippedVersion(): Version | undefined {
    return this.#knownShipped;
  }

  /** Whether the connection is up and the shipper knows where the stream ends. */
  get connected(): boolean {
    return this.#log?.connected === true && this.#tail !== undefined;
  }

  /**
   * Resolves true once everything committed so far is stored by JetStream;
   * false after `timeoutMs`, once fenced, or as soon as nothing can ship
   * (the connection is down or was never made, or NATS refuses shipping).
   * For tests and `close()`.
   */
  async drained(timeoutMs: number): Promise<boolean> {
    const target = this.#host.version;
    const deadline = Date.now() + timeoutMs;
    while (this.shippedVersion < target && this.#fenced === undefined && this.#failure === undefined && this.#log?.connected === true && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.shippedVersion >= target;
  }

  /**
   * Stops shipping and closes the connection (at once when the server is
   * away: nothing waits on a dead connection); what is not shipped stays in
   * the WAL for the next open.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    this.#interrupt?.();
    // Closing the connection first ends whatever the loop waits for (a request to a server that is away).
    await this.#log?.close();
    await this.#loop;
    // A connection the loop was still making when close() came.
    await this.#log?.close();
    this.#log = undefined;
    for (const waiter of this.#waiters) waiter.reject(this.#notReplicated(waiter.version, 'was not stored by JetStream before close()'));
    this.#waiters = [];
  }

  async #run(): Promise<void> {
    let retryMs = RETRY_MS;
    while (!this.#closed && this.#fenced === undefined) {
      try {
        if (this.#tail === undefined) await this.#sync();
        if (this.#host.version <= this.shippedVersion) {
          // Reaching the stream proves credentials and TLS work again, not a publish permission.
          if (this.#failure?.code !== 'PERMISSION_DENIED') this.#resumed();
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = undefined;
          continue;
        }
        await this.#shipBatch();
        this.#resumed();
        retryMs = RETRY_MS;
      } catch (error) {
        if (error instanceof ReplicationError) return this.#fence(error);
        if (this.#closed) return;
        const refused = classifyNatsError(error, this.#options, `shipping to the replication log ${JSON.stringify(this.#options.name)}`);
        if (refused !== undefined) this.#refused(refused);
        // Lost the connection or our place: find where the stream ends, then go on from there.
        this.#tail = undefined;
        this.#resyncs++;
        await this.#sleep(refused === undefined ? retryMs : FAILURE_RETRY_MS);
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      }
    }
  }

  /** Waits `ms`, or less if `close()` comes first. */
  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#interrupt = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#interrupt = undefined;
  }

  /** Shipping works: a failure reported before is over. */
  #resumed(): void {
    if (this.#failure === undefined) return;
    this.#failure = undefined;
    this.#options.onEvent?.({ type: 'shipping-resumed', shippedVersion: this.shippedVersion });
  }

  /** Connects if needed and learns where the stream ends; a {@link ReplicationError} if another primary holds it. */
  async #sync(): Promise<void> {
    this.#log ??= await ReplicationLog.open(this.#options, this.#options.name, this.#options.timeoutMs);
    const tail = await this.#log.tail();
    if (tail.version > this.#host.version) {
      throw new ReplicationError(`the replication log ${JSON.stringify(this.#options.name)} is at version ${tail.version}, ahead of this database (version ${this.#host.version}): another primary writes to it`, false);
    }
    if (this.#ownedAfter !== undefined && tail.seq > this.#ownedAfter && tail.primary !== this.#primary) {
      throw new ReplicationError(`another primary published version ${tail.version} to the replication log ${JSON.stringify(this.#options.name)}`, false);
    }
    this.#tail = tail;
    this.#knownShipped = Math.max(this.#knownShipped ?? 0, tail.version);
  }

  /** Publishes the next window of records after the stream's end, pipelined, each expecting its predecessor's sequence. */
  async #shipBatch(): Promise<void> {
    const log = this.#log!;
    const upTo = this.#host.version;
    await this.#host.flushed();
    this.#localDurable = Math.max(this.#localDurable, upTo);
    const after = this.shippedVersion;
    const records = await this.#pending(after, Math.min(upTo, after + WINDOW));
    if (records === undefined) {
      // The WAL no longer holds what comes next (a checkpoint covered it while NATS was away):
      // the checkpoint goes to the object store, and the stream goes on after it. Replicas
      // that see the jump re-bootstrap from that checkpoint.
      const checkpoint = this.#host.checkpointVersion;
      await this.#host.uploadCheckpoint(checkpoint);
      this.#tail = { ...this.#tail!, version: checkpoint };
      this.#jumps++;
      return;
    }
    let seq = this.#tail!.seq;
    const messages = encodeRecordMessages(records, this.#primary);
    const acks = messages.map((message, i) => log.publish(message, seq + i, this.#options.timeoutMs));
    // Once one fails the later ones fail too, and they may be left unawaited: observe them all.
    for (const ack of acks) ack.catch(() => undefined);
    this.#ownedAfter ??= seq;
    for (let i = 0; i < messages.length; i++) {
      let ack;
      try {
        ack = await acks[i]!;
      } catch (error) {
        if (isWrongLastSequence(error)) throw new Error('the stream moved on: sync again', { cause: error });
        throw error;
      }
      // A retried publish is deduplicated: the stored one must be ours.
      if (ack.duplicate && (await log.primaryAt(ack.seq)) !== this.#primary) {
        throw new ReplicationError(`another primary published version ${messages[i]!.last} to the replication log ${JSON.stringify(this.#options.name)}`, false);
      }
      seq = ack.seq;
      this.#published += messages[i]!.last - messages[i]!.first + 1;
      this.#tail = { ...this.#tail!, seq, version: messages[i]!.last, primary: this.#primary };
      this.#knownShipped = messages[i]!.last;
    }
    this.#shipped(this.shippedVersion);
  }

  /** Records in `(after, upTo]`: from memory when it holds them all, else from the WAL; `undefined` if a checkpoint covered them. */
  async #pending(after: Version, upTo: Version): Promise<CommitRecord[] | undefined> {
    const queue = this.#queue;
    let start = 0;
    while (start < queue.length && queue[start]!.version <= after) start++;
    if (start > 0) this.#queue = queue.slice(start);
    if (this.#queue[0]?.version === after + 1) return this.#queue.slice(0, upTo - after);
    try {
      return await readWalHistory(nodeFileSystem, this.#host.dir, after, upTo);
    } catch (error) {
      if (!(error instanceof VersionUnavailableError) || this.#host.checkpointVersion <= after) throw error;
      return undefined;
    }
  }

  #shipped(version: Version): void {
    const done = this.#waiters.filter((w) => w.version <= version);
    if (done.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.version > version);
    for (const waiter of done) waiter.resolve();
  }

  #fence(error: ReplicationError): void {
    this.#fenced = error;
    this.#host.fenced(error);
    for (const waiter of this.#waiters) waiter.reject(this.#notReplicated(waiter.version, `cannot be replicated: ${error.message}`));
    this.#waiters = [];
  }
}
