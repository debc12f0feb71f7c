import type { Entry, Version } from '@epochdb/core';
import type { BTree } from './btree.js';
import { PAST_END, SKIP, type KeyRange } from './key-range.js';
import type { IndexName, VersionId, Versions } from './versions.js';

export type { IndexName } from './versions.js';

/** Index partitions are `tag + INDEX_SEPARATOR + key`; tags cannot contain it. */
export const INDEX_SEPARATOR = '\u0000';

/** The trees a view reads: the primary map (key → newest version) and the two secondary indexes. */
export interface TreeSet {
  readonly primary: BTree<string, VersionId>;
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
    readonly versions: Versions,
    readonly trees: TreeSet,
    readonly version: Version,
    readonly now: number,
  ) {}

  /** The visible version of `key` (0: none). Complexity: O(log n). */
  node(key: string): VersionId {
    const head = this.trees.primary.get(key);
    if (head === undefined) return 0;
    const id = this.versions.versionAt(head, this.version);
    return id !== 0 && this.versions.isVisibleAt(id, this.now) ? id : 0;
  }

  /** Every visible version with its key, in key order, lazily (for checkpoints and backups). */
  *visibleNodes(check: () => void): Generator<[string, VersionId]> {
    for (const [key, head] of this.trees.primary.entries()) {
      check();
      const id = this.versions.versionAt(head, this.version);
      if (id !== 0 && this.versions.isVisibleAt(id, this.now)) yield [key, id];
    }
  }

  /**
   * Visible entries in `range`, lazily, up to its limit. `check` runs before
   * each step (a released snapshot or closed database refuses to go on).
   */
  entries(range: KeyRange, check?: () => void, release?: () => void): IterableIterator<Entry> {
    return this.#walk(this.trees.primary, '', range, undefined, undefined, check, release);
  }

  /**
   * Visible entries whose `run` or `type` is `tag`, in `range`, lazily, up to
   * its limit. Index entries may be stale (kept for older readers); each is
   * checked against the visible version. Complexity: O(log n + results + stale).
   */
  indexed(index: IndexName, tag: string, range: KeyRange, check?: () => void, release?: () => void): IterableIterator<Entry> {
    return this.#walk(this.trees[index], tag + INDEX_SEPARATOR, range, index, tag, check, release);
  }

  #walk<V>(tree: BTree<string, V>, partition: string, range: KeyRange, index: IndexName | undefined, tag: string | undefined, check: (() => void) | undefined, release: (() => void) | undefined): IterableIterator<Entry> {
    return new ScanIterator(this, range.cursor(tree, partition, []), partition, range, index, tag, check, release);
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
    /** Called once when the scan ends (done, `return()`, or a failed check): lets go of what pins its version. */
    readonly release: (() => void) | undefined,
  ) {
    this.#remaining = range.limit;
    this.#required = partition + range.prefix;
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<Entry, undefined> {
    if (this.#finished) return DONE;
    try {
      this.check?.();
    } catch (error) {
      this.#finish();
      throw error;
    }
    if (this.#remaining <= 0) return this.#finish();
    const { view, partition, range, index } = this;
    const primary = view.trees.primary;
    const versions = view.versions;
    for (;;) {
      const step = this.cursor.next();
      if (step.done === true) return this.#finish();
      const composite = step.value[0];
      const verdict = range.classify(composite, partition, this.#required);
      if (verdict === PAST_END) return this.#finish();
      if (verdict === SKIP) continue;
      const key = index === undefined ? composite : composite.slice(partition.length);
      const head = index === undefined ? (step.value[1] as VersionId) : primary.get(key);
      const id = versions.versionAt(head, view.version);
      if (id === 0 || !versions.isVisibleAt(id, view.now) || (index !== undefined && versions.tag(id, index) !== this.tag)) continue;
      this.#remaining--;
      return { done: false, value: versions.entry(key, id) };
    }
  }

  return(): IteratorResult<Entry, undefined> {
    return this.#finish();
  }

  #finish(): IteratorReturnResult<undefined> {
    this.#finished = true;
    this.release?.();
    return DONE;
  }
}
