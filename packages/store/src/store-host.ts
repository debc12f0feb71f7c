import type { SyncMode, Version } from '@epochdb/core';
import type { Isolation } from './isolation.js';
import type { LeaseHolder, Leases } from './leases.js';
import type { PendingWrite } from './pending-write.js';
import type { Committed, TransactionCheck } from './commit-types.js';
import { prepareDelete, preparePut, type WriteLimits } from './write-options.js';

/**
 * What a snapshot or transaction may ask of the store that opened it: a
 * narrow interface (as abstract-level's snapshots see only
 * `attachResource`/`detachResource`), so readers never reach the store's
 * internals and the store's public API holds only what users call.
 */
export interface ReaderHost {
  readonly maxKeyBytes: number;
  readonly snapshotLeaseMs: number;
  /** Throws `CLOSED` once the store is closed. */
  assertOpen(operation: string): void;
  /** Validates a run or type tag argument. */
  parseTag(tag: unknown, what: string): string;
  /** Whether something opened at `openedAt` has outlived `snapshotLeaseMs`. */
  leaseExpired(openedAt: number): boolean;
  /** Registers a lease holder / unregisters it. */
  holdLease(holder: LeaseHolder): void;
  dropLease(holder: LeaseHolder): void;
  /** Counts one lease ended. */
  countExpiredLease(): void;
}

/** What a snapshot asks of its store. */
export interface SnapshotHost extends ReaderHost {
  /** The snapshot at `version` was released: unpin it. */
  releaseSnapshot(version: Version): void;
}

/** What a transaction asks of its store. */
export interface TransactionHost extends ReaderHost {
  readonly maxTransactionOps: number;
  readonly maxTransactionBytes: number;
  preparePut(key: unknown, value: unknown, options: unknown, what: string): PendingWrite;
  prepareDelete(key: unknown, options: unknown, what: string): PendingWrite;
  /** Commits the writes atomically (see `MvccStore.commitWrites`). */
  commitWrites(writes: readonly PendingWrite[], check: TransactionCheck, sync: SyncMode | undefined): Committed;
  /** The transaction begun at `start` committed or aborted: unpin it. */
  finishTransaction(start: Version, isolation: Isolation): void;
}

/** The store as {@link makeHost} sees it: its limits and the public calls a host forwards. */
export interface HostedStore extends WriteLimits {
  readonly snapshotLeaseMs: number;
  readonly maxTransactionOps: number;
  readonly maxTransactionBytes: number;
  assertOpen(operation: string): void;
  parseTag(tag: unknown, what: string): string;
  commitWrites(writes: readonly PendingWrite[], check: TransactionCheck, sync: SyncMode | undefined): Committed;
}

/** The host a store hands its snapshots and transactions. `trimLog` drops commits no serializable transaction needs. */
export function makeHost(store: HostedStore, leases: Leases, trimLog: (oldestStart: Version | undefined) => void): SnapshotHost & TransactionHost {
  return {
    maxKeyBytes: store.maxKeyBytes,
    snapshotLeaseMs: store.snapshotLeaseMs,
    maxTransactionOps: store.maxTransactionOps,
    maxTransactionBytes: store.maxTransactionBytes,
    assertOpen: (operation) => store.assertOpen(operation),
    parseTag: (tag, what) => store.parseTag(tag, what),
    leaseExpired: (openedAt) => leases.isExpired(openedAt),
    holdLease: (holder) => leases.hold(holder),
    dropLease: (holder) => leases.drop(holder),
    countExpiredLease: () => void leases.expired++,
    releaseSnapshot: (version) => {
      leases.pins.remove(version);
      leases.openSnapshots--;
    },
    preparePut: (key, value, options, what) => preparePut(store, key, value, options, what),
    prepareDelete: (key, options, what) => prepareDelete(store, key, options, what),
    commitWrites: (writes, check, sync) => store.commitWrites(writes, check, sync),
    finishTransaction: (start, isolation) => {
      leases.pins.remove(start);
      leases.openTransactions--;
      if (isolation === 'serializable') {
        leases.serializableStarts.remove(start);
        trimLog(leases.serializableStarts.min());
      }
    },
  };
}
