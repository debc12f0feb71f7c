import type { CommitRecord, Entry, SyncMode, Version } from '@epochdb/core';
import type { RangeRead } from './commit-log.js';
import type { Isolation } from './isolation.js';
import type { PendingWrite } from './pending-write.js';

/** What the writer asked for besides the record itself. */
export interface CommitContext {
  /** The durability the write asked for (`put(k, v, { sync })`), if it did. */
  readonly sync: SyncMode | undefined;
}

/**
 * Called synchronously, in version order, with every commit; may return a
 * promise the write's acknowledgement waits for (durability). Must not throw.
 */
export type CommitListener = (record: CommitRecord, context: CommitContext) => void | Promise<void>;

/** One key's change in a commit, as `MvccStore.onApply` reports it. */
export interface AppliedChange {
  readonly key: string;
  readonly kind: 'put' | 'delete' | 'expire';
  /**
   * The tags of the key's newest entry before the commit (`undefined` if
   * none; it may have expired already). Tags only: the old value is never
   * decoded on the commit path.
   */
  readonly before: { readonly run?: string; readonly type?: string } | undefined;
  /** The entry the commit wrote (`undefined` for a delete or expiry). */
  readonly after: Entry | undefined;
}

/** Called synchronously with every commit's changes, after they are applied and visible. Must not throw. */
export type ApplyListener = (version: Version, time: number, changes: readonly AppliedChange[]) => void;

/** Called with a commit's writes (one per key, the last one wins) before anything changes; throwing refuses the commit. */
export type CommitValidator = (writes: readonly PendingWrite[], now: number) => void;

/** What a synchronous commit produced. */
export interface Committed {
  readonly version: Version;
  readonly record: CommitRecord;
  /** Settles when every commit listener is done with the record (undefined: nothing to wait for). */
  readonly durable: Promise<void> | undefined;
}

/** Conflict checks a transaction's commit must pass. */
export interface TransactionCheck {
  readonly start: Version;
  /** The transaction's clock reading: what had expired by then was already invisible to it. */
  readonly now: number;
  readonly isolation: Isolation;
  readonly readKeys: ReadonlySet<string> | undefined;
  readonly ranges: readonly RangeRead[] | undefined;
}
