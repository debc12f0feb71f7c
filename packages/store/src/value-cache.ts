import type { Entry } from '@epochdb/core';

/**
 * A bounded cache of the frozen entries readers were handed, by record id:
 * a hot key read again is answered without decoding, and gets the same
 * frozen object. First in, first out: a Map keeps insertion order, so
 * eviction is O(1). Entries leave when their record is freed (its id may be
 * reused); a record moved by the cleaner keeps its id and its entry.
 */
export class ValueCache {
  readonly #entries = new Map<number, Entry>();
  readonly capacity: number;
  #hits = 0;
  #misses = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get(id: number): Entry | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) this.#misses++;
    else this.#hits++;
    return entry;
  }

  set(id: number, entry: Entry): void {
    if (this.capacity === 0) return;
    if (this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next().value as number;
      this.#entries.delete(oldest);
    }
    this.#entries.set(id, entry);
  }

  delete(id: number): void {
    this.#entries.delete(id);
  }

  stats(): { readonly valueCacheEntries: number; readonly valueCacheHits: number; readonly valueCacheMisses: number } {
    return { valueCacheEntries: this.#entries.size, valueCacheHits: this.#hits, valueCacheMisses: this.#misses };
  }
}
