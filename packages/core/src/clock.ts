import type { Clock } from './types.js';

/** The real clock: `Date.now()`. */
export const systemClock: Clock = Object.freeze({ now: () => Date.now() });

/**
 * A clock that only moves when told to. Pass it to `open({ clock })` to test
 * TTL behaviour without sleeping.
 */
export class ManualClock implements Clock {
  #now: number;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Moves time forward by `ms` (which must be finite and not negative). */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`ManualClock.advance: ms must be a finite number >= 0, got ${ms}`);
    this.#now += ms;
  }

  /** Sets the current time (epoch ms). */
  set(now: number): void {
    this.#now = now;
  }
}
