import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ReplicationError, type CommitRecord, type Version } from '@epochdb/core';
import type { ConsumerMessages } from 'nats';
import { downloadCheckpoint, listCheckpoints, type Bootstrap } from './checkpoint-store.js';
import { messageVersion } from './record-message.js';
import { classifyNatsError, type ConnectionParsed } from './connection-options.js';
import { ReplicationLog, type LogTail } from './replication-log.js';
import type { ReplicaEvent, ReplicaLag } from './replica-status.js';

export type { ReplicaEvent, ReplicaLag };

/** What a follower applies records to. */
export interface FollowerHost {
  /** The version the local state is at. */
  readonly version: Version;
  /** Applies the next record (its version is `version + 1`). */
  apply(record: CommitRecord): Promise<void> | void;
  /** Replaces the whole local state with a checkpoint's. */
  reset(bootstrap: Bootstrap): Promise<void>;
  event(event: ReplicaEvent): void;
}

/** How often a follower asks where the stream ends, for {@link Follower.lag}. */
const LAG_POLL_MS = 250;

interface Waiter {
  readonly version: Version;
  readonly resolve: () => void;
}

/**
 * Keeps a local state in step with a replication log: bootstraps from the
 * newest checkpoint in the object store when the local state is empty or
 * the stream no longer reaches back to it, then applies every record in
 * version order through an ordered consumer.
 */
export class Follower {
  readonly #log: ReplicationLog;
  readonly #host: FollowerHost;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;
  /** The newest version known to be in the stream. */
  #newest = 0;
  /** Commit time of the newest record applied. */
  #appliedTime = 0;
  readonly #poll: NodeJS.Timeout;
  #waiters: Waiter[] = [];
  #failure: Error | undefined;

  private constructor(log: ReplicationLog, host: FollowerHost) {
    this.#log = log;
    this.#host = host;
    // What the stream holds beyond what was delivered so far: for `lag`.
    this.#poll = setInterval(() => {
      this.#log.tail().then(
        (tail) => (this.#newest = Math.max(this.#newest, tail.version)),
        () => undefined,
      );
    }, LAG_POLL_MS).unref();
  }

  /** Connects, bootstraps if needed and starts following. */
  static async start(connection: ConnectionParsed, name: string, host: FollowerHost, timeoutMs: number): Promise<Follower> {
    const log = await ReplicationLog.open(connection, name, timeoutMs);
    const follower = new Follower(log, host);
    try {
      await follower.#catchUpStart(undefined);
    } catch (error) {
      await follower.close();
      throw classifyNatsError(error, connection, 'following the replication log') ?? error;
    }
    return follower;
  }

  /** How far behind the newest version it knows of the replica is (ms: since the newest record applied was committed, 0 when caught up). */
  get lag(): ReplicaLag {
    const versions = Math.max(0, this.#newest - this.#host.version);
    return Object.freeze({ versions, ms: versions === 0 ? 0 : Math.max(0, Date.now() - this.#appliedTime) });
  }

  /** Why following stopped, if it did. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** The newest version in the stream now. */
  async newestVersion(): Promise<Version> {
    return (await this.#log.tail()).version;
  }

  /** Resolves once the local state has reached `version`. */
  reached(version: Version): Promise<void> {
    if (this.#host.version >= version) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ version, resolve }));
  }

  /** Bootstraps if the stream does not reach back to the local state (or it is empty and a checkpoint exists), then follows from there. */
  async #catchUpStart(reason: string | undefined): Promise<void> {
    const tail = await this.#log.tail();
    const local = this.#host.version;
    const gap = tail.firstVersion > local + 1;
    if (gap || local === 0 || reason !== undefined) {
      const checkpoints = await listCheckpoints(this.#log);
      const newest = checkpoints.at(-1) ?? 0;
      if ((gap && newest < tail.firstVersion - 1) || ((gap || reason !== undefined) && newest <= local)) {
        throw new ReplicationError(`the replication log ${JSON.stringify(this.#log.names.stream)} does not go on from version ${local} (${reason ?? `it starts at version ${tail.firstVersion}`}) and no checkpoint covers the gap`, false);
      }
      if (newest > local) {
        const bootstrap = await downloadCheckpoint(this.#log, newest, join(tmpdir(), `epochdb-bootstrap-${randomUUID()}.ckpt`));
        await this.#host.reset(bootstrap);
        this.#release();
        this.#host.event(
          local === 0
            ? { type: 'bootstrap', version: bootstrap.version, entries: bootstrap.entries.length }
            : { type: 'rebootstrap', from: local, version: bootstrap.version, reason: reason ?? `the stream now starts at version ${tail.firstVersion}` },
        );
      }
    }
    await this.#follow(tail);
  }

  async #follow(tail: LogTail): Promise<void> {
    const seq = await this.#log.seqAfter(this.#host.version, tail);
    this.#newest = Math.max(this.#newest, tail.version);
    this.#messages = await this.#log.follow(seq);
    this.#loop = this.#consume(this.#messages);
  }

  async #consume(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const message of messages) {
        this.#newest = Math.max(this.#newest, messageVersion(message.headers));
        for (const record of ReplicationLog.records(message.data, message.seq)) {
          const local = this.#host.version;
          if (record.version <= local) continue;
          if (record.version !== local + 1) {
            // The stream was trimmed past us (or the primary jumped over a gap a checkpoint covers).
            messages.stop();
            if (!this.#closed) await this.#catchUpStart(`the stream went on from version ${record.version}, the replica is at ${local}`);
            return;
          }
          await this.#host.apply(record);
          this.#appliedTime = record.time;
        }
        this.#release();
      }
    } catch (error) {
      if (!this.#closed) this.#failure = error as Error;
    }
  }

  #release(): void {
    const version = this.#host.version;
    if (this.#waiters.length === 0) return;
    const done = this.#waiters.filter((w) => w.version <= version);
    this.#waiters = this.#waiters.filter((w) => w.version > version);
    for (const waiter of done) waiter.resolve();
  }

  /** Stops following and closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    this.#messages?.stop();
    await this.#loop;
    await this.#log.close();
  }
}
