import type { Clock } from '@epochdb/core';
import type { Committed } from './commit-types.js';
import type { PendingWrite } from './pending-write.js';
import type { TtlIndex } from './ttl-index.js';
import { BUDGET_CHECK_EVERY, type VersionChains } from './version-chains.js';
import type { Versions } from './versions.js';

/**
 * The most expired entries one cleaning commit deletes. A slice commits as
 * many of these as fit its budget; small commits keep the overshoot past the
 * budget to one commit's work (about a millisecond).
 */
const MAX_EXPIRED_PER_COMMIT = 128;
/** The most one cleaning slice reclaims, whatever its clock says (a backstop for a stalled or faked clock). */
const MAX_EXPIRED_PER_SLICE = 4096;

/**
 * The TTL cleaner: finds expired entries through the TTL index and commits
 * their deletes as versioned `expire` writes, through the normal commit path
 * (so the WAL and snapshots agree on when a key went away).
 */
export class TtlCleaner {
  readonly #ttl: TtlIndex;
  readonly #chains: VersionChains;
  readonly #versions: Versions;
  readonly #clock: Clock;
  readonly #commit: (writes: readonly PendingWrite[]) => Committed;
  /** Expired entries reclaimed so far. */
  reclaimed = 0;

  constructor(ttl: TtlIndex, chains: VersionChains, versions: Versions, clock: Clock, commit: (writes: readonly PendingWrite[]) => Committed) {
    this.#ttl = ttl;
    this.#chains = chains;
    this.#versions = versions;
    this.#clock = clock;
    this.#commit = commit;
  }

  /**
   * Reclaims expired entries as versioned `expire` deletes, in commits of at
   * most 128 keys, for about `budgetMs` (finding and committing both count).
   * Deletes a key only if it is still at the version that was found expired.
   * Returns how many were reclaimed. Complexity: O(expired found · log n).
   */
  reclaimExpired(budgetMs: number): number {
    const deadline = performance.now() + budgetMs;
    let reclaimed = 0;
    for (;;) {
      const found = this.#findExpired(deadline);
      if (found.length === 0) break;
      const { record, durable } = this.#commit(found);
      // Nobody awaits the cleaner's commit. If persisting it fails, the persistence layer
      // has already turned the database read-only and reports it; an unhandled rejection
      // here would only kill the process.
      durable?.catch(() => undefined);
      this.reclaimed += record.ops.length;
      reclaimed += record.ops.length;
      if (found.length < MAX_EXPIRED_PER_COMMIT || reclaimed >= MAX_EXPIRED_PER_SLICE || performance.now() > deadline) break;
    }
    return reclaimed;
  }

  /** Up to {@link MAX_EXPIRED_PER_COMMIT} keys still at the version the TTL index found expired, in expiry order. */
  #findExpired(deadline: number): PendingWrite[] {
    const now = this.#clock.now();
    const found: PendingWrite[] = [];
    let visited = 0;
    for (const [key, version] of this.#ttl.due(now)) {
      const head = this.#chains.heads.get(key);
      if (head !== undefined && this.#versions.version(head) === version && this.#versions.isExpiredAt(head, now)) {
        found.push({ kind: 'expire', key, seenVersion: version });
        if (found.length >= MAX_EXPIRED_PER_COMMIT) break;
      }
      if (++visited % BUDGET_CHECK_EVERY === 0 && performance.now() > deadline) break;
    }
    return found;
  }
}
