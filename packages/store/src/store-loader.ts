import { chunkExpiresAt, CorruptionError, InvalidOptionError, type CheckpointChunk, type CheckpointEntry, type ChunkedEntries, type CommitOp, type CommitRecord, type StructureDefs, type StructureKeys, type Version } from '@epochdb/core';
import type { VersionChains } from './version-chains.js';
import type { VersionId, Versions } from './versions.js';

/** What loading works on: the store's parts and its version counter. */
export interface LoaderParts {
  readonly versions: Versions;
  readonly chains: VersionChains;
  readonly state: { version: Version };
  /** Whether superseded versions can go at once (nothing older than the newest can be read). */
  readonly eager: () => boolean;
}

/**
 * Loading a store from what persistence and replication read back: a
 * checkpoint into an empty store ({@link restore}) and committed records
 * after it ({@link applyRecord}). Value bytes are copied into value memory as
 * they are, never decoded; structures of the table are defined before the
 * values that use them. Listeners are not called.
 */
export class StoreLoader {
  readonly #parts: LoaderParts;

  constructor(parts: LoaderParts) {
    this.#parts = parts;
  }

  /**
   * Loads a checkpoint into an empty store (see `MvccStore.restore`). Entries
   * in strictly ascending key order (a checkpoint's) build the trees
   * bottom-up in O(n); any other order goes key by key, a later duplicate
   * winning.
   */
  restore(entries: Iterable<CheckpointEntry> | ChunkedEntries, version: Version, structures: readonly StructureKeys[]): void {
    const { versions, chains, state } = this.#parts;
    if (state.version !== 0 || chains.primary.size !== 0) throw new InvalidOptionError('restore(): the store must be empty');
    if (!Number.isSafeInteger(version) || version < 0) throw new InvalidOptionError(`restore(): version must be a non-negative integer, got ${String(version)}`);
    if (structures.length > 0) this.#define({ from: 0, keys: structures }, version);
    const keys: string[] = [];
    const ids: VersionId[] = [];
    let ascending = true;
    const outside = (key: string, at: Version): InvalidOptionError => new InvalidOptionError(`restore(): entry ${JSON.stringify(key)} has version ${at}, outside 1..${version}`);
    if ('chunks' in entries) {
      // Column by column: each value's bytes are copied from the chunk's block, no object or view per entry.
      for (const chunk of entries.chunks()) {
        for (let i = 0; i < chunk.length; i++) {
          const key = chunk.keys[i]!;
          const entryVersion = chunk.versions[i]!;
          if (!(entryVersion > 0 && entryVersion <= version)) throw outside(key, entryVersion);
          if (ascending && keys.length > 0 && !(key > keys[keys.length - 1]!)) ascending = false;
          keys.push(key);
          ids.push(this.#storeRow(chunk, i));
        }
      }
    } else {
      for (const entry of entries) {
        if (!(entry.version > 0 && entry.version <= version)) throw outside(entry.key, entry.version);
        if (ascending && keys.length > 0 && !(entry.key > keys[keys.length - 1]!)) ascending = false;
        keys.push(entry.key);
        ids.push(versions.value(entry.version, entry.encoded, undefined, entry.run, entry.type, entry.expiresAt));
      }
    }
    if (ascending) chains.load(keys, ids);
    else for (let i = 0; i < keys.length; i++) chains.apply(keys[i]!, ids[i]!, true, chains.heads.get(keys[i]!));
    state.version = version;
  }

  /**
   * Loads a checkpoint and the committed records after it into an empty store
   * (see `MvccStore.load`). When nothing older than the newest version can be
   * read, only each key's last write matters: the records' writes are gathered
   * (the last one per key winning), their keys sorted, merged in key order
   * with the checkpoint's rows, and the trees built once, bottom-up, with no
   * descent per write and no record for a superseded version. Otherwise (a
   * retention window, or entries not in chunks) it is {@link restore} and
   * {@link applyRecord} for each record, which keeps their history; so it is
   * for a checkpoint whose rows turn out not to be in key order (written by an
   * older restore): what was loaded is let go and the entries read again.
   * Complexity: O(n + d log d) for n checkpoint rows and d written keys.
   */
  load(entries: Iterable<CheckpointEntry> | ChunkedEntries, version: Version, structures: readonly StructureKeys[], records: readonly CommitRecord[]): void {
    if (!this.#parts.eager() || !('chunks' in entries)) {
      this.restore(entries, version, structures);
      for (const record of records) this.applyRecord(record);
      return;
    }
    const { versions, chains, state } = this.#parts;
    if (state.version !== 0 || chains.primary.size !== 0) throw new InvalidOptionError('load(): the store must be empty');
    if (!Number.isSafeInteger(version) || version < 0) throw new InvalidOptionError(`load(): version must be a non-negative integer, got ${String(version)}`);
    if (structures.length > 0) this.#define({ from: 0, keys: structures }, version);
    // Each written key's last op (an index into `ops`/`opVersions`: no object per write); structures defined in record order.
    const last = new Map<string, number>();
    const ops: CommitOp[] = [];
    const opVersions: Version[] = [];
    let newest = version;
    for (const record of records) {
      if (!Number.isSafeInteger(record.version) || record.version <= newest) {
        throw new InvalidOptionError(`load(): record versions must be integers ascending above ${newest}, got ${String(record.version)}`);
      }
      if (record.structures !== undefined) this.#define(record.structures, record.version);
      for (const op of record.ops) {
        last.set(op.key, ops.length);
        ops.push(op);
        opVersions.push(record.version);
      }
      newest = record.version;
    }
    // The default sort orders strings by UTF-16 code units, as `<` does, natively.
    const written = [...last.keys()].sort();
    const keys: string[] = [];
    const ids: VersionId[] = [];
    let w = 0;
    const addWritten = (key: string): void => {
      const at = last.get(key)!;
      const op = ops[at]!;
      if (op.kind !== 'put') return;
      keys.push(key);
      ids.push(versions.value(opVersions[at]!, op.encoded, undefined, op.run, op.type, op.expiresAt));
    };
    let previous: string | undefined;
    for (const chunk of entries.chunks()) {
      const { keys: chunkKeys, versions: at } = chunk;
      for (let i = 0; i < chunk.length; i++) {
        const key = chunkKeys[i]!;
        if (previous !== undefined && !(key > previous)) {
          // Not a checkpoint in key order: undo and load key by key (a later row for a key wins).
          for (const id of ids) versions.free(id);
          this.restore(entries, version, structures);
          for (const record of records) this.applyRecord(record);
          return;
        }
        previous = key;
        const entryVersion = at[i]!;
        if (!(entryVersion > 0 && entryVersion <= version)) throw new InvalidOptionError(`load(): entry ${JSON.stringify(key)} has version ${entryVersion}, outside 1..${version}`);
        for (; w < written.length && written[w]! < key; w++) addWritten(written[w]!);
        // A key the records wrote: its last write replaces the checkpoint's row (or removes it).
        if (w < written.length && written[w] === key) {
          addWritten(written[w++]!);
          continue;
        }
        keys.push(key);
        ids.push(this.#storeRow(chunk, i));
      }
    }
    for (; w < written.length; w++) addWritten(written[w]!);
    chains.load(keys, ids);
    state.version = newest;
  }

  /** Replays a committed record with its own version, which must be above the current one (see `MvccStore.applyRecord`). */
  applyRecord(record: CommitRecord): void {
    const { versions, chains, state } = this.#parts;
    if (!Number.isSafeInteger(record.version) || record.version <= state.version) {
      throw new InvalidOptionError(`applyRecord(): record.version must be an integer above ${state.version}, got ${String(record.version)}`);
    }
    // Structures first: the record's values may use them.
    if (record.structures !== undefined) this.#define(record.structures, record.version);
    const eager = this.#parts.eager();
    for (const op of record.ops) {
      const id =
        op.kind === 'put'
          ? versions.value(record.version, op.encoded, undefined, op.run, op.type, op.expiresAt)
          : versions.tombstone(record.version, op.kind === 'expire');
      chains.apply(op.key, id, eager, chains.heads.get(op.key));
    }
    state.version = record.version;
  }

  /** Stores row `i` of a checkpoint chunk as a value version (its bytes copied from the chunk's block). */
  #storeRow(chunk: CheckpointChunk, i: number): VersionId {
    const { valueStarts } = chunk;
    return this.#parts.versions.valueFrom(chunk.versions[i]!, chunk.bytes, valueStarts[i]!, valueStarts[i + 1]!, chunk.runs?.[i], chunk.types?.[i], chunkExpiresAt(chunk, i));
  }

  /** Adds replayed structure definitions; ones that clash with the table are corruption of what was replayed. */
  #define(defs: StructureDefs, version: Version): void {
    try {
      this.#parts.versions.codec.define(defs);
    } catch (cause) {
      throw new CorruptionError(`replayed version ${version}: ${(cause as Error).message}`, { file: '(checkpoint or write-ahead log)', offset: 0, lastGoodVersion: version - 1 }, { cause });
    }
  }
}
