import type { MaintenanceOptionsParsed } from '@epochdb/core';
import type { MvccStore } from '@epochdb/store';

/** Counters of the background maintenance. */
export interface MaintenanceStats {
  /** Maintenance slices run (by timer or by pressure). */
  readonly maintenancePasses: number;
  /** Slices that threw; the error of the latest is in `lastMaintenanceError`. */
  readonly maintenanceErrors: number;
  readonly lastMaintenanceError: string | undefined;
}

/**
 * Runs TTL cleaning and version GC by itself: a timer every `intervalMs`
 * starts a slice of at most about `sliceMs`; while work remains, further
 * slices follow via `setImmediate`, so the event loop gets a turn between
 * slices. Timers are unref'd: they never keep the process alive.
 */
export class Maintenance {
  readonly #store: MvccStore;
  readonly #options: MaintenanceOptionsParsed;
  #interval: NodeJS.Timeout | undefined;
  #followUp: NodeJS.Immediate | undefined;
  #passes = 0;
  #errors = 0;
  #lastError: string | undefined;

  constructor(store: MvccStore, options: MaintenanceOptionsParsed) {
    this.#store = store;
    this.#options = options;
  }

  /** Starts the timer (unless `intervalMs` is 0). */
  start(): void {
    if (this.#options.intervalMs > 0 && this.#interval === undefined) {
      this.#interval = setInterval(() => this.#slice(), this.#options.intervalMs).unref();
    }
  }

  /** Stops the timer and any follow-up slice. */
  stop(): void {
    clearInterval(this.#interval);
    this.#interval = undefined;
    if (this.#followUp !== undefined) clearImmediate(this.#followUp);
    this.#followUp = undefined;
  }

  stats(): MaintenanceStats {
    return { maintenancePasses: this.#passes, maintenanceErrors: this.#errors, lastMaintenanceError: this.#lastError };
  }

  /** One bounded slice: reclaim expired entries first, then spend what is left of the budget on version GC. */
  #slice(): void {
    this.#followUp = undefined;
    if (this.#store.closed) return;
    this.#passes++;
    const { sliceMs } = this.#options;
    try {
      const started = performance.now();
      if (this.#store.hasExpired()) this.#store.reclaimExpired(sliceMs);
      const left = sliceMs - (performance.now() - started);
      if (left > 0 && this.#store.hasGarbage()) this.#store.collectGarbage(left);
      if (this.#store.hasExpired() || this.#store.hasGarbage()) {
        this.#followUp = setImmediate(() => this.#slice()).unref();
      }
    } catch (error) {
      this.#errors++;
      this.#lastError = error instanceof Error ? error.message : String(error);
    }
  }
}
