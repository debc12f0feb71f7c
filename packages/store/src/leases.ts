import { LeaseExpiredError, type Version } from '@epochdb/core';
import { PinSet } from './pin-set.js';

/** Something whose life is bounded by `snapshotLeaseMs`: an open snapshot or transaction. */
export interface LeaseHolder {
  /** Clock time it was opened at. */
  readonly openedAt: number;
  /** Ends it because its lease ran out. */
  expireLease(): void;
}

/**
 * Who reads the past: the versions open snapshots and transactions pin
 * against version GC, and their leases (`snapshotLeaseMs`), so no reader
 * holds history forever.
 */
export class Leases {
  /** Versions pinned by open snapshots and transactions. */
  readonly pins = new PinSet();
  /** Start versions of open serializable transactions (the commit log is kept back to the oldest). */
  readonly serializableStarts = new PinSet();
  /** Open snapshots and transactions in the order they were opened (so also by `openedAt`). */
  readonly #holders = new Set<LeaseHolder>();
  readonly #leaseMs: number;
  readonly #now: () => number;
  openSnapshots = 0;
  openTransactions = 0;
  expired = 0;

  constructor(leaseMs: number, now: () => number) {
    this.#leaseMs = leaseMs;
    this.#now = now;
  }

  /** Registers an open snapshot or transaction for `snapshotLeaseMs` (nothing when leases are off). */
  hold(holder: LeaseHolder): void {
    if (this.#leaseMs > 0) this.#holders.add(holder);
  }

  /** Unregisters it (released, committed or aborted). */
  drop(holder: LeaseHolder): void {
    this.#holders.delete(holder);
  }

  /** Whether something opened at `openedAt` has outlived its lease. */
  isExpired(openedAt: number): boolean {
    return this.#leaseMs > 0 && this.#now() - openedAt >= this.#leaseMs;
  }

  /**
   * Ends every holder open longer than `snapshotLeaseMs`; returns how many.
   * Complexity: O(ended): holders are in opening order.
   */
  expireAll(): number {
    let ended = 0;
    for (const holder of this.#holders) {
      if (!this.isExpired(holder.openedAt)) break;
      holder.expireLease(); // unregisters itself
      ended++;
    }
    return ended;
  }

  /**
   * Pins `version` for a scan of the live database until `release` is called
   * (the scan ended): its records must not be freed and their ids reused under
   * it. A scan abandoned half way is let go by its lease, like a snapshot, and
   * `check` (run before each step of the scan) then throws `LEASE_EXPIRED`: the
   * versions it would read may be gone.
   */
  pinScan(version: Version, openedAt: number, leaseMs: number): { release: () => void; check: (operation: string) => void } {
    this.pins.add(version);
    let released = false;
    let expired = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.drop(holder);
      this.pins.remove(version);
    };
    const holder: LeaseHolder = {
      openedAt,
      expireLease: () => {
        if (released) return;
        expired = true;
        this.expired++;
        release();
      },
    };
    this.hold(holder);
    const check = (operation: string): void => {
      if (!released && this.isExpired(openedAt)) holder.expireLease();
      if (expired) {
        throw new LeaseExpiredError(`${operation}(): the scan of version ${version} was open longer than snapshotLeaseMs (${leaseMs} ms) and was ended so it could not hold back version GC; start a new scan`);
      }
    };
    return { release, check };
  }

  /** The smallest version an open reader pins. */
  minPinned(): Version | undefined {
    return this.pins.min();
  }
}
