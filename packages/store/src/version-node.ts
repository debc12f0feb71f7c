import { materialize, type Entry, type Version } from '@epochdb/core';

// Friend access: only modules of this package that import these can reach a
// node's private state; they are assigned in VersionNode's static block.
/** Whether `node` is a deletion. */
export let isTombstone: (node: VersionNode) => boolean;
/** Whether `node` is a deletion made by the TTL cleaner. */
export let isExpiry: (node: VersionNode) => boolean;
/** The next older version of `node`, unless version GC has cut it. */
export let olderOf: (node: VersionNode) => VersionNode | undefined;
/** Links (or, with `undefined`, cuts) the next older version. */
export let setOlder: (node: VersionNode, prev: VersionNode | undefined) => void;
/** What a reader may see of the value: the frozen copy, or a fresh decoded copy. */
export let valueOf: (node: VersionNode) => unknown;
/** The {@link Entry} a reader gets: the node itself, or a fresh copy when the value is copied on read. */
export let entryOf: (node: VersionNode) => Entry;

/**
 * One version of one key, which is also the frozen {@link Entry} readers get
 * (no allocation per read). The head of a key's chain lives in the primary
 * B-tree; older versions hang off a private link for as long as a snapshot or
 * the retention window can read them. Only the store can see or cut that
 * link (through the functions below), so a reader holding an entry cannot
 * touch history.
 */
export class VersionNode implements Entry {
  readonly key: string;
  /** The deep-frozen value; `undefined` for a tombstone or when the value is copied on read. */
  readonly value: unknown;
  readonly version: Version;
  readonly run: string | undefined;
  readonly type: string | undefined;
  readonly expiresAt: number | undefined;
  /** The encoding, for values `Object.freeze` cannot protect (`Date`, `Map`, ...): each read decodes a fresh copy. */
  readonly #encoded: Uint8Array | undefined;
  readonly #tombstone: boolean;
  readonly #expiry: boolean;
  #prev: VersionNode | undefined = undefined;

  private constructor(
    key: string,
    value: unknown,
    encoded: Uint8Array | undefined,
    tombstone: boolean,
    expiry: boolean,
    version: Version,
    run: string | undefined,
    type: string | undefined,
    expiresAt: number | undefined,
  ) {
    this.key = key;
    this.value = value;
    this.version = version;
    this.run = run;
    this.type = type;
    this.expiresAt = expiresAt;
    this.#encoded = encoded;
    this.#tombstone = tombstone;
    this.#expiry = expiry;
    Object.freeze(this);
  }

  /** A version holding a value made by `prepareValue`. */
  static value(key: string, version: Version, stored: unknown, copyOnRead: boolean, run: string | undefined, type: string | undefined, expiresAt: number | undefined): VersionNode {
    return copyOnRead
      ? new VersionNode(key, undefined, stored as Uint8Array, false, false, version, run, type, expiresAt)
      : new VersionNode(key, stored, undefined, false, false, version, run, type, expiresAt);
  }

  /** A deletion; `expiry` when the TTL cleaner made it. */
  static tombstone(key: string, version: Version, expiry = false): VersionNode {
    return new VersionNode(key, undefined, undefined, true, expiry, version, undefined, undefined, undefined);
  }

  static {
    isTombstone = (node) => node.#tombstone;
    isExpiry = (node) => node.#expiry;
    olderOf = (node) => node.#prev;
    setOlder = (node, prev) => {
      node.#prev = prev;
    };
    valueOf = (node) => (node.#encoded === undefined ? node.value : materialize(node.#encoded, true));
    entryOf = (node) => {
      if (node.#encoded === undefined) return node;
      const entry: { -readonly [P in keyof Entry]: Entry[P] } = { key: node.key, value: valueOf(node), version: node.version };
      entry.run = node.run;
      entry.type = node.type;
      entry.expiresAt = node.expiresAt;
      return Object.freeze(entry);
    };
  }
}

/** The one visibility rule every read path uses: not deleted and not expired at `now`. */
export function isVisibleAt(node: VersionNode, now: number): boolean {
  return !isTombstone(node) && (node.expiresAt === undefined || node.expiresAt > now);
}

/** Whether `node` has a TTL that has run out at `now`. */
export function isExpiredAt(node: VersionNode, now: number): boolean {
  return node.expiresAt !== undefined && node.expiresAt <= now;
}

/** The newest version of a chain that is not newer than `version`. Complexity: O(versions newer than `version`). */
export function versionAt(head: VersionNode | undefined, version: Version): VersionNode | undefined {
  let node = head;
  while (node !== undefined && node.version > version) node = olderOf(node);
  return node;
}

/** Counts the nodes of a chain starting at `node`. */
export function chainLength(node: VersionNode | undefined): number {
  let n = 0;
  for (; node !== undefined; node = olderOf(node)) n++;
  return n;
}

/**
 * Whether the commit that made `after` (over `before`) changed nothing a
 * reader at time `now` could see: a TTL cleaner's delete of a value that had
 * already expired by then. Such commits never conflict with a transaction.
 */
export function isInvisibleExpiry(before: VersionNode | undefined, after: VersionNode | undefined, now: number): boolean {
  return after !== undefined && isExpiry(after) && before !== undefined && isExpiredAt(before, now);
}

/**
 * Whether a commit after `version` changed what a reader of `version` at time
 * `now` sees of the key whose newest version is `head`. Complexity: O(versions
 * after `version`).
 */
export function changedSince(head: VersionNode | undefined, version: Version, now: number): boolean {
  for (let node = head; node !== undefined && node.version > version; node = olderOf(node)) {
    if (!isInvisibleExpiry(olderOf(node), node, now)) return true;
  }
  return false;
}
