import { shouldTrimQueue, type Version } from '@epochdb/core';
import { bulkLoad } from 'sorted-btree/extended/bulkLoad.js';
import { compareStrings, createStringTree, NODE_SIZE, type BTree } from './btree.js';
import { HEAD_INDEX_HEAP_BYTES, HeadIndex } from './head-index.js';
import { INDEX_SEPARATOR, type TreeSet } from './read-view.js';
import type { TtlIndex } from './ttl-index.js';
import type { IndexName, VersionId, Versions } from './versions.js';

/**
 * Heap bytes of one key in the primary tree beyond its characters: the string
 * header and its B-tree key and value slots (measured with heap snapshots at
 * 1M keys, rounded up), plus its entry in the head index.
 */
export const KEY_HEAP_BYTES = 40 + HEAD_INDEX_HEAP_BYTES;
/** Heap bytes of one run/type index entry beyond its characters (the composite string and its slots). */
export const INDEX_ENTRY_HEAP_BYTES = 40;
/** Heap bytes of one superseded version waiting in the GC queue (two array slots). */
export const GC_ENTRY_HEAP_BYTES = 16;

const INDEXES: readonly IndexName[] = ['run', 'type'];

/** Heap bytes of the index entry `tag + INDEX_SEPARATOR + key`. */
function indexEntryBytes(tag: string, key: string): number {
  return INDEX_ENTRY_HEAP_BYTES + tag.length + 1 + key.length;
}

/**
 * The key space: the primary B-tree (key → newest version), the run and type
 * indexes, every key's chain of older versions, and version GC. Keeps the
 * counters and the heap estimate exact as versions come and go. Knows nothing
 * of commits or readers; the store decides what to apply and when.
 */
export class VersionChains {
  /** Replaced whole only by {@link load} (an O(n) bulk load of an empty store). */
  primary: BTree<string, VersionId> = createStringTree<VersionId>();
  /** The same key → head map as {@link primary}, by hash: point reads of the newest version skip the tree. */
  readonly heads = new HeadIndex();
  runIndex: BTree<string, true> = createStringTree<true>();
  typeIndex: BTree<string, true> = createStringTree<true>();
  readonly #versions: Versions;
  readonly #ttl: TtlIndex;
  /** Superseded versions, in version order: `(key, id)` means the versions below `id` of `key` are garbage once the horizon reaches `id`'s version. */
  #gcKeys: string[] = [];
  #gcIds: VersionId[] = [];
  /** The version of each queued id when it was queued: an id freed meanwhile (and maybe reused) no longer matches. */
  #gcVersions: Version[] = [];
  #gcHead = 0;
  #liveKeys = 0;
  #storedVersions = 0;
  #collectedVersions = 0;
  /** Estimated heap bytes of the trees and the GC queue (value memory is counted exactly by {@link Versions}). */
  #heapBytes = 0;
  #cloneCache: { version: Version; trees: TreeSet } | undefined;
  /** Where {@link fillHeads} goes on (the next key to add) while the head index is partial. */
  #fillNext: string | undefined;
  /**
   * Tombstones version GC took out of the tree while readers were open: a
   * reader's tree clone may still name them, so their records stay until every
   * reader open then has gone (`at`: the store's version when they left the tree).
   */
  #limbo: { id: VersionId; at: Version }[] = [];

  constructor(versions: Versions, ttl: TtlIndex) {
    this.#versions = versions;
    this.#ttl = ttl;
  }

  get liveKeys(): number {
    return this.#liveKeys;
  }

  get storedVersions(): number {
    return this.#storedVersions;
  }

  get collectedVersions(): number {
    return this.#collectedVersions;
  }

  get heapBytes(): number {
    return this.#heapBytes;
  }

  /** Superseded versions queued for GC (some may still be above the horizon). Complexity: O(1). */
  get pendingGc(): number {
    return this.#gcIds.length - this.#gcHead;
  }

  /** O(1) copy-on-write clones of the trees at `version` (the current one), shared by every reader opened at it. */
  trees(version: Version): TreeSet {
    if (this.#cloneCache?.version !== version) {
      this.#cloneCache = { version, trees: { primary: this.primary.clone(), run: this.runIndex.clone(), type: this.typeIndex.clone() } };
    }
    return this.#cloneCache.trees;
  }

  /**
   * Loads an empty key space from live versions whose keys are in strictly
   * ascending order (a checkpoint's): the trees are built bottom-up in O(n)
   * (sorted-btree's `bulkLoad`) rather than by n descents; counters, the heap
   * account and the TTL index come out as n {@link apply}s would leave them;
   * the head index is left partial, for {@link fillHeads} to complete.
   * Complexity: O(n + tagged entries · log(tags)).
   */
  load(keys: string[], ids: VersionId[]): void {
    if (this.primary.size !== 0) throw new Error('VersionChains.load: the key space must be empty');
    const versions = this.#versions;
    const tagged: Record<IndexName, Map<string, string[]>> = { run: new Map(), type: new Map() };
    let heapBytes = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const id = ids[i]!;
      heapBytes += KEY_HEAP_BYTES + key.length;
      const expiresAt = versions.expiresAt(id);
      if (expiresAt !== undefined) this.#ttl.set(expiresAt, key, versions.version(id));
      for (const index of INDEXES) {
        const tag = versions.tag(id, index);
        if (tag === undefined) continue;
        let list = tagged[index].get(tag);
        if (list === undefined) tagged[index].set(tag, (list = []));
        list.push(key);
        heapBytes += indexEntryBytes(tag, key);
      }
    }
    this.primary = bulkLoad(keys, ids, NODE_SIZE, compareStrings);
    // The head index fills later, in slices (fillHeads), and meanwhile looks misses up in the tree:
    // hashing every key here cost more than building the tree.
    if (keys.length > 0) {
      this.heads.beginPartial((key) => this.primary.get(key));
      this.#fillNext = keys[0];
    }
    // Composite index keys are tag-major: each tag's keys are already in order, so the tags sorted give the whole order.
    const indexTree = (byTag: Map<string, string[]>): BTree<string, true> => {
      const composites: string[] = [];
      for (const tag of [...byTag.keys()].sort(compareStrings)) for (const key of byTag.get(tag)!) composites.push(tag + INDEX_SEPARATOR + key);
      return bulkLoad(composites, composites.map(() => true as const), NODE_SIZE, compareStrings);
    };
    this.runIndex = indexTree(tagged.run);
    this.typeIndex = indexTree(tagged.type);
    this.#liveKeys += keys.length;
    this.#storedVersions += keys.length;
    this.#heapBytes += heapBytes;
    this.#cloneCache = undefined;
  }

  /**
   * Adds the keys a partial head index lacks, in key order from where the
   * last call stopped, until `deadline` (`performance.now()`); returns whether
   * the index is complete. Keys written meanwhile are already in it (every
   * write sets its key), so one pass over the tree completes it.
   */
  fillHeads(deadline: number): boolean {
    const heads = this.heads;
    if (heads.complete) return true;
    let handled = 0;
    for (const [key, id] of this.primary.entries(this.#fillNext)) {
      if (++handled % BUDGET_CHECK_EVERY === 0 && performance.now() > deadline) {
        this.#fillNext = key;
        return false;
      }
      if (heads.peek(key) === undefined) heads.set(key, id);
    }
    heads.endPartial();
    this.#fillNext = undefined;
    return true;
  }

  /**
   * Lets the key space go (the store closed: nothing can read it again), so a
   * handle kept after `close()` does not pin its trees. Counters keep their
   * last values.
   */
  release(): void {
    this.primary = createStringTree<VersionId>();
    this.runIndex = createStringTree<true>();
    this.typeIndex = createStringTree<true>();
    this.heads.clear();
    this.#gcKeys = [];
    this.#gcIds = [];
    this.#gcVersions = [];
    this.#gcHead = 0;
    this.#limbo = [];
    this.#cloneCache = undefined;
    this.#fillNext = undefined;
  }

  indexTree(index: IndexName): BTree<string, true> {
    return index === 'run' ? this.runIndex : this.typeIndex;
  }

  /**
   * Makes `id` the newest version of `key` (whose head is now `old`), keeping
   * the indexes and counters exact. `eager`: no reader can see anything but the
   * newest version, so what `id` supersedes goes at once. Returns false (and
   * frees `id`) for a delete of a key that does not exist.
   *
   * `tree`: the primary tree's part is queued there instead, for
   * {@link writeTree} to make once the commit's keys are all applied (each key
   * at most once per queue); everything else happens now.
   */
  apply(key: string, id: VersionId, eager: boolean, old: VersionId | undefined, tree?: TreeWrites): boolean {
    const versions = this.#versions;
    const tombstone = versions.isTombstone(id);
    const wasLive = old !== undefined && !versions.isTombstone(old);
    if (tombstone && !wasLive) {
      versions.free(id);
      return false;
    }
    if (!wasLive && !tombstone) this.#liveKeys++;
    if (wasLive && tombstone) this.#liveKeys--;
    if (wasLive) {
      const expiresAt = versions.expiresAt(old);
      if (expiresAt !== undefined) this.#ttl.delete(expiresAt, key);
    }
    if (!tombstone) {
      const expiresAt = versions.expiresAt(id);
      if (expiresAt !== undefined) this.#ttl.set(expiresAt, key, versions.version(id));
      const run = versions.run(id);
      const type = versions.type(id);
      if (run !== undefined && (old === undefined || versions.run(old) !== run)) this.#addIndexEntry(this.runIndex, run, key);
      if (type !== undefined && (old === undefined || versions.type(old) !== type)) this.#addIndexEntry(this.typeIndex, type, key);
    }
    this.#storedVersions++;
    if (old === undefined) this.#heapBytes += KEY_HEAP_BYTES + key.length;
    if (eager) {
      if (tombstone) {
        if (tree === undefined) this.primary.delete(key);
        else tree.push(key, 0);
        this.heads.delete(key);
        this.#heapBytes -= KEY_HEAP_BYTES + key.length;
        this.#storedVersions--;
        versions.free(id);
      } else {
        if (tree === undefined) this.primary.set(key, id);
        else tree.push(key, id);
        this.heads.set(key, id);
      }
      if (old !== undefined) this.#drop(key, old, tombstone ? 0 : id);
    } else {
      versions.setPrev(id, old ?? 0);
      if (tree === undefined) this.primary.set(key, id);
      else tree.push(key, id);
      this.heads.set(key, id);
      if (old !== undefined) {
        this.#gcKeys.push(key);
        this.#gcIds.push(id);
        this.#gcVersions.push(versions.version(id));
        this.#heapBytes += GC_ENTRY_HEAP_BYTES;
      }
    }
    return true;
  }

  /**
   * Makes the primary-tree writes {@link apply} queued in `tree`, in key order:
   * into an empty tree as one O(n) bulk load, else set by set, each descent
   * finding most of its path where the one before left it. Empties `tree`.
   * Complexity: O(n log n) for the sort plus the n writes.
   */
  writeTree(tree: TreeWrites): void {
    const { keys, ids } = tree;
    const n = keys.length;
    if (n === 0) return;
    const primary = this.primary;
    if (n === 1) {
      if (ids[0] === 0) primary.delete(keys[0]!);
      else primary.set(keys[0]!, ids[0]!);
    } else {
      const order = new Array<number>(n);
      for (let i = 0; i < n; i++) order[i] = i;
      order.sort((a, b) => compareStrings(keys[a]!, keys[b]!));
      if (primary.size === 0 && !ids.includes(0)) {
        // An empty tree (a first load): built bottom-up. Keys are distinct, so the order is strictly ascending.
        this.primary = bulkLoad(order.map((i) => keys[i]!), order.map((i) => ids[i]!), NODE_SIZE, compareStrings);
      } else {
        for (const i of order) {
          const id = ids[i]!;
          if (id === 0) primary.delete(keys[i]!);
          else primary.set(keys[i]!, id);
        }
      }
    }
    keys.length = 0;
    ids.length = 0;
  }

  /** Whether superseded versions at or below `horizon` wait for {@link collectGarbage}. */
  hasGarbage(horizon: Version): boolean {
    const next = this.#gcVersions[this.#gcHead];
    return next !== undefined && next <= horizon;
  }

  /**
   * Reclaims history below `horizon` until `deadline` (`performance.now()`):
   * versions no reader can see, and tombstones nobody needs. Returns how many
   * versions were reclaimed. Complexity: O(versions reclaimed).
   */
  collectGarbage(horizon: Version, deadline: number, current: Version, minPinned: Version | undefined): number {
    this.releaseLimbo(minPinned);
    const before = this.#collectedVersions;
    let handled = 0;
    while (this.#gcHead < this.#gcIds.length) {
      const version = this.#gcVersions[this.#gcHead]!;
      if (version > horizon) break;
      const id = this.#gcIds[this.#gcHead]!;
      const key = this.#gcKeys[this.#gcHead]!;
      this.#gcHead++;
      this.#heapBytes -= GC_ENTRY_HEAP_BYTES;
      this.#collectBelow(key, id, version, horizon, current, minPinned);
      if (++handled % BUDGET_CHECK_EVERY === 0 && performance.now() > deadline) break;
    }
    if (shouldTrimQueue(this.#gcHead, this.#gcIds.length)) {
      this.#gcIds = this.#gcIds.slice(this.#gcHead);
      this.#gcKeys = this.#gcKeys.slice(this.#gcHead);
      this.#gcVersions = this.#gcVersions.slice(this.#gcHead);
      this.#gcHead = 0;
    }
    return this.#collectedVersions - before;
  }

  /** Adds a checked entry to a run/type index (its heap counted). */
  #addIndexEntry(tree: BTree<string, true>, tag: string, key: string): void {
    if (tree.setIfNotPresent(tag + INDEX_SEPARATOR + key, true)) this.#heapBytes += indexEntryBytes(tag, key);
  }

  #deleteIndexEntry(tree: BTree<string, true>, tag: string, key: string): void {
    if (tree.delete(tag + INDEX_SEPARATOR + key)) this.#heapBytes -= indexEntryBytes(tag, key);
  }

  /** Cuts the versions of `key` older than `id` once the horizon has passed it; drops a tombstone nobody needs. */
  #collectBelow(key: string, id: VersionId, version: Version, horizon: Version, current: Version, minPinned: Version | undefined): void {
    const versions = this.#versions;
    // The queue holds the version itself: cutting below it is O(1), not a walk down from the head.
    // A version dropped meanwhile (a later write dropped its whole chain) is freed, and its id may
    // name a newer record now: the queued version tells them apart.
    if (!versions.memory.exists(id) || versions.version(id) !== version) return;
    // The key's head is looked up only when needed (a B-tree walk per collected version was most of GC's time).
    let head: VersionId | undefined | null = null;
    const headOf = (): VersionId => (head === null ? (head = this.heads.get(key)) : head) ?? 0;
    const cut = versions.prev(id);
    if (cut !== 0) {
      versions.setPrev(id, 0);
      this.#drop(key, cut, headOf);
    }
    // Only a tombstone's own queue entry can find it alone at the head (a newer write queues its own entry).
    if (!versions.isTombstone(id)) return;
    head = headOf();
    if (head !== 0 && versions.isTombstone(head) && versions.prev(head) === 0 && versions.version(head) <= horizon) {
      this.primary.delete(key);
      this.heads.delete(key);
      // The tree changed under the same version: readers opened from now on need a fresh clone.
      this.#cloneCache = undefined;
      this.#heapBytes -= KEY_HEAP_BYTES + key.length;
      this.#storedVersions--;
      this.#collectedVersions++;
      if (minPinned === undefined) versions.free(head);
      else this.#limbo.push({ id: head, at: current });
    }
  }

  /** Records kept for readers (see {@link #limbo}). */
  get limboRecords(): number {
    return this.#limbo.length;
  }

  /** Frees the tombstones of {@link #limbo} that no open reader can still name. */
  releaseLimbo(minPinned: Version | undefined): void {
    if (this.#limbo.length === 0) return;
    let kept = 0;
    for (const item of this.#limbo) {
      // Readers pin versions at or below the version they opened at; one opened after the
      // tombstone left the tree has a clone without it, but cannot be told apart: wait for all.
      if (minPinned === undefined || minPinned > item.at) this.#versions.free(item.id);
      else this.#limbo[kept++] = item;
    }
    this.#limbo.length = kept;
  }

  /**
   * Frees the chain starting at `dropped` (no longer reachable from the tree)
   * and removes the index entries no version still reachable from `kept` uses.
   */
  #drop(key: string, dropped: VersionId, kept: VersionId | (() => VersionId)): void {
    const versions = this.#versions;
    for (const index of ['run', 'type'] as const) {
      for (let id = dropped; id !== 0; id = versions.prev(id)) {
        const tag = versions.tag(id, index);
        if (tag === undefined || this.#chainHasTag(typeof kept === 'function' ? kept() : kept, index, tag)) continue;
        this.#deleteIndexEntry(this.indexTree(index), tag, key);
      }
    }
    let id = dropped;
    while (id !== 0) {
      const next = versions.prev(id);
      versions.free(id);
      this.#storedVersions--;
      this.#collectedVersions++;
      id = next;
    }
  }

  #chainHasTag(head: VersionId, index: IndexName, tag: string): boolean {
    for (let id = head; id !== 0; id = this.#versions.prev(id)) if (this.#versions.tag(id, index) === tag) return true;
    return false;
  }
}

/** Primary-tree writes one commit queued ({@link VersionChains.apply}); id 0 deletes the key. */
export class TreeWrites {
  readonly keys: string[] = [];
  readonly ids: VersionId[] = [];

  push(key: string, id: VersionId): void {
    this.keys.push(key);
    this.ids.push(id);
  }
}

/** How many items a time-bounded loop handles between clock reads. */
export const BUDGET_CHECK_EVERY = 64;
