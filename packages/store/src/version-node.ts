import { CorruptionError, encodeValue, materialize, prepareEncoded, type Entry, type Version } from '@epochdb/core';

/**
 * One version of one key. The head of a key's chain lives in the primary
 * B-tree; older versions hang off {@link prev} for as long as a snapshot or
 * the retention window can read them. Nodes never leave the store: readers get
 * {@link entry}, a frozen plain object made once at write time, so reads
 * allocate nothing. Everything but `prev` is immutable (a loaded value's
 * first read fills in `entry` once, which changes nothing a reader can see),
 * so a B-tree clone (a snapshot) can share nodes with the live tree.
 */
export class VersionNode {
  /** The next older version; cut by version GC once no reader can see it. */
  prev: VersionNode | undefined = undefined;
  /** No longer reachable from the tree (version GC dropped it): nothing more to collect through it. */
  detached = false;
  /** Approximate bytes this version holds (object overhead, key, encoded value): what `maxMemoryBytes` counts. */
  size = NODE_OVERHEAD_BYTES;

  private constructor(
    readonly key: string,
    readonly version: Version,
    /**
     * What readers get; `undefined` for a tombstone or a value copied on read;
     * {@link UNDECODED} for a value loaded from disk and not read yet (set once, on its first read).
     */
    public entry: Entry | undefined,
    /**
     * The encoding of a value `Object.freeze` cannot protect (`Date`, `Map`, ...): each read decodes a fresh copy.
     * Also the bytes of a loaded value not decoded yet (dropped once decoded into a frozen copy).
     */
    public encoded: Uint8Array | undefined,
    readonly tombstone: boolean,
    /** A tombstone made by the TTL cleaner. */
    readonly expiry: boolean,
    readonly run: string | undefined,
    readonly type: string | undefined,
    readonly expiresAt: number | undefined,
  ) {}

  /** A version holding a value made by `prepareValue`, whose encoding is `encodedBytes` long. */
  static value(key: string, version: Version, stored: unknown, copyOnRead: boolean, run: string | undefined, type: string | undefined, expiresAt: number | undefined, encodedBytes = 0): VersionNode {
    const node = copyOnRead
      ? new VersionNode(key, version, undefined, stored as Uint8Array, false, false, run, type, expiresAt)
      : new VersionNode(key, version, makeEntry(key, stored, version, run, type, expiresAt), undefined, false, false, run, type, expiresAt);
    node.size = versionSize(key, encodedBytes, copyOnRead);
    return node;
  }

  /**
   * A version loaded from disk (checkpoint or WAL replay) whose value stays as
   * its checksummed `encoded` bytes until first read: recovery then costs
   * reading, checksumming and building the tree, not decoding every value.
   * The first read decodes and validates it once ({@link decodeLoaded}).
   */
  static loaded(key: string, version: Version, encoded: Uint8Array, run: string | undefined, type: string | undefined, expiresAt: number | undefined): VersionNode {
    // An own copy: the bytes are a view of the chunk or WAL segment they were read from, and a
    // value not read yet must not keep that whole buffer alive.
    const node = new VersionNode(key, version, UNDECODED, encoded.slice(), false, false, run, type, expiresAt);
    // Counted as the frozen copy it becomes on first read (what a written value counts), so the account never changes.
    node.size = versionSize(key, encoded.byteLength, false);
    return node;
  }

  /** A deletion; `expiry` when the TTL cleaner made it. */
  static tombstone(key: string, version: Version, expiry = false): VersionNode {
    return new VersionNode(key, version, undefined, undefined, true, expiry, undefined, undefined, undefined);
  }
}

/** Heap bytes of a version beyond its key and value: the node, its entry object and B-tree slots (measured with heap snapshots, rounded). */
export const NODE_OVERHEAD_BYTES = 160;
/** How much heap a decoded, frozen value takes per byte of its msgpack encoding (objects and strings; rounded up). */
const DECODED_BYTES_PER_ENCODED_BYTE = 3;

/**
 * Approximate heap bytes of a version of `key` whose value encodes to `encodedBytes`.
 * A decoded value takes a few times its encoding on the heap. A copied-on-read one
 * holds only its bytes, but is counted the same: a value loaded from disk is not
 * decoded until first read, so whether it is copied on read is not known when it is
 * counted, and the account must come out the same after a reopen (conservative for a budget).
 */
export function versionSize(key: string, encodedBytes: number, _copyOnRead: boolean): number {
  return NODE_OVERHEAD_BYTES + 2 * key.length + DECODED_BYTES_PER_ENCODED_BYTE * encodedBytes;
}

/** A frozen plain {@link Entry}; absent tags and expiry are left out rather than set to `undefined`. */
function makeEntry(key: string, value: unknown, version: Version, run: string | undefined, type: string | undefined, expiresAt: number | undefined): Entry {
  const entry: { -readonly [P in keyof Entry]: Entry[P] } = { key, value, version };
  if (run !== undefined) entry.run = run;
  if (type !== undefined) entry.type = type;
  if (expiresAt !== undefined) entry.expiresAt = expiresAt;
  return Object.freeze(entry);
}

/** The `entry` of a loaded value not decoded yet (never handed to a reader). */
const UNDECODED: Entry = Object.freeze({ key: '', value: undefined, version: 0 });

/**
 * Decodes a loaded value on its first read and keeps the result in the node:
 * a frozen copy in `entry` (the bytes are dropped), or, for a value copied on
 * read, its own copy of the bytes. Bytes that passed their checksum but do not
 * decode to a value EpochDB could have written are a {@link CorruptionError}
 * (thrown by every read of it; nothing is cached).
 */
function decodeLoaded(node: VersionNode): void {
  let prepared;
  try {
    prepared = prepareEncoded(node.encoded!);
  } catch (cause) {
    throw new CorruptionError(
      `the stored value of key ${JSON.stringify(node.key)} at version ${node.version} passed its checksum but does not decode: ${(cause as Error).message}`,
      { file: '(checkpoint or write-ahead log)', offset: 0, lastGoodVersion: node.version - 1 },
      { cause },
    );
  }
  if (prepared.copyOnRead) {
    node.encoded = prepared.stored as Uint8Array;
    node.entry = undefined;
  } else {
    node.entry = makeEntry(node.key, prepared.stored, node.version, node.run, node.type, node.expiresAt);
    node.encoded = undefined;
  }
}

/** What a reader may see of the value: the frozen copy, or a fresh decoded copy. */
export function valueOf(node: VersionNode): unknown {
  let entry = node.entry;
  if (entry === UNDECODED) {
    decodeLoaded(node);
    entry = node.entry;
  }
  return entry !== undefined ? entry.value : materialize(node.encoded, true);
}

/** The {@link Entry} a reader gets: made at write time (or on a loaded value's first read), or afresh when the value is copied on read. */
export function entryOf(node: VersionNode): Entry {
  if (node.entry === UNDECODED) decodeLoaded(node);
  return node.entry ?? makeEntry(node.key, valueOf(node), node.version, node.run, node.type, node.expiresAt);
}

/** The value's encoding (kept for copied-on-read values and loaded values not read yet, made afresh for frozen ones, which hold no `-0`). */
export function encodedOf(node: VersionNode): Uint8Array {
  return node.encoded ?? encodeValue(node.entry?.value);
}

/** The one visibility rule every read path uses: not deleted and not expired at `now`. */
export function isVisibleAt(node: VersionNode, now: number): boolean {
  return !node.tombstone && (node.expiresAt === undefined || node.expiresAt > now);
}

/** Whether `node` has a TTL that has run out at `now`. */
export function isExpiredAt(node: VersionNode, now: number): boolean {
  return node.expiresAt !== undefined && node.expiresAt <= now;
}

/** The newest version of a chain that is not newer than `version`. Complexity: O(versions newer than `version`). */
export function versionAt(head: VersionNode | undefined, version: Version): VersionNode | undefined {
  let node = head;
  while (node !== undefined && node.version > version) node = node.prev;
  return node;
}

/**
 * Whether the commit that made `after` (over `before`) changed nothing a
 * reader at time `now` could see: a TTL cleaner's delete of a value that had
 * already expired by then. Such commits never conflict with a transaction.
 */
export function isInvisibleExpiry(before: VersionNode | undefined, after: VersionNode | undefined, now: number): boolean {
  return after !== undefined && after.expiry && before !== undefined && isExpiredAt(before, now);
}

/**
 * Whether a commit after `version` changed what a reader of `version` at time
 * `now` sees of the key whose newest version is `head`. Complexity: O(versions
 * after `version`).
 */
export function changedSince(head: VersionNode | undefined, version: Version, now: number): boolean {
  for (let node = head; node !== undefined && node.version > version; node = node.prev) {
    if (!isInvisibleExpiry(node.prev, node, now)) return true;
  }
  return false;
}
