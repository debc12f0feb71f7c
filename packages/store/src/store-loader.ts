import { CorruptionError, InvalidOptionError, type CheckpointEntry, type ChunkedEntries, type CommitRecord, type StructureDefs, type StructureKeys, type Version } from '@epochdb/core';
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
        const { keys: chunkKeys, versions: at, bytes, valueStarts, runs, types, expiresAt } = chunk;
        for (let i = 0; i < chunk.length; i++) {
          const key = chunkKeys[i]!;
          const entryVersion = at[i]!;
          if (!(entryVersion > 0 && entryVersion <= version)) throw outside(key, entryVersion);
          if (ascending && keys.length > 0 && !(key > keys[keys.length - 1]!)) ascending = false;
          const expiry = expiresAt?.[i];
          keys.push(key);
          ids.push(versions.valueFrom(entryVersion, bytes, valueStarts[i]!, valueStarts[i + 1]!, runs?.[i], types?.[i], expiry === undefined || Number.isNaN(expiry) ? undefined : expiry));
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

  /** Adds replayed structure definitions; ones that clash with the table are corruption of what was replayed. */
  #define(defs: StructureDefs, version: Version): void {
    try {
      this.#parts.versions.codec.define(defs);
    } catch (cause) {
      throw new CorruptionError(`replayed version ${version}: ${(cause as Error).message}`, { file: '(checkpoint or write-ahead log)', offset: 0, lastGoodVersion: version - 1 }, { cause });
    }
  }
}
