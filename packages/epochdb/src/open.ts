import { CorruptionError, defaultMaxHeapBytes, EpochError, InvalidOptionError, IoError, openOptionsSchema, parseArgument, ValueCodec, type Clock, type FileSystem, type OpenOptionsParsed, type RecoveryEvent, type SyncMode } from '@epochdb/core';
import type { z } from 'zod';
import { nodeFileSystem, Persistence, recoverReadOnly, WalTail, type Recovered } from '@epochdb/persist';
import { parseReplicateOptions } from '@epochdb/replicate';
import type { ReplicateOptions } from '@epochdb/replicate/api';
import { MvccStore } from '@epochdb/store';
import { checkDirectory } from './check-directory.js';
import { Database, type RecoveryReport } from './database.js';
import { migrateIndexDefinitions } from './index-definitions.js';
import { startReplication } from './replication.js';
import { WalFollower, type FollowSink } from './wal-follower.js';

/** Options of {@link open}. Unknown names are rejected. */
export interface OpenOptions {
  /** Time source for TTL (default `Date.now`); inject one in tests. */
  readonly clock?: Clock;
  /** Longest key in UTF-8 bytes (default 1024, at most 65535). */
  readonly maxKeyBytes?: number;
  /** Largest encoded value in bytes (default 16 MiB). */
  readonly maxValueBytes?: number;
  /** Versions of history readable with `snapshotAt` behind the newest, even when no snapshot pins them (default 0). */
  readonly retainVersions?: number;
  /** Most operations one transaction or batch may hold (default 100,000); more is `LIMIT_EXCEEDED`. */
  readonly maxTransactionOps?: number;
  /** Most encoded bytes one transaction or batch may hold (default 64 MiB, at most 1 GiB); more is `LIMIT_EXCEEDED`. */
  readonly maxTransactionBytes?: number;
  /**
   * How long a snapshot or transaction may stay open, in ms by `clock` (default 60000; 0: forever).
   * An older one is ended so it cannot hold back version GC; using it throws `LEASE_EXPIRED`.
   */
  readonly snapshotLeaseMs?: number;
  /**
   * Memory budget of the stored data, bytes (default: half the machine's memory; 0: none): value memory
   * counted exactly, keys and indexes on the heap by estimate. A commit that would pass it, or pass
   * 60% of V8's heap limit with keys and indexes, is refused with `LIMIT_EXCEEDED`. See `stats().memoryBytes`.
   */
  readonly maxMemoryBytes?: number;
  /** Bytes per value-memory segment, off the V8 heap (default 8 MiB; a multiple of 8, at least 4096). */
  readonly valueSegmentBytes?: number;
  /** Decoded, frozen entries kept for hot keys (default 0: every read decodes a fresh frozen copy). */
  readonly valueCacheEntries?: number;
  /**
   * Object shapes the shared structure table takes before new shapes are stored self-describing
   * (default 4096, at most 8160). Values of a known shape carry only a structure id: smaller, and
   * decoded by a compiled reader. A table written with a higher limit still reads in full.
   */
  readonly maxStructures?: number;
  /** Worker threads for checkpoints and `verify()` (default 1; 0 runs them inline). Also settable as `maintenance.workers`. */
  readonly workers?: number;
  /** Directory to persist to (created if missing, but not its parents: see `createParents`); without it the database lives in memory only. */
  readonly dir?: string;
  /** Create missing parent directories of `dir` too (default false, so that a typo in a path does not make a new tree). */
  readonly createParents?: boolean;
  /** Default durability of writes (default `'always'`); overridable per write. */
  readonly sync?: SyncMode;
  /** fdatasync period in `'interval'` mode, ms (default 1000). */
  readonly syncIntervalMs?: number;
  /** Checkpoint automatically once the WAL since the last checkpoint passes this many bytes (default 64 MiB). Also settable as `maintenance.checkpointWalBytes`. */
  readonly checkpointWalBytes?: number;
  /** WAL segment size (default 16 MiB). */
  readonly walSegmentBytes?: number;
  /**
   * Checkpoint in `close()`. `'auto'` (default): unless the newest checkpoint
   * is over 16 MiB and the WAL since it smaller than it, in which case the
   * WAL stays (flushed) and the next open replays it: a closing checkpoint
   * rewrites the whole file. `true`: always; `false`: never. An automatic
   * checkpoint still running at close is cancelled either way.
   */
  readonly checkpointOnClose?: boolean | 'auto';
  /** `'strict'` (default): damage fails open(). `'salvage'`: keep the longest consistent prefix, move damaged files aside. */
  readonly recovery?: 'strict' | 'salvage';
  /** Recovery progress and events (torn tail truncated, checkpoint fallback, files moved aside). */
  readonly onRecoveryEvent?: (event: RecoveryEvent) => void;
  /** The file system to persist through (default: the real one); for fault-injection and simulation tests. */
  readonly fileSystem?: FileSystem;
  /**
   * Ship every commit to a NATS JetStream stream for read replicas
   * ({@link openReplica}) and point-in-time restore. Needs `dir`: the WAL is
   * what is shipped. See README "Running more than one instance".
   */
  readonly replicate?: ReplicateOptions;
  /**
   * Open an existing `dir` without taking its lock and without writing a byte
   * (no new WAL segment, no checkpoint, no truncation: recovery reads what is
   * there), so another process may hold and write it; sees its newest commit
   * in the files. Writes reject with `READ_ONLY`; the TTL cleaner does not run
   * (expired entries are invisible all the same). Not with `recovery: 'salvage'`.
   */
  readonly readOnly?: boolean;
  /** With `readOnly`: keep up with the writer by reading its WAL as it grows (every `followIntervalMs`, default 100). */
  readonly follow?: boolean;
  /** With `follow`: how often the WAL is looked at, in ms (default 100). */
  readonly followIntervalMs?: number;
  /** Background maintenance: TTL cleaning and version GC in main-thread slices, checkpoints and verification on workers. */
  readonly maintenance?: {
    /** How often a maintenance slice starts, in ms (default 1000; 0 turns the timer off). */
    readonly intervalMs?: number;
    /** Longest one slice may hold the event loop, in ms (default 2). */
    readonly sliceMs?: number;
    /** A commit that leaves this many superseded versions queued for GC, or finds expired entries waiting, starts a slice at once (default 10000; 0: timer only). */
    readonly gcPressureVersions?: number;
    /** After a failed automatic checkpoint, retry after this many ms, doubling up to 60 s (default 5000). */
    readonly checkpointRetryMs?: number;
    /** Same as the top-level `workers`. */
    readonly workers?: number;
    /** Same as the top-level `checkpointWalBytes`. */
    readonly checkpointWalBytes?: number;
  };
}

/**
 * Opens a database: in memory, or persisted to `dir` (created if missing,
 * recovered if it exists; locked against a second open).
 *
 * @example
 * const db = await open({ dir: './data' });
 * await db.put('user:1', { name: 'Ada' }, { type: 'user', ttl: 60_000 });
 * db.get('user:1'); // { name: 'Ada' }
 */
export async function open(options: OpenOptions = {}): Promise<Database> {
  // `replicate` is checked by its own package; the rest (or whatever was passed, if not an object) by the schema.
  const { replicate, ...rest } = typeof options === 'object' && options !== null ? options : ({} as OpenOptions);
  const replication = replicate === undefined ? undefined : parseReplicateOptions(replicate);
  const parsed = parseArgument(openOptionsSchema, typeof options === 'object' && options !== null ? rest : options, 'open(): options');
  if (replication !== undefined && parsed.dir === undefined) throw new InvalidOptionError('open(): options.replicate needs options.dir: the write-ahead log is what is shipped');
  const store = storeFor(parsed);
  if (parsed.dir === undefined) return new Database(store, parsed);
  if (parsed.readOnly) {
    if (replication !== undefined) throw new InvalidOptionError('open(): options.replicate ships the WAL of a database that writes: not with readOnly');
    return openReadOnly(store, parsed, parsed.dir);
  }
  await checkDirectory(parsed.fileSystem ?? nodeFileSystem, parsed.dir, parsed.createParents);
  const { persistence, recovered } = await Persistence.open({
    dir: parsed.dir,
    fs: parsed.fileSystem,
    sync: parsed.sync,
    syncIntervalMs: parsed.syncIntervalMs,
    walSegmentBytes: parsed.walSegmentBytes,
    checkpointWalBytes: parsed.checkpointWalBytes,
    recovery: parsed.recovery,
    onRecoveryEvent: parsed.onRecoveryEvent,
    historyVersions: parsed.retainVersions,
  });
  try {
    load(store, recovered, parsed.dir);
  } catch (error) {
    await persistence.close();
    throw error;
  }
  const db = new Database(store, parsed, persistence, reportOf(recovered));
  // Salvage and checkpoint fallback leave state that only a new checkpoint makes whole.
  if (recovered.needsCheckpoint) {
    try {
      await db.checkpointFromMemory();
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
  }
  try {
    await migrateIndexDefinitions(store);
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
  if (replication !== undefined) await startReplication(db, store, parsed.dir, replication);
  return db;
}

/** @internal The store `open()` builds for `parsed` options (a replica loading a checkpoint into memory builds the same). */
export function storeFor(parsed: OpenOptionsParsed): MvccStore {
  return new MvccStore({
    ...(parsed.clock === undefined ? {} : { clock: parsed.clock }),
    maxKeyBytes: parsed.maxKeyBytes,
    maxValueBytes: parsed.maxValueBytes,
    retainVersions: parsed.retainVersions,
    maxTransactionOps: parsed.maxTransactionOps,
    maxTransactionBytes: parsed.maxTransactionBytes,
    snapshotLeaseMs: parsed.snapshotLeaseMs,
    maxMemoryBytes: parsed.maxMemoryBytes,
    maxHeapBytes: parsed.maxMemoryBytes === 0 ? 0 : defaultMaxHeapBytes(),
    segmentBytes: parsed.valueSegmentBytes,
    valueCacheEntries: parsed.valueCacheEntries,
    codec: new ValueCodec({ maxStructures: parsed.maxStructures }),
  });
}

/** {@link open} with `readOnly`: recovery that changes nothing, no lock, no WAL writer; with `follow`, a {@link WalFollower}. */
async function openReadOnly(store: MvccStore, parsed: OpenOptionsParsed, dir: string): Promise<Database> {
  const fs = parsed.fileSystem ?? nodeFileSystem;
  let recovered: Recovered;
  try {
    recovered = await recoverReadOnly({ fs, dir, onEvent: parsed.onRecoveryEvent, historyVersions: parsed.retainVersions });
  } catch (error) {
    if (error instanceof EpochError) throw error;
    throw new IoError(`cannot open database directory ${dir} read-only: ${(error as Error).message}`, { cause: error });
  }
  load(store, recovered, dir);
  const db = new Database(store, parsed, undefined, reportOf(recovered));
  if (parsed.follow) {
    const sink: FollowSink = { applyRecord: (record) => void db.applyReplicated(record), applyCheckpoint: (record) => db.applySkipped(record) };
    db.attachFollower(new WalFollower(store, new WalTail(fs, dir, recovered.tail, recovered.version), parsed.followIntervalMs, sink));
  }
  return db;
}

/** Loads what recovery read into the (empty) store. */
function load(store: MvccStore, recovered: Recovered, dir: string): void {
  try {
    store.load(recovered.checkpointEntries, recovered.checkpointVersion, recovered.checkpointStructures, recovered.records);
  } catch (error) {
    // Bytes that passed their checksums but do not load are damage all the same. Values are
    // not decoded here (they stay encoded until first read, so reopen costs reading,
    // checksumming and building the tree): one that does not decode is a CorruptionError
    // when read, and verify() reports it.
    throw new CorruptionError(`recovered data does not load: ${(error as Error).message}`, { file: dir, offset: 0, lastGoodVersion: store.version }, { cause: error });
  }
}

/** The {@link RecoveryReport} of what recovery read. */
function reportOf(recovered: Recovered): RecoveryReport {
  return {
    checkpointVersion: recovered.checkpointVersion,
    checkpointEntries: recovered.checkpointEntries.length,
    replayedRecords: recovered.records.length,
    events: recovered.events.filter((event) => event.type !== 'progress'),
  };
}

// `OpenOptions` is written by hand for its doc comments; `openOptionsSchema` (core) is what checks
// them at run time. They must agree exactly: an option in one and not the other, another type, or
// another optionality fails the type check here. (`replicate` is checked by its own package.)
type Normalized<T> = { -readonly [K in keyof T]-?: NormalizedValue<Exclude<T[K], undefined>> };
type NormalizedValue<V> = V extends (...args: never[]) => unknown ? V : V extends Clock | FileSystem ? V : V extends object ? Normalized<V> : V;
type OptionalKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? K : never }[keyof T];
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type HandWritten = Omit<OpenOptions, 'replicate'>;
type Parsed = z.input<typeof openOptionsSchema>;
true satisfies Same<Normalized<HandWritten>, Normalized<Parsed>>;
true satisfies Same<OptionalKeys<HandWritten>, OptionalKeys<Parsed>>;
true satisfies Same<OptionalKeys<NonNullable<HandWritten['maintenance']>>, OptionalKeys<NonNullable<Parsed['maintenance']>>>;
