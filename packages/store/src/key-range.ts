import type { BTree } from './btree.js';

/** Scan options after validation: which keys, in which order, how many. */
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

/** A normalized key range: bounds, direction and limit. */
export class KeyRange {
  readonly low: string | undefined;
  readonly lowInclusive: boolean;
  readonly high: string | undefined;
  readonly highInclusive: boolean;
  readonly prefix: string;
  readonly reverse: boolean;
  readonly limit: number;

  constructor(options: ScanOptions = {}) {
    this.prefix = options.prefix ?? '';
    this.low = options.gt ?? options.gte;
    this.lowInclusive = options.gt === undefined;
    this.high = options.lt ?? options.lte;
    this.highInclusive = options.lt === undefined;
    this.reverse = options.reverse ?? false;
    this.limit = options.limit ?? Infinity;
  }

  /** Whether `key` lies in the range (ignoring the limit). */
  includes(key: string): boolean {
    if (!key.startsWith(this.prefix)) return false;
    if (this.low !== undefined && (this.lowInclusive ? key < this.low : key <= this.low)) return false;
    if (this.high !== undefined && (this.highInclusive ? key > this.high : key >= this.high)) return false;
    return true;
  }

  /**
   * Lazily yields the keys of `tree` in the range, in the range's order,
   * ignoring the limit. All keys of `tree` visited start with `partition`
   * (the index partition `tag + "\0"`, or `""` for the primary tree), and the
   * bounds apply to what follows it. Complexity: O(log n) to start, O(1) per key.
   */
  *keysIn<V>(tree: BTree<string, V>, partition = ''): Generator<[string, V]> {
    const required = partition + this.prefix;
    if (!this.reverse) {
      let start = required;
      if (this.low !== undefined && partition + this.low > start) start = partition + this.low;
      for (const pair of tree.entries(start)) {
        const key = pair[0].slice(partition.length);
        if (!pair[0].startsWith(required)) return;
        if (this.low !== undefined && !this.lowInclusive && key === this.low) continue;
        if (this.high !== undefined && (this.highInclusive ? key > this.high : key >= this.high)) return;
        yield [key, pair[1]];
      }
    } else {
      let start = prefixEnd(required);
      if (this.high !== undefined && (start === undefined || partition + this.high < start)) start = partition + this.high;
      for (const pair of tree.entriesReversed(start)) {
        const key = pair[0].slice(partition.length);
        if (this.high !== undefined && (this.highInclusive ? key > this.high : key >= this.high)) continue;
        if (!pair[0].startsWith(required)) {
          // Keys at or past the prefix's end sort above the prefix block; skip them until we enter it.
          if (pair[0] > required) continue;
          return;
        }
        if (this.low !== undefined && (this.lowInclusive ? key < this.low : key <= this.low)) return;
        yield [key, pair[1]];
      }
    }
  }
}

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
