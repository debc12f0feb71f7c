import { rm } from 'node:fs/promises';
import { openOptionsSchema, parseArgument, ReadOnlyError, ReplicationError, type Entry, type Version } from '@epochdb/core';
import { writeBackup } from '@epochdb/persist';
import { Follower, parseConnectionOptions, positiveInteger, type Bootstrap, type FollowerHost } from '@epochdb/replicate';
import type { ConnectionOptions, ReplicaEvent, ReplicaLag } from '@epochdb/replicate/api';
import type { BatchOp, ReadApi, ScanOptions, Snapshot } from '@epochdb/store';
import type { Collection } from './collection.js';
import type { CollectionOptions } from './collection-types.js';
import { Database, type DatabaseStats } from './database.js';
import { open, storeFor } from './open.js';
import type { ChangeStream, WatchOptions } from './watch.js';
import type { StandardSchema } from './standard-schema.js';

/** Options of {@link openReplica}; the connection options (`servers`, `user`/`pass`, `token`, `credsFile`, `tls`) are {@link ConnectionOptions}. */
export interface ReplicaOptions extends ConnectionOptions {
  /** The replicated database's name (the primary's `replicate.name`). */
  readonly name: string;
  /** Keep a local WAL and checkpoint here and restart from them, fetching only what was missed (default: memory only). */
  readonly dir?: string;
  /** Versions of history readable with `snapshotAt` behind the newest (default 0). */
  readonly retainVersions?: number;
  /** Connection timeout, ms (default 5000). */
  readonly timeoutMs?: number;
  /** Bootstraps and re-bootstraps (the stream was trimmed past the replica's version). */
  readonly onEvent?: (event: ReplicaEvent) => void;
}

/**
 * Opens a read replica of a database that replicates to NATS JetStream
 * (`open({ dir, replicate: { servers, name } })`): it bootstraps from the
 * newest checkpoint in the object store, then follows the stream. Its state
 * at version v is the primary's at v. Writes reject with `READ_ONLY`.
 *
 * @example
 * const replica = await openReplica({ servers: '127.0.0.1:4222', name: 'orders' });
 * await replica.caughtUp(versionWrittenOnThePrimary, { timeoutMs: 5000 });
 * replica.get('order:1');
 */
export async function openReplica(options: ReplicaOptions): Promise<Replica> {
  const connection = parseConnectionOptions(options as unknown as Record<string, unknown>, 'openReplica()');
  const timeoutMs = positiveInteger(options.timeoutMs, 5000, 'openReplica(): timeoutMs');
  const replica = new Replica(options, await openLocal(options, undefined));
  replica.follower = await Follower.start(connection, options.name, replica.host, timeoutMs).catch(async (error: unknown) => {
    await replica.db.close();
    throw error;
  });
  return replica;
}

const readOnly = (): never => {
  throw new ReadOnlyError('this database is a read replica: write to its primary');
};

/** The replica's local database: empty or recovered from `dir`, or loaded from a checkpoint. */
async function openLocal(options: ReplicaOptions, bootstrap: Bootstrap | undefined): Promise<Database> {
  const common = { ...(options.retainVersions === undefined ? {} : { retainVersions: options.retainVersions }), checkpointOnClose: true };
  let db: Database;
  if (options.dir !== undefined) {
    if (bootstrap !== undefined) {
      await rm(options.dir, { recursive: true, force: true });
      await writeBackup(options.dir, bootstrap.version, bootstrap.entries, bootstrap.structures);
    }
    db = await open({ ...common, dir: options.dir, sync: 'interval' });
  } else if (bootstrap === undefined) {
    db = await open(common);
  } else {
    const parsed = parseArgument(openOptionsSchema, common, 'openReplica()');
    const store = storeFor(parsed);
    store.restore(bootstrap.entries, bootstrap.version, bootstrap.structures);
    db = new Database(store, parsed);
  }
  db.addWriteGate(readOnly);
  return db;
}

/**
 * A read replica: the read API of a {@link Database}, kept up to date from
 * the replication stream. Writes reject with a `ReadOnlyError`. Get one with
 * {@link openReplica}; close it with {@link Replica.close} or `await using`.
 * A re-bootstrap replaces the local state: change streams end and
 * collections must be defined again (see `onEvent`).
 */
export class Replica implements ReadApi, AsyncDisposable {
  readonly #options: ReplicaOptions;
  #db: Database;
  /** @internal Set by {@link openReplica}. */
  follower: Follower | undefined;

  /** Not for direct use: {@link openReplica} makes replicas. */
  constructor(options: ReplicaOptions, db: Database) {
    this.#options = options;
    this.#db = db;
  }

  /** @internal The local database (replaced on re-bootstrap). */
  get db(): Database {
    return this.#db;
  }

  /** @internal What the follower feeds. */
  get host(): FollowerHost {
    const replica = this;
    return {
      // Read through the replica: the database changes on re-bootstrap.
      get version(): Version {
        return replica.#db.version;
      },
      apply: (record) => {
        // Not awaited: the stream, not the replica's WAL, is what a replica can always fetch again.
        // A failed WAL write leaves the local database failed, and reopening fetches what it lost.
        this.#db.applyReplicated(record)?.catch(() => undefined);
      },
      reset: async (bootstrap) => {
        await this.#db.close();
        this.#db = await openLocal(this.#options, bootstrap);
      },
      event: (event) => this.#options.onEvent?.(event),
    };
  }

  /** The newest version applied. */
  get version(): Version {
    return this.#db.version;
  }

  /** The oldest version `snapshotAt` can read. */
  get oldestVersion(): Version {
    return this.#db.oldestVersion;
  }

  /** How far behind the stream the replica is (versions, and ms since the oldest record not applied yet was committed). */
  get lag(): ReplicaLag {
    return this.follower?.lag ?? { versions: 0, ms: 0 };
  }

  /**
   * Resolves once the replica has applied `version` (default: the newest in
   * the stream now): read-your-writes across instances. Rejects with a
   * `ReplicationError` after `timeoutMs` (default 10000).
   */
  async caughtUp(version?: Version, options: { readonly timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = positiveInteger(options.timeoutMs, 10_000, 'caughtUp(): options.timeoutMs');
    const follower = this.follower!;
    const target = version ?? (await follower.newestVersion());
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ReplicationError(`caughtUp(): the replica is at version ${this.version}, not ${target}, after ${timeoutMs} ms${follower.failure === undefined ? '' : ` (following failed: ${follower.failure.message})`}`, false)), timeoutMs);
    });
    try {
      await Promise.race([follower.reached(target), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The value of `key`, or `undefined`. `T` only casts, as in `db.get<T>()`. */
  get<T = unknown>(key: string): T | undefined {
    return this.#db.get<T>(key);
  }

  getEntry(key: string): Entry | undefined {
    return this.#db.getEntry(key);
  }

  has(key: string): boolean {
    return this.#db.has(key);
  }

  scan(options?: ScanOptions): IterableIterator<Entry> {
    return this.#db.scan(options);
  }

  byRun(run: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#db.byRun(run, options);
  }

  byType(type: string, options?: ScanOptions): IterableIterator<Entry> {
    return this.#db.byType(type, options);
  }

  snapshot(): Snapshot {
    return this.#db.snapshot();
  }

  snapshotAt(version: Version): Snapshot {
    return this.#db.snapshotAt(version);
  }

  /** A change feed of what the replica applies (see {@link Database.watch}). */
  watch(options?: WatchOptions): ChangeStream {
    return this.#db.watch(options);
  }

  /** A typed collection for reading (its writes reject with `READ_ONLY`); indexes follow the stream. */
  collection<S extends StandardSchema>(name: string, options: CollectionOptions<S>): Collection<S> {
    return this.#db.collection(name, options);
  }

  stats(): DatabaseStats {
    return this.#db.stats();
  }

  /** Refused: a replica is read-only. */
  put(_key: string, _value: unknown): Promise<Version> {
    return Promise.reject(new ReadOnlyError('put(): this database is a read replica: write to its primary'));
  }

  /** Refused: a replica is read-only. */
  delete(_key: string): Promise<Version> {
    return Promise.reject(new ReadOnlyError('delete(): this database is a read replica: write to its primary'));
  }

  /** Refused: a replica is read-only. */
  batch(_ops: readonly BatchOp[]): Promise<Version> {
    return Promise.reject(new ReadOnlyError('batch(): this database is a read replica: write to its primary'));
  }

  /** Refused: a replica is read-only. */
  transaction(_fn: unknown): Promise<never> {
    return Promise.reject(new ReadOnlyError('transaction(): this database is a read replica: write to its primary'));
  }

  /** Stops following and closes the local database. */
  async close(): Promise<void> {
    await this.follower?.close();
    await this.#db.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
