import { openOptionsSchema, systemClock, type Clock, type ValueCodec, type Version } from '@epochdb/core';
import type { ValueMemoryStats } from './value-memory.js';

/** Options of an {@link MvccStore}: every field required (defaults live in `openOptionsSchema`, see {@link DEFAULT_STORE_OPTIONS}). */
export interface MvccStoreOptions {
  /** Time source for TTL. */
  readonly clock: Clock;
  /** Longest key in UTF-8 bytes. */
  readonly maxKeyBytes: number;
  /** Largest encoded value in bytes. */
  readonly maxValueBytes: number;
  /** Versions of history kept readable behind the newest even when no snapshot pins them. */
  readonly retainVersions: number;
  /** Most operations one commit (transaction or batch) may hold. */
  readonly maxTransactionOps: number;
  /** Most encoded bytes one commit may hold. */
  readonly maxTransactionBytes: number;
  /** How long a snapshot or transaction may stay open, ms, by `clock` (0: forever). */
  readonly snapshotLeaseMs: number;
  /** Memory budget of the stored data in bytes (value memory exactly, the heap by estimate); commits past it are refused (0: none). */
  readonly maxMemoryBytes: number;
  /** Ceiling of the store's estimated heap bytes, below V8's heap limit; commits past it are refused (0: none). */
  readonly maxHeapBytes: number;
  /** Bytes per value-memory segment. */
  readonly segmentBytes: number;
  /** Frozen entries kept for hot keys (0: every read decodes a fresh frozen copy). */
  readonly valueCacheEntries: number;
  /** Where value-memory segments come from (default `new SharedArrayBuffer`); tests inject allocation failures. */
  readonly allocateSegment?: ((bytes: number) => SharedArrayBuffer) | undefined;
  /** Encodes and decodes values (the database's shared structure table); default a new, empty one. */
  readonly codec?: ValueCodec | undefined;
}

/** `open()`'s defaults, from the one place they are defined (`openOptionsSchema` in core). */
const OPEN_DEFAULTS = openOptionsSchema.parse({});

/**
 * The options a bare `new MvccStore()` gets (tests, tools): `open()`'s
 * defaults, except the memory budget, which `open()` derives from the machine
 * and a bare store does without.
 */
export const DEFAULT_STORE_OPTIONS: MvccStoreOptions = Object.freeze({
  clock: systemClock,
  maxKeyBytes: OPEN_DEFAULTS.maxKeyBytes,
  maxValueBytes: OPEN_DEFAULTS.maxValueBytes,
  retainVersions: OPEN_DEFAULTS.retainVersions,
  maxTransactionOps: OPEN_DEFAULTS.maxTransactionOps,
  maxTransactionBytes: OPEN_DEFAULTS.maxTransactionBytes,
  snapshotLeaseMs: OPEN_DEFAULTS.snapshotLeaseMs,
  maxMemoryBytes: 0,
  maxHeapBytes: 0,
  segmentBytes: OPEN_DEFAULTS.valueSegmentBytes,
  valueCacheEntries: OPEN_DEFAULTS.valueCacheEntries,
});

/** Counters describing the store. */
export interface StoreStats extends ValueMemoryStats {
  /** Newest committed version. */
  readonly version: Version;
  /** Oldest version `snapshotAt` can read (the GC horizon). */
  readonly oldestVersion: Version;
  /** Keys whose newest version is a value (including expired ones not yet reclaimed). */
  readonly keys: number;
  /** Versions held in memory: newest values, tombstones and retained history. */
  readonly storedVersions: number;
  readonly openSnapshots: number;
  readonly openTransactions: number;
  /** Entries with a TTL that the cleaner has not reclaimed yet. */
  readonly ttlEntries: number;
  /** Expired entries reclaimed by the TTL cleaner so far. */
  readonly reclaimedExpired: number;
  /** Old versions reclaimed by version GC so far. */
  readonly collectedVersions: number;
  /** Superseded versions waiting for the GC horizon to pass them. */
  readonly pendingGc: number;
  /** Live value-memory bytes plus the estimated heap bytes of keys and indexes: what `maxMemoryBytes` is checked against. */
  readonly memoryBytes: number;
  /** Estimated heap bytes of keys, indexes and queues (the part of `memoryBytes` on the V8 heap). */
  readonly heapBytes: number;
  /** The memory budget (0: none). */
  readonly maxMemoryBytes: number;
  /** Snapshots and transactions ended because they outlived `snapshotLeaseMs`. */
  readonly leasesExpired: number;
  /** Object shapes in the shared structure table (values of these shapes are stored as a structure id and field values). */
  readonly structures: number;
  /**
   * Keys in the hash index point reads use (like the B-tree, it also holds
   * deleted keys whose tombstones GC has not collected yet). Fewer than the
   * B-tree holds only after a reopen, while maintenance fills it in slices; a
   * read of a key not in it yet descends the B-tree and adds it.
   */
  readonly headIndexKeys: number;
  readonly valueCacheEntries: number;
  readonly valueCacheHits: number;
  readonly valueCacheMisses: number;
}

/** `options` without the fields set to `undefined` (so they take the defaults). */
export function definedOnly<T extends object>(options: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [name, value] of Object.entries(options)) if (value !== undefined) (out as Record<string, unknown>)[name] = value;
  return out;
}
