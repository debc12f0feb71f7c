import { METADATA_KEY } from '@epochdb/core';
import type { BTree } from './btree.js';

/** Scan options: which keys, in which order, how many (checked by `scanOptionsSchema`). */
export interface ScanOptions {
  /** Only keys that start with this string. */
  readonly prefix?: string | undefined;
  readonly gt?: string | undefined;
  readonly gte?: string | undefined;
  readonly lt?: string | undefined;
  readonly lte?: string | undefined;
  /** Descending key order. */
  readonly reverse?: boolean | undefined;
  /** At most this many entries. */
  readonly limit?: number | undefined;
}

/**
 * A normalized key range: bounds, direction and limit. A range never
 * includes `METADATA_KEY` (the empty key: the database's own metadata entry,
 * which sorts before every key a user can write): its lower bound is at
 * least "after the empty key", so every scan, index query and serializable
 * range check leaves it out alike, and limits stay exact.
 */
export class KeyRange {
  readonly low: string | undefined;
  readonly lowInclusive: boolean;
  readonly high: string | undefined;
  readonly highInclusive: boolean;
  readonly prefix: string;
  readonly reverse: boolean;
  readonly limit: number;
  readonly #options: ScanOptions;

  constructor(options: ScanOptions = {}) {
    this.#options = options;
    this.prefix = options.prefix ?? '';
    this.low = options.gt ?? options.gte ?? METADATA_KEY;
    // Without a lower bound, or from the empty key inclusive: after the metadata key.
    this.lowInclusive = options.gt === undefined && this.low !== METADATA_KEY;
    this.high = options.lt ?? options.lte;
    this.highInclusive = options.lt === undefined;
    this.reverse = options.reverse ?? false;
    this.limit = options.limit ?? Infinity;
  }

  /** The same range with no limit. */
  withoutLimit(): KeyRange {
    return this.limit === Infinity ? this : new KeyRange({ ...this.#options, limit: undefined });
  }

  /** Whether `key` lies in the range (ignoring the limit). */
  includes(key: string): boolean {
    if (!key.startsWith(this.prefix)) return false;
    if (this.low !== undefined && (this.lowInclusive ? key < this.low : key <= this.low)) return false;
    if (this.high !== undefined && (this.highInclusive ? key > this.high : key >= this.high)) return false;
    return true;
  }

  /**
   * An iterator over the pairs of `tree` from where the range starts, in the
   * range's order; {@link classify} each key to know when to skip or stop.
   * All keys visited start with `partition` (an index partition
   * `tag + "\0"`, or `""` for the primary tree) and the bounds apply to what
   * follows it. Complexity: O(log n) to start, O(1) amortized per pair.
   */
  cursor<V>(tree: BTree<string, V>, partition: string, reused: (string | V)[]): IterableIterator<[string, V]> {
    const required = partition + this.prefix;
    if (!this.reverse) {
      const low = this.low === undefined ? undefined : partition + this.low;
      return tree.entries(low !== undefined && low > required ? low : required, reused);
    }
    let start = prefixEnd(required);
    if (this.high !== undefined && (start === undefined || partition + this.high < start)) start = partition + this.high;
    return tree.entriesReversed(start, reused);
  }

  /**
   * Where a key met by {@link cursor} stands: {@link IN_RANGE}, {@link SKIP}
   * (not yet in the range) or {@link PAST_END} (no later key can be in it).
   * `required` is `partition + prefix`, passed by callers that classify many keys.
   */
  classify(compositeKey: string, partition: string, required = partition + this.prefix): typeof IN_RANGE | typeof SKIP | typeof PAST_END {
    const key = partition.length === 0 ? compositeKey : compositeKey.slice(partition.length);
    if (!this.reverse) {
      if (!compositeKey.startsWith(required)) return PAST_END;
      if (this.low !== undefined && !this.lowInclusive && key === this.low) return SKIP;
      if (this.high !== undefined && (this.highInclusive ? key > this.high : key >= this.high)) return PAST_END;
      return IN_RANGE;
    }
    // Keys at or past the prefix block's end sort above it: skip them until the block starts.
    // (Checked before the bounds: a key of a neighbouring index partition must end the
    // scan, not be skipped.)
    if (!compositeKey.startsWith(required)) return compositeKey > required ? SKIP : PAST_END;
    if (this.high !== undefined && (this.highInclusive ? key > this.high : key >= this.high)) return SKIP;
    if (this.low !== undefined && (this.lowInclusive ? key < this.low : key <= this.low)) return PAST_END;
    return IN_RANGE;
  }
}

/** {@link KeyRange.classify}: the key is in the range. */
export const IN_RANGE = 0;
/** {@link KeyRange.classify}: the key is not in the range, but later ones may be. */
export const SKIP = 1;
/** {@link KeyRange.classify}: neither this key nor any later one is in the range. */
export const PAST_END = 2;

/**
 * The smallest string greater than every string that starts with `prefix`,
 * or `undefined` when there is none (empty prefix, or all U+FFFF).
 */
export function prefixEnd(prefix: string): string | undefined {
  let end = prefix;
  while (end.length > 0 && end.charCodeAt(end.length - 1) === 0xffff) end = end.slice(0, -1);
  if (end.length === 0) return undefined;
  return end.slice(0, -1) + String.fromCharCode(end.charCodeAt(end.length - 1) + 1);
}
