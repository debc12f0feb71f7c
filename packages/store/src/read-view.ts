import type { Entry, Version } from '@epochdb/core';
import type { BTree } from './btree.js';
import { PAST_END, SKIP, type KeyRange } from './key-range.js';
import { entryOf, isVisibleAt, versionAt, type VersionNode } from './version-node.js';

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
    return node !== undefined && isVisibleAt(node, this.now) ? node : undefined;
  }

  /** Every visible version, in key order, lazily (for checkpoints and backups). */
  *visibleNodes(check: () => void): Generator<VersionNode> {
    for (const [, head] of this.trees.primary.entries()) {
      check();
      const node = versionAt(head, this.version);
      if (node !== undefined && isVisibleAt(node, this.now)) yield node;
    }
  }

  /**
   * Visible entries in `range`, lazily, up to its limit. `check` runs before
   * each step (a released snapshot or closed database refuses to go on).
   */
  entries(range: KeyRange, check?: () => void): IterableIterator<Entry> {
    return this.#walk(this.trees.primary, '', range, undefined, undefined, check);
  }

  /**
   * Visible entries whose `run` or `type` is `tag`, in `range`, lazily, up to
   * its limit. Index entries may be stale (kept for older readers); each is
   * checked against the visible version. Complexity: O(log n + results + stale).
   */
  indexed(index: IndexName, tag: string, range: KeyRange, check?: () => void): IterableIterator<Entry> {
    return this.#walk(this.trees[index], tag + INDEX_SEPARATOR, range, index, tag, check);
  }

  #walk<V>(tree: BTree<string, V>, partition: string, range: KeyRange, index: IndexName | undefined, tag: string | undefined, check: (() => void) | undefined): IterableIterator<Entry> {
    return new ScanIterator(this, range.cursor(tree, partition, []), partition, range, index, tag, check);
  }
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * The lazy iterator behind every scan: walks a B-tree clone from where the
 * range starts and yields visible entries up to the limit. A plain class
 * rather than a generator: scans are a hot path and this is measurably faster.
 */
class ScanIterator<V> implements IterableIterator<Entry> {
  #remaining: number;
  #finished = false;
  /** `partition + prefix`, computed once rather than per key. */
  readonly #required: string;

  constructor(
    readonly view: ReadView,
    readonly cursor: IterableIterator<[string, V]>,
    readonly partition: string,
    readonly range: KeyRange,
    readonly index: IndexName | undefined,
    readonly tag: string | undefined,
    readonly check: (() => void) | undefined,
  ) {
    this.#remaining = range.limit;
    this.#required = partition + range.prefix;
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<Entry, undefined> {
    if (this.#finished) return DONE;
    this.check?.();
    if (this.#remaining <= 0) return this.#finish();
    const { view, partition, range, index } = this;
    const primary = view.trees.primary;
    for (;;) {
      const step = this.cursor.next();
      if (step.done === true) return this.#finish();
      const composite = step.value[0];
      const verdict = range.classify(composite, partition, this.#required);
      if (verdict === PAST_END) return this.#finish();
      if (verdict === SKIP) continue;
      const key = index === undefined ? composite : composite.slice(partition.length);
      const head = index === undefined ? (step.value[1] as VersionNode) : primary.get(key);
      const node = versionAt(head, view.version);
      if (node === undefined || !isVisibleAt(node, view.now) || (index !== undefined && node[index] !== this.tag)) continue;
      this.#remaining--;
      return { done: false, value: entryOf(node) };
    }
  }

  return(): IteratorResult<Entry, undefined> {
    return this.#finish();
  }

  #finish(): IteratorReturnResult<undefined> {
    this.#finished = true;
    return DONE;
  }
}
