import type { VersionId } from './versions.js';

/**
 * Live keys one `Map` of the head index holds at most. V8's `Map` stops at
 * 2^24 entries, and a full table with fewer than half its slots deleted
 * grows (doubles) instead of rehashing in place: a map of 2^24 slots whose
 * live entries stay at or below half of them can take any churn of deletes
 * and sets. Half of 2^24 less a margin, so that bound holds with room to spare.
 */
export const HEAD_MAP_CAPACITY = (1 << 23) - (1 << 16);

/** Overflow maps, chosen by hash, for the keys past the first map's capacity. */
const OVERFLOW_BITS = 6;
const OVERFLOW_MAPS = 1 << OVERFLOW_BITS;

/** Heap bytes of one key in the head index (a `Map` entry: key, value and chain slots, plus its share of the buckets). */
export const HEAD_INDEX_HEAP_BYTES = 36;

/**
 * The live head of every key, by hash: a point read of the live database
 * finds its version here in O(1) instead of descending the B-tree (which at
 * 10M keys is a chain of cache misses through string keys on the heap). Kept
 * in step with the primary B-tree by {@link VersionChains}: the tree stays for
 * order, scans, indexes and O(1) snapshot clones; this serves only the
 * newest version of each key.
 *
 * One `Map` while it has room (a single lookup, no hashing of our own; a
 * sharded map cost twice as much per operation); past
 * {@link HEAD_MAP_CAPACITY} keys, 64 overflow maps chosen by an FNV-1a hash
 * of the key (each below the capacity up to about 500M keys). A key lives in
 * exactly one map: the first one if it was set while the first had room, else
 * its overflow map.
 *
 * After a bulk load the index may be *partial* ({@link beginPartial}): every
 * key it holds has the tree's head, but a key it does not hold may still be
 * in the tree, so a miss asks the tree and keeps what it finds; a background
 * fill ({@link VersionChains.fillHeads}) adds the rest and ends it
 * ({@link endPartial}). A reopen builds the tree in O(n) without hashing every
 * key first.
 */
export class HeadIndex {
  readonly #capacity: number;
  /** While partial: where a miss looks the key up (the tree). */
  #source: ((key: string) => VersionId | undefined) | undefined;
  readonly #first = new Map<string, VersionId>();
  /** Created when the first map is full; `undefined` until then (every operation then touches one map). */
  #overflow: Map<string, VersionId>[] | undefined;

  /** @param capacity live keys the first map holds before keys spill to overflow maps (tests make it small). */
  constructor(capacity = HEAD_MAP_CAPACITY) {
    this.#capacity = capacity;
  }

  /**
   * The head of `key` (`undefined`: not in the tree). While partial, a miss
   * looks the key up in the tree and keeps it. Complexity: O(key length)
   * (a partial miss: O(log n) for the tree).
   */
  get(key: string): VersionId | undefined {
    const id = this.peek(key);
    if (id !== undefined || this.#source === undefined) return id;
    const found = this.#source(key);
    if (found !== undefined) this.set(key, found);
    return found;
  }

  /** The head of `key` if this index holds it (while partial, `undefined` says nothing about the tree). */
  peek(key: string): VersionId | undefined {
    const id = this.#first.get(key);
    if (id !== undefined || this.#overflow === undefined) return id;
    return this.#overflow[overflowOf(key)]!.get(key);
  }

  /** Whether every key of the tree is held (no miss needs the tree). */
  get complete(): boolean {
    return this.#source === undefined;
  }

  /** From now on a miss asks `source` (the tree), until {@link endPartial}. */
  beginPartial(source: (key: string) => VersionId | undefined): void {
    this.#source = source;
  }

  /** Every key of the tree is held again. */
  endPartial(): void {
    this.#source = undefined;
  }

  /** Makes `id` the head of `key`. Complexity: O(key length). */
  set(key: string, id: VersionId): void {
    const first = this.#first;
    const overflow = this.#overflow;
    if (overflow === undefined) {
      if (first.size < this.#capacity || first.has(key)) {
        first.set(key, id);
        return;
      }
      this.#overflow = Array.from({ length: OVERFLOW_MAPS }, () => new Map());
      this.#overflow[overflowOf(key)]!.set(key, id);
      return;
    }
    // With overflow maps the key may be in either place: update it where it is, so it is never in two.
    if (first.has(key)) {
      first.set(key, id);
      return;
    }
    const spill = overflow[overflowOf(key)]!;
    if (spill.has(key) || first.size >= this.#capacity) spill.set(key, id);
    else first.set(key, id);
  }

  /** Removes `key`. Complexity: O(key length). */
  delete(key: string): void {
    if (this.#first.delete(key) || this.#overflow === undefined) return;
    this.#overflow[overflowOf(key)]!.delete(key);
  }

  /** Holds nothing (complete: the tree is empty too). */
  clear(): void {
    this.#first.clear();
    this.#overflow = undefined;
    this.#source = undefined;
  }

  /** Keys held. Complexity: O(maps). */
  get size(): number {
    let size = this.#first.size;
    for (const map of this.#overflow ?? []) size += map.size;
    return size;
  }

  /** Maps in use (1 until the first map is full): for tests. */
  get maps(): number {
    return this.#overflow === undefined ? 1 : 1 + this.#overflow.filter((map) => map.size > 0).length;
  }
}

/**
 * The overflow map of `key`: FNV-1a over every character (keys that differ
 * anywhere spread evenly; sampling only some characters let keys differing in
 * their middle pile into one map), finished with a multiplicative mix.
 */
function overflowOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h >>> (32 - OVERFLOW_BITS);
}
