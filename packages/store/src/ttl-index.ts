import type { Version } from '@epochdb/core';
import { createStringTree } from './btree.js';
import { INDEX_SEPARATOR } from './read-view.js';

const TTL_TIME_DIGITS = 16;
const MAX_TTL_TIME = 10 ** TTL_TIME_DIGITS - 1;
/** Heap bytes of one TTL index entry beyond its characters. */
const TTL_ENTRY_HEAP_BYTES = 40;

/**
 * The TTL index: every newest version with an expiry, in expiry order, so the
 * cleaner finds what has expired in O(expired · log n) rather than by a scan.
 * Keys are the expiry time as 16 zero-padded digits, then the key. The time is
 * rounded up, so an entry the index calls due has really expired (a fractional
 * expiry rounded down once made maintenance spin on an entry not due yet).
 */
export class TtlIndex {
  /** `ttlKey(expiresAt, key)` → the version that set that expiry. */
  readonly #tree = createStringTree<Version>();
  #heapBytes = 0;

  get size(): number {
    return this.#tree.size;
  }

  /** Estimated heap bytes of the index. */
  get heapBytes(): number {
    return this.#heapBytes;
  }

  set(expiresAt: number, key: string, version: Version): void {
    const composite = ttlKey(expiresAt, key);
    if (this.#tree.set(composite, version, true)) this.#heapBytes += TTL_ENTRY_HEAP_BYTES + composite.length;
  }

  delete(expiresAt: number, key: string): void {
    const composite = ttlKey(expiresAt, key);
    if (this.#tree.delete(composite)) this.#heapBytes -= TTL_ENTRY_HEAP_BYTES + composite.length;
  }

  /** The version recorded for `key` expiring at `expiresAt`, if any. */
  get(expiresAt: number, key: string): Version | undefined {
    return this.#tree.get(ttlKey(expiresAt, key));
  }

  /** Whether an entry has expired by `now`. */
  hasDue(now: number): boolean {
    const first = this.#tree.minKey();
    return first !== undefined && Number(first.slice(0, TTL_TIME_DIGITS)) <= now;
  }

  /** Entries due by `now`, in expiry order, lazily: `[key, version]`. */
  *due(now: number): Generator<[string, Version]> {
    for (const [composite, version] of this.#tree.entries()) {
      if (Number(composite.slice(0, TTL_TIME_DIGITS)) > now) return;
      yield [composite.slice(TTL_TIME_DIGITS + 1), version];
    }
  }

  /** Every entry: `[key, version]` (for the invariant checker). */
  *all(): Generator<[string, Version]> {
    for (const [composite, version] of this.#tree.entries()) yield [composite.slice(TTL_TIME_DIGITS + 1), version];
  }
}

function ttlKey(expiresAt: number, key: string): string {
  const time = Math.min(Math.max(Math.ceil(expiresAt), 0), MAX_TTL_TIME);
  return String(time).padStart(TTL_TIME_DIGITS, '0') + INDEX_SEPARATOR + key;
}
