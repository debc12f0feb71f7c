import { gatherRanges as gatherInline, type GatherSource, type MaintenanceOptionsParsed } from '@epochdb/core';
import type { MvccStore } from '@epochdb/store';

/** Copies byte ranges into a shared target off the main thread (the worker pool's `gatherRanges`); resolves to the worker's time in ms. */
export type RangeCopier = (sources: readonly GatherSource[], target: SharedArrayBuffer) => Promise<number>;

/** Counters of the background maintenance. */
export interface MaintenanceStats {
  /** Maintenance slices run (by timer or by pressure). */
  readonly maintenancePasses: number;
  /** Slices started by pressure (a commit found work waiting) rather than by the timer. */
  readonly pressurePasses: number;
  /** Slices that threw; the error of the latest is in `lastMaintenanceError`. */
  readonly maintenanceErrors: number;
  readonly lastMaintenanceError: string | undefined;
  /** Value-memory compactions installed (their records copied on a worker). */
  readonly compactions: number;
  /** Main-thread time spent planning and installing compactions, ms. */
  readonly compactionMainMs: number;
  /** Worker time spent copying records for compactions, ms. */
  readonly compactionWorkerMs: number;
  /** Main-thread time of every maintenance slice (TTL cleaning, lease expiry, version GC), ms. */
  readonly sliceMs: number;
}

/** Live bytes one compaction moves at most: its install (one id swap per record) stays within a slice. */
const COMPACTION_BYTES = 1024 * 1024;

/** Commits between two looks at the TTL index by the pressure check (the GC queue length is looked at on every commit). */
const EXPIRY_CHECK_EVERY = 64;

/**
 * Runs TTL cleaning, lease expiry and version GC by itself, on the main thread, in slices, and
 * value-memory compaction with its copying on the worker pool:
 * a timer every `intervalMs`, or a commit that finds work piling up
 * (`gcPressureVersions` superseded versions queued, or expired entries
 * waiting), starts a slice of at most about `sliceMs`; while work remains,
 * further slices follow via `setImmediate`, so the event loop gets a turn
 * between slices. Each slice is driven by the TTL index and the GC queue, so
 * it costs O(work done), not O(store). Timers are unref'd: they never keep the
 * process alive.
 */
export class Maintenance {
  readonly #store: MvccStore;
  readonly #options: MaintenanceOptionsParsed;
  #interval: NodeJS.Timeout | undefined;
  #followUp: NodeJS.Immediate | undefined;
  #detach: (() => void) | undefined;
  #inSlice = false;
  #commits = 0;
  #passes = 0;
  #pressurePasses = 0;
  #errors = 0;
  #lastError: string | undefined;
  readonly #copy: RangeCopier | undefined;
  readonly #reclaimsExpired: boolean;
  #compacting = false;
  #compactions = 0;
  #compactionMainMs = 0;
  #compactionWorkerMs = 0;
  #sliceMs = 0;

  /**
   * `copy` does the copying half of value-memory compaction (on the worker pool); without it, compaction runs in the slice.
   * `reclaimsExpired: false` leaves expired entries alone (a read-only database cannot commit their deletes).
   */
  constructor(store: MvccStore, options: MaintenanceOptionsParsed, copy?: RangeCopier, reclaimsExpired = true) {
    this.#store = store;
    this.#options = options;
    this.#copy = copy;
    this.#reclaimsExpired = reclaimsExpired;
  }

  /** Starts the timer (unless `intervalMs` is 0) and the pressure check on commits (unless `gcPressureVersions` is 0). */
  start(): void {
    if (this.#options.intervalMs > 0 && this.#interval === undefined) {
      // A chain of follow-up slices already running is the timer's work being done: starting
      // another chain beside it would double the main thread's share with every tick.
      this.#interval = setInterval(() => this.#followUp === undefined && this.#slice(), this.#options.intervalMs).unref();
    }
    if (this.#options.gcPressureVersions > 0 && this.#detach === undefined) {
      this.#detach = this.#store.onCommit(() => this.#onCommit());
    }
  }

  /** Stops the timer, the pressure check and any follow-up slice. */
  stop(): void {
    clearInterval(this.#interval);
    this.#interval = undefined;
    this.#detach?.();
    this.#detach = undefined;
    if (this.#followUp !== undefined) clearImmediate(this.#followUp);
    this.#followUp = undefined;
  }

  stats(): MaintenanceStats {
    return {
      maintenancePasses: this.#passes,
      pressurePasses: this.#pressurePasses,
      maintenanceErrors: this.#errors,
      lastMaintenanceError: this.#lastError,
      compactions: this.#compactions,
      compactionMainMs: this.#compactionMainMs,
      compactionWorkerMs: this.#compactionWorkerMs,
      sliceMs: this.#sliceMs,
    };
  }

  /** A commit happened: schedule a slice at once if work is piling up. Cheap; never throws. */
  #onCommit(): undefined {
    if (this.#inSlice || this.#followUp !== undefined) return undefined;
    const piling = this.#store.pendingGc >= this.#options.gcPressureVersions && this.#store.hasGarbage();
    if (piling || (++this.#commits % EXPIRY_CHECK_EVERY === 0 && this.#hasExpired())) {
      this.#pressurePasses++;
      this.#followUp = setImmediate(() => this.#slice()).unref();
    }
    return undefined;
  }

  /** One bounded slice: reclaim expired entries first, then spend what is left of the budget on version GC. */
  #slice(): void {
    this.#followUp = undefined;
    if (this.#store.closed) return;
    this.#passes++;
    this.#inSlice = true;
    const { sliceMs } = this.#options;
    const started = performance.now();
    // Each stage on its own: a cleaner that cannot commit (a read-only database, say) must not
    // also stop lease expiry and version GC. A failed stage schedules no follow-up (the timer
    // tries again), so a persistent failure never spins.
    let failed = false;
    const stage = (work: () => void): void => {
      try {
        work();
      } catch (error) {
        failed = true;
        this.#errors++;
        this.#lastError = error instanceof Error ? error.message : String(error);
      }
    };
    try {
      // Snapshots and transactions past snapshotLeaseMs stop pinning the GC horizon.
      stage(() => this.#store.expireLeases());
      stage(() => {
        if (this.#hasExpired()) this.#store.reclaimExpired(sliceMs);
      });
      stage(() => {
        const left = Math.max(sliceMs - (performance.now() - started), sliceMs / 4);
        if (this.#store.hasGarbage()) this.#store.collectGarbage(left);
      });
      stage(() => this.#compact());
      // After a reopen: the head index for point reads fills with what is left of the budget.
      let headsComplete = true;
      stage(() => {
        headsComplete = this.#store.fillHeadIndex(Math.max(sliceMs - (performance.now() - started), sliceMs / 4));
      });
      if (!failed && (this.#hasExpired() || this.#store.hasGarbage() || !headsComplete)) {
        this.#followUp = setImmediate(() => this.#slice()).unref();
      }
    } finally {
      this.#inSlice = false;
      this.#sliceMs += performance.now() - started;
    }
  }

  /**
   * Starts a value-memory compaction when utilisation has dropped: the plan
   * is made here, the worker copies the live records of the sparse segments,
   * and the install (one id swap per record) runs when the copy is back.
   * One at a time; a failed copy is dropped and planned again later.
   */
  #compact(): void {
    const store = this.#store;
    if (this.#compacting || !store.compaction.needed()) return;
    const started = performance.now();
    const planned = store.compaction.plan(undefined, COMPACTION_BYTES);
    if (planned === undefined) return;
    const { plan, target } = planned;
    if (this.#copy === undefined) {
      // No pool: copy in the slice.
      gatherInline(plan.sources, target);
      store.compaction.install(plan, target);
      this.#compactions++;
      this.#compactionMainMs += performance.now() - started;
      return;
    }
    this.#compacting = true;
    this.#compactionMainMs += performance.now() - started;
    this.#copy(plan.sources, target).then(
      (workerMs) => {
        this.#compacting = false;
        const installing = performance.now();
        if (store.closed) return;
        store.compaction.install(plan, target);
        this.#compactions++;
        this.#compactionWorkerMs += workerMs;
        this.#compactionMainMs += performance.now() - installing;
        if (store.compaction.needed() && this.#followUp === undefined && !this.#inSlice) this.#followUp = setImmediate(() => this.#slice()).unref();
      },
      (error: unknown) => {
        this.#compacting = false;
        store.compaction.abandon(target);
        if (store.closed) return;
        this.#errors++;
        this.#lastError = error instanceof Error ? error.message : String(error);
      },
    );
  }

  #hasExpired(): boolean {
    return this.#reclaimsExpired && this.#store.hasExpired();
  }
}
