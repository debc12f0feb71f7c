import type { CommitRecord, Version } from '@epochdb/core';
import { connect, DeliverPolicy, Events, RetentionPolicy, StorageType, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type NatsConnection, type ObjectInfo, type ObjectStore, type PubAck } from 'nats';
import { checkClientCertificate, classifyNatsError, connectFailure, natsConnectOptions, type ConnectionParsed } from './connection-options.js';
import { logNames, type LogNames } from './names.js';
import { decodeRecordMessage, messageFirstVersion, messageVersion, PRIMARY_HEADER, type RecordMessage } from './record-message.js';

/** The newest message of the stream, as {@link ReplicationLog.last} reports it. */
export interface LogTail {
  /** Stream sequence of the newest message (0: empty stream). */
  readonly seq: number;
  /** The version it carries (0: empty stream). */
  readonly version: Version;
  /** The primary instance that published it (`''`: empty stream). */
  readonly primary: string;
  /** Sequence and version of the oldest message still in the stream (seq 0: empty). */
  readonly firstSeq: number;
  readonly firstVersion: Version;
}

/** Longest {@link ReplicationLog.close} waits for buffered messages to go out. */
const CLOSE_DRAIN_MS = 1000;

/** JetStream's error code for a stream that does not exist. */
const STREAM_NOT_FOUND = 10059;
/** Object-store chunks (128 KiB each) a download asks for at a time. */
const OBJECT_BATCH = 128;

/** JetStream's error code for a publish whose expected last sequence did not match. */
const WRONG_LAST_SEQUENCE = 10071;

/** Whether `error` is JetStream refusing a publish because the stream moved on. */
export function isWrongLastSequence(error: unknown): boolean {
  const apiError = (error as { api_error?: { err_code?: number } } | undefined)?.api_error;
  return apiError?.err_code === WRONG_LAST_SEQUENCE || /wrong last sequence/i.test(String((error as Error | undefined)?.message));
}

/**
 * One database's replication log in JetStream: a stream of commit records
 * (one message per version, in version order) and an object store of
 * checkpoints. Thin: it knows the names, the message format and the queries;
 * the shipper and the follower decide what to do.
 */
export class ReplicationLog {
  /** The replicated database's name. */
  readonly name: string;
  readonly names: LogNames;
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #js: JetStreamClient;
  #objects: ObjectStore | undefined;
  /** Whether the connection is up now (false while nats.js reconnects). */
  #connected = true;

  private constructor(name: string, names: LogNames, nc: NatsConnection, jsm: JetStreamManager) {
    this.name = name;
    this.names = names;
    this.#nc = nc;
    this.#jsm = jsm;
    this.#js = nc.jetstream();
    void this.#watchStatus();
  }

  async #watchStatus(): Promise<void> {
    for await (const status of this.#nc.status()) {
      if (status.type === Events.Disconnect) this.#connected = false;
      else if (status.type === Events.Reconnect) this.#connected = true;
    }
  }

  /**
   * Connects (reconnecting forever afterwards) with `connectTo`'s servers,
   * credentials and TLS, and makes sure the stream exists. Wrong or missing
   * credentials, TLS and permission failures are typed errors
   * (`AUTHENTICATION`, `TLS`, `PERMISSION_DENIED`); an unreachable server is
   * `IO_ERROR`.
   */
  static async open(connectTo: ConnectionParsed | readonly string[], name: string, timeoutMs: number): Promise<ReplicationLog> {
    // A bare list of servers: no credentials, no TLS.
    const connection: ConnectionParsed = Array.isArray(connectTo) ? { servers: connectTo } : (connectTo as ConnectionParsed);
    const names = logNames(name, 'replication');
    const nc = await connect({ ...natsConnectOptions(connection), servers: [...connection.servers], timeout: timeoutMs, maxReconnectAttempts: -1, reconnectTimeWait: 200, name: `epochdb ${name}` }).catch(async (error: unknown) => {
      // A server that wants a client certificate just closes the connection after the handshake: say so.
      await checkClientCertificate(connection, timeoutMs);
      throw connectFailure(error, connection);
    });
    try {
      const jsm = await nc.jetstreamManager({ timeout: timeoutMs });
      const log = new ReplicationLog(name, names, nc, jsm);
      await log.#ensureStream();
      return log;
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw classifyNatsError(error, connection, `opening the replication log ${JSON.stringify(name)}`) ?? error;
    }
  }

  /** Whether the connection is up now. */
  get connected(): boolean {
    return this.#connected && !this.#nc.isClosed();
  }

  async #ensureStream(): Promise<void> {
    try {
      await this.#jsm.streams.info(this.names.stream);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'PERMISSIONS_VIOLATION') throw error;
      await this.#jsm.streams
        .add({ name: this.names.stream, subjects: [this.names.subject], storage: StorageType.File, retention: RetentionPolicy.Limits, allow_direct: true, duplicate_window: 120_000_000_000 })
        // Another process may have created it meanwhile.
        .catch(async (error: unknown) => {
          await this.#jsm.streams.info(this.names.stream).catch(() => Promise.reject(error));
        });
    }
  }

  /** The newest and oldest messages of the stream. */
  async tail(): Promise<LogTail> {
    const info = await this.#jsm.streams.info(this.names.stream);
    const { last_seq: lastSeq, first_seq: firstSeq, messages } = info.state;
    if (messages === 0) return { seq: lastSeq, version: 0, primary: '', firstSeq: 0, firstVersion: 0 };
    const last = await this.#jsm.streams.getMessage(this.names.stream, { seq: lastSeq });
    const first = firstSeq === lastSeq ? last : await this.#jsm.streams.getMessage(this.names.stream, { seq: firstSeq });
    return { seq: lastSeq, version: messageVersion(last.header), primary: last.header.get(PRIMARY_HEADER), firstSeq, firstVersion: messageFirstVersion(first.header) };
  }

  /** The primary that published the message at `seq`. */
  async primaryAt(seq: number): Promise<string> {
    return (await this.#jsm.streams.getMessage(this.names.stream, { seq })).header.get(PRIMARY_HEADER);
  }

  /** The stream sequence of the first message holding a version above `version` (`tail.seq + 1` if none). Binary search: versions grow with sequences. */
  async seqAfter(version: Version, tail: LogTail): Promise<number> {
    if (tail.firstSeq === 0) return tail.seq + 1;
    let lo = tail.firstSeq;
    let hi = tail.seq + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const message = await this.#jsm.streams.getMessage(this.names.stream, { seq: mid });
      if (messageVersion(message.header) > version) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Publishes `message`, expecting the stream's last sequence to be `expectSeq`; its newest version is its message id. */
  publish(message: RecordMessage, expectSeq: number, timeoutMs: number): Promise<PubAck> {
    return this.#js.publish(this.names.subject, message.data, { msgID: String(message.last), expect: { lastSequence: expectSeq }, headers: message.headers, timeout: timeoutMs });
  }

  /** Reads commit records from stream sequence `seq` on, in order, through an ordered consumer (it resumes by itself across reconnects). */
  async follow(seq: number): Promise<ConsumerMessages> {
    const consumer = await this.#js.consumers.get(this.names.stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: seq });
    // Short pulls: after a server restart, missed heartbeats make the ordered consumer start again within seconds.
    return consumer.consume({ max_messages: 512, expires: 2000 });
  }

  /** Decodes a followed message into its commit records. */
  static records(data: Uint8Array, seq: number): CommitRecord[] {
    return decodeRecordMessage(data, seq);
  }

  /** Removes every message with a sequence below `seq`. */
  async purgeBelow(seq: number): Promise<void> {
    await this.#jsm.streams.purge(this.names.stream, { seq });
  }

  /**
   * Whether the checkpoint object store exists. A reader asks before opening
   * it: opening a missing one creates it, which its credentials do not allow.
   */
  async hasObjects(): Promise<boolean> {
    if (this.#objects !== undefined) return true;
    try {
      await this.#jsm.streams.info(`OBJ_${this.names.bucket}`);
      return true;
    } catch (error) {
      if ((error as { api_error?: { err_code?: number } }).api_error?.err_code === STREAM_NOT_FOUND) return false;
      throw error;
    }
  }

  /** The checkpoint object store (created on first use). */
  async objects(): Promise<ObjectStore> {
    this.#objects ??= await this.#js.views.os(this.names.bucket, { storage: StorageType.File });
    return this.#objects;
  }

  /**
   * The bytes of the object `info` describes (from {@link ReplicationLog.objects}),
   * chunk by chunk, through an ordered pull consumer on the object store's
   * stream: several times faster than `ObjectStore.get`'s push consumer with
   * flow control. The object store's SHA-256 is not computed again: a
   * checkpoint verifies itself (chunk checksums, footer, counts).
   */
  async *objectChunks(info: ObjectInfo): AsyncGenerator<Uint8Array> {
    if (info.size === 0) return;
    const bucket = this.names.bucket;
    const consumer = await this.#js.consumers.get(`OBJ_${bucket}`, { filterSubjects: `$O.${bucket}.C.${info.nuid}` });
    const messages = await consumer.consume({ max_messages: OBJECT_BATCH });
    try {
      for await (const message of messages) {
        if (message.data.length > 0) yield message.data;
        if (message.info.pending === 0) return;
      }
    } finally {
      messages.stop();
    }
  }

  /** Resolves when the connection is closed (by {@link ReplicationLog.close} or for good). */
  get closed(): Promise<void | Error> {
    return this.#nc.closed();
  }

  /** Closes the connection, flushing what it has buffered (for at most a second, and not at all while the server is away). */
  async close(): Promise<void> {
    if (this.#nc.isClosed()) return;
    // Nothing can be flushed to a server that is away: do not wait for it.
    if (!this.#connected) return this.#nc.close();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_DRAIN_MS)));
    await Promise.race([this.#nc.drain().catch(() => undefined), late]);
    clearTimeout(timer);
    if (!this.#nc.isClosed()) await this.#nc.close();
  }
}
