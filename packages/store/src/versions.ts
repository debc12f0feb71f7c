import { CorruptionError, DEFAULT_VALUE_CACHE_ENTRIES, InvalidValueError, ValueCodec, type Entry, type Version } from '@epochdb/core';
import { TagTable } from './tag-table.js';
import { ValueCache } from './value-cache.js';
import { COPY_ON_READ, EXPIRY, KIND_KNOWN, TOMBSTONE, ValueMemory } from './value-memory.js';

/** A stored version, named by its record id in {@link ValueMemory}; 0 means none. */
export type VersionId = number;

/** The secondary indexes a view can query. */
export type IndexName = 'run' | 'type';

/** Tuning of the version store. */
export interface VersionsOptions {
  /** Bytes per value-memory segment (default 8 MiB). */
  readonly segmentBytes?: number | undefined;
  /** Frozen entries kept for hot keys (default none: every read decodes). */
  readonly valueCacheEntries?: number | undefined;
  /** Where segment buffers come from (default `new SharedArrayBuffer`; tests inject failures). */
  readonly allocateSegment?: ((bytes: number) => SharedArrayBuffer) | undefined;
  /** The codec values are encoded with (its shared structure table); default a new, empty one. */
  readonly codec?: ValueCodec | undefined;
}

/**
 * Every stored version of every key: records in value memory, tags interned,
 * and what readers get (a frozen {@link Entry}, cached for hot records, or a
 * fresh copy for values `Object.freeze` cannot protect). The one place that
 * knows the record layout; everything else handles {@link VersionId}s.
 */
export class Versions {
  readonly memory: ValueMemory;
  readonly tags = new TagTable();
  readonly cache: ValueCache;
  readonly codec: ValueCodec;

  constructor(options: VersionsOptions = {}) {
    this.codec = options.codec ?? new ValueCodec();
    this.memory = new ValueMemory(options.segmentBytes, options.allocateSegment);
    this.cache = new ValueCache(options.valueCacheEntries ?? DEFAULT_VALUE_CACHE_ENTRIES);
    this.memory.onFree = (id) => this.cache.delete(id);
  }

  /**
   * Stores a value version and returns its id. `copyOnRead` is `undefined`
   * for bytes loaded from disk (learnt on first read). `encoded` is copied.
   */
  value(version: Version, encoded: Uint8Array, copyOnRead: boolean | undefined, run: string | undefined, type: string | undefined, expiresAt: number | undefined): VersionId {
    const flags = copyOnRead === undefined ? 0 : KIND_KNOWN | (copyOnRead ? COPY_ON_READ : 0);
    return this.memory.append(version, flags, expiresAt, 0, this.tags.acquire(run), this.tags.acquire(type), encoded);
  }

  /** Stores a value version loaded from disk whose bytes are `source[start, end)` (copied) and returns its id. */
  valueFrom(version: Version, source: Uint8Array, start: number, end: number, run: string | undefined, type: string | undefined, expiresAt: number | undefined): VersionId {
    return this.memory.appendFrom(version, 0, expiresAt, this.tags.acquire(run), this.tags.acquire(type), source, start, end);
  }

  /** Lets every record and cached entry go (the store closed). */
  release(): void {
    this.cache.clear();
    this.memory.releaseAll();
  }

  /** Stores a deletion (`expiry`: made by the TTL cleaner). */
  tombstone(version: Version, expiry: boolean): VersionId {
    return this.memory.append(version, TOMBSTONE | (expiry ? EXPIRY : 0), undefined, 0, 0, 0, undefined);
  }

  /** Lets a version go: its record and its tags. */
  free(id: VersionId): void {
    const memory = this.memory;
    this.tags.release(memory.runId(id));
    this.tags.release(memory.typeId(id));
    memory.free(id);
  }

  version(id: VersionId): Version {
    return this.memory.version(id);
  }

  isTombstone(id: VersionId): boolean {
    return (this.memory.flags(id) & TOMBSTONE) !== 0;
  }

  /** A tombstone made by the TTL cleaner. */
  isExpiry(id: VersionId): boolean {
    return (this.memory.flags(id) & EXPIRY) !== 0;
  }

  expiresAt(id: VersionId): number | undefined {
    return this.memory.expiresAt(id);
  }

  /** The next older version (0: none). */
  prev(id: VersionId): VersionId {
    return this.memory.prev(id);
  }

  setPrev(id: VersionId, prev: VersionId): void {
    this.memory.setPrev(id, prev);
  }

  run(id: VersionId): string | undefined {
    return this.tags.name(this.memory.runId(id));
  }

  type(id: VersionId): string | undefined {
    return this.tags.name(this.memory.typeId(id));
  }

  tag(id: VersionId, index: IndexName): string | undefined {
    return index === 'run' ? this.run(id) : this.type(id);
  }

  /** The run and type tags of a version, without its value (absent ones left out). */
  tagsOf(id: VersionId): { run?: string; type?: string } {
    const tags: { run?: string; type?: string } = {};
    const run = this.run(id);
    const type = this.type(id);
    if (run !== undefined) tags.run = run;
    if (type !== undefined) tags.type = type;
    return tags;
  }

  /** The one visibility rule every read path uses: not deleted and not expired at `now`. */
  isVisibleAt(id: VersionId, now: number): boolean {
    if ((this.memory.flags(id) & TOMBSTONE) !== 0) return false;
    const expiresAt = this.memory.expiresAt(id);
    return expiresAt === undefined || expiresAt > now;
  }

  /** Whether `id` has a TTL that has run out at `now`. */
  isExpiredAt(id: VersionId, now: number): boolean {
    const expiresAt = this.memory.expiresAt(id);
    return expiresAt !== undefined && expiresAt <= now;
  }

  /** The newest version of the chain from `head` that is not newer than `version` (0: none). Complexity: O(versions newer). */
  versionAt(head: VersionId | undefined, version: Version): VersionId {
    let id = head ?? 0;
    while (id !== 0 && this.memory.version(id) > version) id = this.memory.prev(id);
    return id;
  }

  /**
   * Whether the commit that made `after` (over `before`) changed nothing a
   * reader at time `now` could see: a TTL cleaner's delete of a value that had
   * already expired by then. Such commits never conflict with a transaction.
   */
  isInvisibleExpiry(before: VersionId, after: VersionId, now: number): boolean {
    return after !== 0 && this.isExpiry(after) && before !== 0 && this.isExpiredAt(before, now);
  }

  /** Whether a commit after `version` changed what a reader of `version` at `now` sees of the chain from `head`. */
  changedSince(head: VersionId | undefined, version: Version, now: number): boolean {
    for (let id = head ?? 0; id !== 0 && this.memory.version(id) > version; id = this.memory.prev(id)) {
      if (!this.isInvisibleExpiry(this.memory.prev(id), id, now)) return true;
    }
    return false;
  }

  /** The frozen {@link Entry} a reader gets for version `id` of `key`. */
  entry(key: string, id: VersionId): Entry {
    const cached = this.cache.capacity === 0 ? undefined : this.cache.get(id);
    if (cached !== undefined) return cached;
    const { value, frozen } = this.#decode(id, key);
    const entry = makeEntry(key, value, this.memory.version(id), this.run(id), this.type(id), this.memory.expiresAt(id));
    // A copied-on-read value is a fresh copy per read: never shared through the cache.
    if (frozen) this.cache.set(id, entry);
    return entry;
  }

  /** The value a reader gets for version `id` of `key` (no entry object is made unless the cache keeps one). */
  read(key: string, id: VersionId): unknown {
    if (this.cache.capacity === 0) return this.#decode(id, key).value;
    const cached = this.cache.get(id);
    if (cached !== undefined) return cached.value;
    return this.entry(key, id).value;
  }

  /** An own copy of the value's encoding (what a checkpoint or backup writes). */
  encoded(id: VersionId): Uint8Array {
    return this.memory.valueCopy(id);
  }

  /**
   * The value of `id` decoded for a reader in one pass: deep-frozen plain
   * data, or a fresh copy when it holds `Date`, `Map`, ... The kind of a value
   * loaded from disk is learnt on its first decode and kept in its flags.
   * Bytes that do not decode (or name a structure the table does not hold)
   * are a {@link CorruptionError} on every read.
   */
  #decode(id: VersionId, key: string): { value: unknown; frozen: boolean } {
    const memory = this.memory;
    const flags = memory.flags(id);
    try {
      if ((flags & KIND_KNOWN) !== 0) {
        const copyOnRead = (flags & COPY_ON_READ) !== 0;
        const segment = memory.locateValue(id);
        return { value: this.codec.readRange(segment, memory.valueStart, memory.valueEnd, copyOnRead), frozen: !copyOnRead };
      }
      const decoded = this.codec.decodeStored(memory.valueView(id));
      memory.addFlags(id, KIND_KNOWN | (decoded.frozen ? 0 : COPY_ON_READ));
      return decoded;
    } catch (cause) {
      if (!(cause instanceof InvalidValueError)) throw cause;
      throw new CorruptionError(
        `the stored value of key ${JSON.stringify(key)} at version ${memory.version(id)} passed its checksum but does not decode: ${cause.message}`,
        { file: '(checkpoint or write-ahead log)', offset: 0, lastGoodVersion: memory.version(id) - 1 },
        { cause },
      );
    }
  }

  /** Bytes version `id` takes in value memory. */
  recordBytes(id: VersionId): number {
    return this.memory.recordBytes(id);
  }
}

/** A frozen plain {@link Entry}; absent tags and expiry are left out rather than set to `undefined`. */
export function makeEntry(key: string, value: unknown, version: Version, run: string | undefined, type: string | undefined, expiresAt: number | undefined): Entry {
  const entry: { -readonly [P in keyof Entry]: Entry[P] } = { key, value, version };
  if (run !== undefined) entry.run = run;
  if (type !== undefined) entry.type = type;
  if (expiresAt !== undefined) entry.expiresAt = expiresAt;
  return Object.freeze(entry);
}
