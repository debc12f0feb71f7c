import type { Version } from '@epochdb/core';
import type { KeyRange } from './key-range.js';
import type { IndexName } from './versions.js';

/**
 * What one commit did to one key, as plain data (the versions themselves may
 * be collected while the log still holds the change).
 */
export interface KeyChange {
  readonly key: string;
  /** Tags of the head before the commit (none if there was no head). */
  readonly before: { readonly run?: string | undefined; readonly type?: string | undefined; readonly expiresAt?: number | undefined } | undefined;
  /** Tags of what the commit wrote (a tombstone has none). */
  readonly after: { readonly run?: string | undefined; readonly type?: string | undefined };
  /** Whether the commit was the TTL cleaner's delete. */
  readonly expiry: boolean;
}

/** A range a serializable transaction read: over all keys, or within one run/type. */
export interface RangeRead {
  readonly range: KeyRange;
  readonly index?: { readonly name: IndexName; readonly tag: string };
}

/**
 * The recent commits a serializable transaction must validate its range reads
 * against. Kept only while a serializable transaction is open, trimmed to the
 * oldest one's start.
 */
export class CommitLog {
  #entries: { version: Version; changes: readonly KeyChange[] }[] = [];

  get length(): number {
    return this.#entries.length;
  }

  append(version: Version, changes: readonly KeyChange[]): void {
    if (changes.length > 0) this.#entries.push({ version, changes });
  }

  /** Drops every commit at or below `version`. */
  trim(version: Version | undefined): void {
    if (version === undefined) {
      this.#entries = [];
      return;
    }
    let drop = 0;
    while (drop < this.#entries.length && this.#entries[drop]!.version <= version) drop++;
    if (drop > 0) this.#entries.splice(0, drop);
  }

  /**
   * The first key changed after `since` that falls in one of `reads`, or
   * `undefined`; reclaiming what had expired by `now` is no change.
   * Complexity: O(changes since `since` × reads).
   */
  findOverlap(since: Version, now: number, reads: readonly RangeRead[]): string | undefined {
    for (let i = this.#entries.length - 1; i >= 0 && this.#entries[i]!.version > since; i--) {
      for (const change of this.#entries[i]!.changes) {
        // A TTL cleaner's delete of what had already expired by then changed nothing a reader saw.
        const beforeExpiry = change.before?.expiresAt;
        if (change.expiry && beforeExpiry !== undefined && beforeExpiry <= now) continue;
        for (const read of reads) {
          if (!read.range.includes(change.key)) continue;
          if (read.index === undefined) return change.key;
          const { name, tag } = read.index;
          if (change.before?.[name] === tag || change.after[name] === tag) return change.key;
        }
      }
    }
    return undefined;
  }
}
