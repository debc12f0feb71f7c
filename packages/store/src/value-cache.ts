import type { Entry } from '@epochdb/core';

/**
 * A bounded cache of the frozen entries readers were handed, by record id:
 * a hot key read again is answered without decoding, and gets the same
 * frozen object. First in, first out through a ring of ids, so eviction is
 * O(1) (a Map's own insertion order is not: after many deletes,
 * `keys().next()` walks the holes). Entries leave when their record is freed
 * (its id may be reused); a record moved by the cleaner keeps its id and its entry.
 */
export class ValueCache {
  readonly #entries = new Map<number, Entry>();
  /** Ids in insertion order; a slot whose id left the map early is skipped at eviction. */
  readonly #ring: Int32Array;
  #next = 0;
  readonly capacity: number;
  #hits = 0;
  #misses = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#ring = new Int32Array(capacity);
  }

  get(id: number): Entry | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) this.#misses++;
    else this.#hits++;
    return entry;
  }

  set(id: number, entry: Entry): void {
    if (this.capacity === 0) return;
    // The slot taken now held the id cached `capacity` insertions ago: it goes (if it is still there).
    const slot = this.#next;
    if (this.#ring[slot] !== 0) this.#entries.delete(this.#ring[slot]!);
    this.#ring[slot] = id;
    this.#next = slot + 1 === this.capacity ? 0 : slot + 1;
    this.#entries.set(id, entry);
  }

  delete(id: number): void {
    this.#entries.delete(id);
  }

  /** Holds nothing. */
  clear(): void {
    this.#entries.clear();
    this.#ring.fill(0);
    this.#next = 0;
  }

  stats(): { readonly valueCacheEntries: number; readonly valueCacheHits: number; readonly valueCacheMisses: number } {
    return { valueCacheEntries: this.#entries.size, valueCacheHits: this.#hits, valueCacheMisses: this.#misses };
  }
}
