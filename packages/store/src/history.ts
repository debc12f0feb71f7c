import { InvalidOptionError, VersionUnavailableError, type Version } from '@epochdb/core';
import type { Leases } from './leases.js';

/**
 * Which past versions the store can still read: the GC horizon is the oldest
 * version an open reader pins or the retention window (`retainVersions`)
 * keeps, whichever is older, and never below the floor of what was ever in
 * memory (a checkpoint loads only the newest version of each key).
 */
export class History {
  readonly #retainVersions: number;
  readonly #leases: Leases;
  readonly #state: { readonly version: Version };
  /** Versions below this were never in memory (loaded from a checkpoint without history). */
  floor: Version = 0;

  constructor(retainVersions: number, leases: Leases, state: { readonly version: Version }) {
    this.#retainVersions = retainVersions;
    this.#leases = leases;
    this.#state = state;
  }

  /** The GC horizon: versions below it (and not newest) may be collected. Complexity: O(1). */
  horizon(): Version {
    const pinned = this.#leases.minPinned();
    const retained = Math.max(this.#state.version - this.#retainVersions, this.floor);
    return pinned === undefined ? retained : Math.min(pinned, retained);
  }

  /** The oldest version a snapshot can be opened at. */
  oldest(): Version {
    return Math.max(0, this.horizon());
  }

  /** Nothing older than the newest version can be read: superseded versions can go at once. */
  eager(): boolean {
    return this.#retainVersions === 0 && this.#leases.pins.size === 0;
  }

  /** Throws unless `version` can be read: a non-negative integer between {@link oldest} and the current version. */
  assertReadable(version: Version): void {
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new InvalidOptionError(`snapshotAt(): version must be a non-negative integer, got ${typeof version === 'string' ? JSON.stringify(version) : String(version)}`);
    }
    if (version > this.#state.version) {
      throw new VersionUnavailableError(`snapshotAt(): version ${version} is newer than the database (version ${this.#state.version})`);
    }
    if (version < this.oldest()) {
      // The database says which of the reasons applies (packages/epochdb/src/history-gone.ts).
      throw new VersionUnavailableError(
        `snapshotAt(): version ${version} is older than the oldest retained version ${this.oldest()} (history below it was garbage-collected; pin it with an open snapshot or set retainVersions)`,
      );
    }
  }
}
