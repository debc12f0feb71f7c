import type { StructureDefs } from './value-codec.js';

/** A key: a non-empty string, ordered by JavaScript string comparison (UTF-16 code units). */
export type Key = string;

/**
 * A commit version: a positive safe integer from one global, strictly
 * monotonic counter. `0` means "no version" (the key does not exist).
 */
export type Version = number;

/** The version reported for a transaction's own, not yet committed, writes. */
export const UNCOMMITTED_VERSION = -1;

/** A live entry as read from the database, a snapshot or a transaction. Frozen. */
export interface Entry<V = unknown> {
  readonly key: Key;
  readonly value: V;
  /** The version that wrote this value ({@link UNCOMMITTED_VERSION} inside a transaction for its own writes). */
  readonly version: Version;
  /** The run (session / tenant) id the write carried, if any. */
  readonly run?: string | undefined;
  /** The type tag the write carried, if any. */
  readonly type?: string | undefined;
  /** Epoch milliseconds from which the entry is invisible, if it has a TTL. */
  readonly expiresAt?: number | undefined;
}

/** A source of wall-clock time in epoch milliseconds. Inject one with `open({ clock })`. */
export interface Clock {
  now(): number;
}

/** What a commit did to one key, as handed to commit listeners (the WAL, the change feed, replication). */
export type CommitOp =
  | {
      readonly kind: 'put';
      readonly key: Key;
      /** The value as msgpackr bytes (see `encodeValue`). */
      readonly encoded: Uint8Array;
      readonly run?: string;
      readonly type?: string;
      readonly expiresAt?: number;
    }
  | { readonly kind: 'delete'; readonly key: Key }
  /** A delete made by the TTL cleaner for an entry that had expired. */
  | { readonly kind: 'expire'; readonly key: Key };

/**
 * One committed batch or transaction: everything needed to replay it. Commit
 * records are emitted in version order, synchronously with the commit, and a
 * store can be rebuilt from them with `MvccStore.applyRecord`.
 */
export interface CommitRecord {
  readonly version: Version;
  /** Commit time (epoch ms) from the database clock. */
  readonly time: number;
  readonly ops: readonly CommitOp[];
  /**
   * Shared structures (value encoding record definitions) first used by this
   * commit or an earlier one and not yet in any record: replay defines them
   * before decoding any value of this record. Absent when there are none.
   */
  readonly structures?: StructureDefs | undefined;
}

/** One live entry as a checkpoint stores it: the value stays encoded. */
export interface CheckpointEntry {
  readonly key: Key;
  /** The value as msgpackr bytes (see `encodeValue`). */
  readonly encoded: Uint8Array;
  readonly version: Version;
  readonly run?: string | undefined;
  readonly type?: string | undefined;
  readonly expiresAt?: number | undefined;
}

/**
 * A run of checkpoint entries in key order, column by column: what a
 * checkpoint chunk decodes to without an object or a buffer per entry. Row
 * `i`'s value is `bytes[valueStarts[i], valueStarts[i + 1])`.
 */
export interface CheckpointChunk {
  /** Rows in the chunk. */
  readonly length: number;
  readonly keys: readonly Key[];
  readonly versions: ArrayLike<Version>;
  /** Every row's value bytes, one after another. */
  readonly bytes: Uint8Array;
  /** `length + 1` offsets into {@link bytes}. */
  readonly valueStarts: ArrayLike<number>;
  /** Each row's run tag, or `undefined` when no row of the chunk has one. */
  readonly runs: readonly (string | undefined)[] | undefined;
  /** Each row's type tag, or `undefined` when no row of the chunk has one. */
  readonly types: readonly (string | undefined)[] | undefined;
  /** Each row's expiry (epoch ms; `NaN`: none), or `undefined` when no row of the chunk expires. */
  readonly expiresAt: ArrayLike<number> | undefined;
}

/** Row `row`'s expiry in `chunk` (epoch ms), or `undefined` when it has none. */
export function chunkExpiresAt(chunk: CheckpointChunk, row: number): number | undefined {
  const expiry = chunk.expiresAt?.[row];
  return expiry === undefined || Number.isNaN(expiry) ? undefined : expiry;
}

/**
 * Checkpoint entries that can also be read a chunk at a time, in columns
 * (the fast path of loading a store). Both views yield the same rows in the
 * same order.
 */
export interface ChunkedEntries extends Iterable<CheckpointEntry> {
  chunks(): Iterable<CheckpointChunk>;
}
