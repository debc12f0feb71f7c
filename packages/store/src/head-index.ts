import type { VersionId } from './versions.js';

/**
 * Shards of the head index. V8's `Map` holds at most 2^24 entries; 64 shards
 * of a well-mixed hash keep every shard far below that up to a billion keys
 * (100M keys: about 1.6M per shard).
 */
const SHARD_BITS = 6;
const SHARDS = 1 << SHARD_BITS;

/** Heap bytes of one key in the head index (a `Map` entry: key, value and chain slots, plus its share of the buckets). */
export const HEAD_INDEX_HEAP_BYTES = 36;

/**
 * The live head of every key, by hash: a point read of the live database
 * finds its version here in O(1) instead of descending the B-tree (which at
 * 10M keys is a chain of cache misses through string keys on the heap). Kept
 * in step with the primary B-tree by {@link VersionChains}: the tree stays for
 * order, scans, indexes and O(1) snapshot clones; this serves only the
 * newest version of each key.
 */
export class HeadIndex {
  readonly #shards: Map<string, VersionId>[] = Array.from({ length: SHARDS }, () => new Map());

  /** The head of `key` (`undefined`: not in the tree). Complexity: O(key length). */
  get(key: string): VersionId | undefined {
    return this.#shards[shardOf(key)]!.get(key);
  }

  set(key: string, id: VersionId): void {
    this.#shards[shardOf(key)]!.set(key, id);
  }

  delete(key: string): void {
    this.#shards[shardOf(key)]!.delete(key);
  }

  /** Keys held. Complexity: O(shards). */
  get size(): number {
    let size = 0;
    for (const shard of this.#shards) size += shard.size;
    return size;
  }
}

/**
 * The shard of `key`: FNV-1a over every character (keys that differ anywhere
 * spread evenly; sampling only some characters let keys differing in their
 * middle pile into one shard), finished with a multiplicative mix.
 */
function shardOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h >>> (32 - SHARD_BITS);
}
