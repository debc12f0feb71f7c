import { materialize, type Entry, type Version } from '@epochdb/core';

/**
 * One version of one key. The head of a key's chain lives in the primary
 * B-tree; older versions hang off {@link prev} for as long as a snapshot or
 * the retention window can read them. Everything but `prev` is immutable, so
 * a B-tree clone (a snapshot) can share nodes with the live tree.
 */
export class VersionNode {
  constructor(
    readonly version: Version,
    /** The frozen value, or its encoding when {@link copyOnRead}; `undefined` for a tombstone. */
    readonly stored: unknown,
    readonly copyOnRead: boolean,
    readonly tombstone: boolean,
    readonly run: string | undefined,
    readonly type: string | undefined,
    readonly expiresAt: number | undefined,
    /** The next older version; cut by version GC once no reader can see it. */
    public prev: VersionNode | undefined,
  ) {}

  /** The one visibility rule every read path uses: not deleted and not expired at `now`. */
  isVisibleAt(now: number): boolean {
    return !this.tombstone && (this.expiresAt === undefined || this.expiresAt > now);
  }

  /** Whether this version has a TTL that has run out at `now`. */
  isExpiredAt(now: number): boolean {
    return this.expiresAt !== undefined && this.expiresAt <= now;
  }

  /** What a reader may see of the value: the frozen copy, or a fresh decoded copy. */
  value(): unknown {
    return materialize(this.stored, this.copyOnRead);
  }

  /** A frozen {@link Entry} for `key` at this version. */
  toEntry(key: string): Entry {
    const entry: { -readonly [P in keyof Entry]: Entry[P] } = { key, value: this.value(), version: this.version };
    if (this.run !== undefined) entry.run = this.run;
    if (this.type !== undefined) entry.type = this.type;
    if (this.expiresAt !== undefined) entry.expiresAt = this.expiresAt;
    return Object.freeze(entry);
  }
}

/** The newest version of a chain that is not newer than `version`. Complexity: O(versions newer than `version`). */
export function versionAt(head: VersionNode | undefined, version: Version): VersionNode | undefined {
  let node = head;
  while (node !== undefined && node.version > version) node = node.prev;
  return node;
}

/** Counts the nodes of a chain starting at `node`. */
export function chainLength(node: VersionNode | undefined): number {
  let n = 0;
  for (; node !== undefined; node = node.prev) n++;
  return n;
}
