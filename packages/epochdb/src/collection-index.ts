import { InvalidValueError, UniqueViolationError, shouldTrimQueue, type Version } from '@epochdb/core';
import { INDEX_SEPARATOR, createStringTree, type AppliedChange, type BTree, type PendingWrite, type ReadApi } from '@epochdb/store';
import type { CollectionHost, IndexFunction, IndexRange, TypedEntry } from './collection-types.js';
import { encodeIndexKey, indexKeysOf, type IndexKey } from './index-key.js';

/** Separates the encoded index key from the primary key in the index tree (entries hold both, so the split is never parsed). */
const SEPARATOR = INDEX_SEPARATOR;

/**
 * A secondary index over one collection, in memory: (index key, primary key)
 * pairs in a sorted B-tree. Entries are added in the commit that makes them
 * true; an entry a commit made false stays until no reader can see the
 * version before that commit, and every query checks each candidate against
 * what its reader sees. So the live database, a snapshot and a transaction
 * each get the index as of their own version.
 */
export class CollectionIndex<T> {
  readonly collection: string;
  readonly name: string;
  readonly unique: boolean;
  readonly #fn: IndexFunction<T>;
  readonly #host: CollectionHost;
  readonly #tree: BTree<string, readonly [string, string]> = createStringTree();
  /** The index keys of every live entry, by primary key. */
  readonly #forward = new Map<string, readonly string[]>();
  /** Entries made false, waiting for the GC horizon to pass the version that did it. */
  #retired: { composite: string; key: string; encoded: string; version: Version }[] = [];
  /** The latest retirement of each composite: only that one may remove it (an entry can be made false, true and false again). */
  readonly #lastRetired = new Map<string, Version>();
  /** The version the index was built at: older readers get a scan of the collection instead. */
  #builtAt: Version = 0;
  #retiredHead = 0;

  /** Not for direct use: `collection.createIndex()` makes indexes. */
  constructor(collection: string, name: string, fn: IndexFunction<T>, unique: boolean, host: CollectionHost) {
    this.collection = collection;
    this.name = name;
    this.#fn = fn;
    this.unique = unique;
    this.#host = host;
  }

  /** Index entries held, including ones kept for older readers. */
  get size(): number {
    return this.#tree.size;
  }

  /** Live entries whose index key equals `key`, in primary-key order. Read live, or through `at` (a snapshot or transaction). */
  get(key: IndexKey, options?: { limit?: number }, at: ReadApi = this.#host.live): TypedEntry<T>[] {
    const encoded = encodeIndexKey(key, `${this.#label}.get()`);
    const limit = options?.limit ?? Infinity;
    const out: TypedEntry<T>[] = [];
    const seen = new Set<string>();
    if (at.version < this.#builtAt) {
      // A reader older than the index: what it sees may never have been indexed. Scan instead.
      for (const entry of at.byType(this.collection)) if (out.length < limit) this.#collect(entry.key, encoded, at, out, seen);
      return out;
    }
    for (const [composite, [entryKey, primary]] of this.#tree.entries(encoded + SEPARATOR)) {
      if (!composite.startsWith(encoded + SEPARATOR) || out.length >= limit) break;
      if (entryKey !== encoded) continue;
      this.#collect(primary, encoded, at, out, seen);
    }
    this.#ownWrites(at, (primary, keys) => keys.includes(encoded) && this.#collect(primary, encoded, at, out, seen));
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out.slice(0, limit);
  }

  /** Live entries whose index key lies in `range`, in index-key order (then primary-key order). */
  range(range: IndexRange = {}, at: ReadApi = this.#host.live): TypedEntry<T>[] {
    const what = `${this.#label}.range()`;
    const low = range.gte !== undefined ? { key: encodeIndexKey(range.gte, what), inclusive: true } : range.gt !== undefined ? { key: encodeIndexKey(range.gt, what), inclusive: false } : undefined;
    const high = range.lte !== undefined ? { key: encodeIndexKey(range.lte, what), inclusive: true } : range.lt !== undefined ? { key: encodeIndexKey(range.lt, what), inclusive: false } : undefined;
    const within = (encoded: string): boolean =>
      (low === undefined || encoded > low.key || (low.inclusive && encoded === low.key)) && (high === undefined || encoded < high.key || (high.inclusive && encoded === high.key));
    const found: { encoded: string; entry: TypedEntry<T> }[] = [];
    const seen = new Set<string>();
    const add = (primary: string, encoded: string): void => {
      const out: TypedEntry<T>[] = [];
      if (this.#collect(primary, encoded, at, out, seen)) found.push({ encoded, entry: out[0]! });
    };
    if (at.version < this.#builtAt) {
      // A reader older than the index: scan what it sees instead.
      for (const entry of at.byType(this.collection)) for (const encoded of this.#keysOf(entry.value as T)) if (within(encoded)) add(entry.key, encoded);
    } else {
      for (const [, [encoded, primary]] of this.#tree.entries(low?.key ?? '')) {
        if (high !== undefined && encoded > high.key && !encoded.startsWith(high.key)) break;
        if (within(encoded)) add(primary, encoded);
      }
    }
    this.#ownWrites(at, (primary, keys) => {
      for (const encoded of keys) if (within(encoded)) add(primary, encoded);
    });
    found.sort((a, b) => (a.encoded < b.encoded ? -1 : a.encoded > b.encoded ? 1 : a.entry.key < b.entry.key ? -1 : a.entry.key > b.entry.key ? 1 : 0));
    if (range.reverse === true) found.reverse();
    return found.slice(0, range.limit ?? Infinity).map((f) => f.entry);
  }

  /** @internal Fills the index from the live entries. */
  build(): void {
    this.#builtAt = this.#host.live.version;
    for (const entry of this.#host.live.byType(this.collection)) {
      const keys = this.#keysOf(entry.value as T);
      if (this.unique) {
        for (const encoded of keys) {
          const holder = this.#liveHolder(encoded, new Set());
          if (holder !== undefined) {
            throw new UniqueViolationError(`${this.#label}: keys ${JSON.stringify(holder)} and ${JSON.stringify(entry.key)} share the unique index key ${describe(encoded)}`, { index: this.#label, existingKey: holder, key: entry.key });
          }
        }
      }
      this.#set(entry.key, keys);
    }
  }

  /** @internal Refuses a commit that would give two live keys the same unique key. */
  checkUnique(writes: readonly PendingWrite[]): void {
    const written = new Set(writes.map((w) => w.key));
    const claims = new Map<string, string>();
    for (const write of writes) {
      if (write.kind !== 'put' || write.type !== this.collection) continue;
      for (const encoded of this.keysOfWrite(write)) {
        const other = claims.get(encoded) ?? this.#liveHolder(encoded, written);
        if (other !== undefined && other !== write.key) {
          throw new UniqueViolationError(`${this.#label}: ${JSON.stringify(write.key)} would share the unique index key ${describe(encoded)} with ${JSON.stringify(other)}; nothing was written`, {
            index: this.#label,
            existingKey: other,
            key: write.key,
          });
        }
        claims.set(encoded, write.key);
      }
    }
  }

  /** @internal Brings the index up to a commit. */
  applied(version: Version, changes: readonly AppliedChange[]): void {
    for (const change of changes) {
      const was = change.before?.type === this.collection || this.#forward.has(change.key);
      const is = change.after?.type === this.collection;
      if (!was && !is) continue;
      const old = this.#forward.get(change.key) ?? [];
      const next = is ? this.#keysOf(change.after!.value as T) : [];
      for (const encoded of old) {
        if (next.includes(encoded)) continue;
        const composite = encoded + SEPARATOR + change.key;
        this.#retired.push({ composite, key: change.key, encoded, version });
        this.#lastRetired.set(composite, version);
      }
      this.#set(change.key, next);
    }
    this.#collectRetired();
  }

  get #label(): string {
    return `${this.collection}.${this.name}`;
  }

  #keysOf(value: T): string[] {
    let result: unknown;
    try {
      result = this.#fn(value);
    } catch (error) {
      throw new InvalidValueError(`${this.#label}: the index function threw: ${(error as Error).message}`, { cause: error });
    }
    return indexKeysOf(result, `${this.#label}`);
  }

  /** @internal The index keys of a pending put's value. */
  keysOfWrite(write: PendingWrite): string[] {
    return this.#keysOf(this.#host.codec.read(write.prepared!.encoded, write.prepared!.copyOnRead) as T);
  }

  #set(key: string, keys: readonly string[]): void {
    for (const encoded of keys) this.#tree.set(encoded + SEPARATOR + key, [encoded, key]);
    if (keys.length > 0) this.#forward.set(key, keys);
    else this.#forward.delete(key);
  }

  /** A live key (not in `except`) currently holding `encoded`. */
  #liveHolder(encoded: string, except: ReadonlySet<string>): string | undefined {
    for (const [composite, [entryKey, primary]] of this.#tree.entries(encoded + SEPARATOR)) {
      if (!composite.startsWith(encoded + SEPARATOR)) break;
      if (entryKey !== encoded || except.has(primary)) continue;
      if (this.#forward.get(primary)?.includes(encoded) === true && this.#host.live.has(primary)) return primary;
    }
    return undefined;
  }

  /** Adds `primary`'s entry as `at` sees it if it really has `encoded` now. */
  #collect(primary: string, encoded: string, at: ReadApi, out: TypedEntry<T>[], seen: Set<string>): boolean {
    const id = encoded + SEPARATOR + primary;
    if (seen.has(id)) return false;
    const entry = at.getEntry(primary);
    if (entry === undefined || entry.type !== this.collection || !this.#keysOf(entry.value as T).includes(encoded)) return false;
    seen.add(id);
    out.push(entry as TypedEntry<T>);
    return true;
  }

  /** A transaction's own puts into the collection are candidates the index does not hold yet. */
  #ownWrites(at: ReadApi, visit: (primary: string, keys: readonly string[]) => void): void {
    const writes = (at as { ownWrites?: ReadonlyMap<string, PendingWrite> }).ownWrites;
    if (writes === undefined) return;
    for (const write of writes.values()) {
      if (write.kind === 'put' && write.type === this.collection) visit(write.key, this.keysOfWrite(write));
    }
  }

  /** Drops retired entries no reader can need any more (unless they became true again). */
  #collectRetired(): void {
    const horizon = this.#host.oldestVersion();
    while (this.#retiredHead < this.#retired.length && this.#retired[this.#retiredHead]!.version <= horizon) {
      const { composite, key, encoded, version } = this.#retired[this.#retiredHead++]!;
      // A later retirement of the same entry (after it became true again) decides instead:
      // readers between the two may still need it.
      if (this.#lastRetired.get(composite) !== version) continue;
      this.#lastRetired.delete(composite);
      if (this.#forward.get(key)?.includes(encoded) !== true) this.#tree.delete(composite);
    }
    if (shouldTrimQueue(this.#retiredHead, this.#retired.length)) {
      this.#retired = this.#retired.slice(this.#retiredHead);
      this.#retiredHead = 0;
    }
  }
}

function describe(encoded: string): string {
  return encoded.startsWith('s') ? JSON.stringify(encoded.slice(1)) : `(number ${encoded})`;
}
