import type { Entry, Version } from '@epochdb/core';
import type { BTree } from './btree.js';
import type { KeyRange } from './key-range.js';
import { versionAt, type VersionNode } from './version-node.js';

/** The secondary indexes a view can query. */
export type IndexName = 'run' | 'type';

/** Index partitions are `tag + INDEX_SEPARATOR + key`; tags cannot contain it. */
export const INDEX_SEPARATOR = '\u0000';

/** The trees a view reads: the primary map and the two secondary indexes. */
export interface TreeSet {
  readonly primary: BTree<string, VersionNode>;
  readonly run: BTree<string, true>;
  readonly type: BTree<string, true>;
}

/**
 * Reads the database as of one version and one instant. The trees are
 * copy-on-write clones that nobody mutates, so iteration is never disturbed
 * by later writes, and TTL is judged against the fixed `now`, so repeated
 * reads agree. Callers validate arguments; this class only reads.
 */
export class ReadView {
  constructor(
    readonly trees: TreeSet,
    readonly version: Version,
    readonly now: number,
  ) {}

  /** The visible version of `key`, if any. Complexity: O(log n). */
  node(key: string): VersionNode | undefined {
    const node = versionAt(this.trees.primary.get(key), this.version);
    return node !== undefined && node.isVisibleAt(this.now) ? node : undefined;
  }

  /** Visible entries in `range`, lazily, ignoring the limit. */
  *entries(range: KeyRange): Generator<Entry> {
    for (const [key, head] of range.keysIn(this.trees.primary)) {
      const node = versionAt(head, this.version);
      if (node !== undefined && node.isVisibleAt(this.now)) yield node.toEntry(key);
    }
  }

  /**
   * Visible entries whose `run` or `type` is `tag`, in `range`, lazily.
   * Index entries may be stale (kept for older readers); each is checked
   * against the visible version. Complexity: O(log n + results + stale).
   */
  *indexed(index: IndexName, tag: string, range: KeyRange): Generator<Entry> {
    const primary = this.trees.primary;
    for (const [key] of range.keysIn(this.trees[index], tag + INDEX_SEPARATOR)) {
      const node = versionAt(primary.get(key), this.version);
      if (node !== undefined && node.isVisibleAt(this.now) && node[index] === tag) yield node.toEntry(key);
    }
  }
}
