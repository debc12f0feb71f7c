import { gatherRanges } from '@epochdb/core';
import type { CompactionPlan, ValueMemory } from './value-memory.js';

/** Below this live fraction value memory is worth compacting (RAMCloud's cleaner keeps 80-90%). */
export const COMPACTION_TARGET_UTILIZATION = 0.8;

/**
 * Value-memory cleaning as the store offers it: a plan of sparse segments
 * any thread can copy (`gatherRanges`), its install on the main thread, and
 * an inline compaction for when no worker does the copying. One compaction
 * at a time.
 */
export class Compactor {
  readonly #memory: ValueMemory;
  readonly #assertOpen: (operation: string) => void;
  readonly #closed: () => boolean;
  /** A compaction planned and not yet installed. */
  #compacting = false;

  constructor(memory: ValueMemory, assertOpen: (operation: string) => void, closed: () => boolean) {
    this.#memory = memory;
    this.#assertOpen = assertOpen;
    this.#closed = closed;
  }

  /**
   * Which sparse value-memory segments to compact, as a plan any thread can
   * carry out with `gatherRanges` (core) into a buffer of `plan.targetBytes`;
   * `undefined` when utilisation is at or above `targetUtilization` or a
   * compaction is already under way. Install the copy with
   * {@link install} (or drop it with {@link abandon}).
   */
  plan(targetUtilization = COMPACTION_TARGET_UTILIZATION, maxBytes?: number): { plan: CompactionPlan; target: SharedArrayBuffer } | undefined {
    this.#assertOpen('planCompaction');
    if (this.#compacting) return undefined;
    const memory = this.#memory;
    const plan = memory.planCompaction(targetUtilization, maxBytes);
    if (plan === undefined) return undefined;
    let target: SharedArrayBuffer;
    try {
      target = memory.allocateTarget(plan.targetBytes);
    } catch (error) {
      // Out of memory: no compaction now; the plan's sources may be reused again.
      memory.endPlan();
      throw error;
    }
    this.#compacting = true;
    return { plan, target };
  }

  /** Installs a compaction's copy: ids point to the copies, the sparse segments are let go. Returns the records moved. O(records). */
  install(plan: CompactionPlan, target: SharedArrayBuffer): number {
    this.#compacting = false;
    if (this.#closed()) return 0;
    return this.#memory.installCompaction(plan, target);
  }

  /** Forgets a planned compaction whose copy failed (a crashed worker): the next plan starts afresh. */
  abandon(target: SharedArrayBuffer): void {
    this.#compacting = false;
    this.#memory.returnTarget(target);
  }

  /**
   * Compacts value memory on this thread for about `budgetMs` (the store's own
   * upkeep when no worker pool does it). Returns the records moved.
   */
  compactInline(budgetMs = 2, targetUtilization = COMPACTION_TARGET_UTILIZATION): number {
    const deadline = performance.now() + budgetMs;
    let moved = 0;
    for (;;) {
      const planned = this.plan(targetUtilization);
      if (planned === undefined) return moved;
      gatherRanges(planned.plan.sources, planned.target);
      moved += this.install(planned.plan, planned.target);
      if (performance.now() > deadline) return moved;
    }
  }

  /** Whether value memory has fallen below the utilisation worth compacting. */
  needed(targetUtilization = COMPACTION_TARGET_UTILIZATION): boolean {
    return !this.#compacting && this.#memory.utilization < targetUtilization && this.#memory.stats().valueSegments > 1;
  }
}
