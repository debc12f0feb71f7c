import { METADATA_KEY, prepareValue, type Entry } from '@epochdb/core';
import type { MvccStore, PendingWrite } from '@epochdb/store';
import type { IndexDefinition } from './collection-types.js';

/**
 * What the database's metadata entry (`METADATA_KEY`, the empty key) holds.
 * It is the database's own: persisted, replicated, backed up and restored
 * with the data, but never in a scan, a count, a change feed, a dump or an
 * adapter, and no user can read or write it.
 */
export interface DatabaseMetadata {
  /** Persisted secondary index definitions (their functions cannot be persisted: collections give them again). */
  readonly indexes: readonly IndexDefinition[];
}

/**
 * Type tag of the entries in which earlier versions kept index definitions,
 * under ordinary keys (`@epochdb/index/["collection","name"]`) that every read
 * showed. {@link migrateIndexDefinitions} moves them into the metadata entry.
 */
const LEGACY_TYPE = '@epochdb/index';
const LEGACY_KEY_PREFIX = `${LEGACY_TYPE}/`;

/**
 * The index definitions a database persists, in its metadata entry. Writes
 * are single commits (the whole entry, rewritten); their durability is not
 * awaited: a WAL that fails turns the database `FAILED`, which
 * `stats().failure` reports, so nothing is lost unseen.
 */
export class IndexDefinitions {
  readonly #store: MvccStore;
  readonly #writable: () => boolean;

  /** `writable`: whether definitions are written (persistent and not read-only). */
  constructor(store: MvccStore, writable: () => boolean) {
    this.#store = store;
    this.#writable = writable;
  }

  /** The persisted definitions of `collection` (in a read-only open of an older directory, also those under legacy keys). */
  of(collection: string): IndexDefinition[] {
    return [...this.#all(), ...legacyDefinitions(this.#store)].filter((d) => d.collection === collection);
  }

  /** Persists `definition`, unless the same one is there already. */
  save(definition: IndexDefinition): void {
    if (!this.#writable()) return;
    const all = this.#all();
    const same = all.find((d) => d.collection === definition.collection && d.name === definition.name);
    if (same !== undefined && same.unique === definition.unique) return;
    this.#commit([metadataPut(this.#store, [...all.filter((d) => d !== same), plain(definition)])]);
  }

  /** Forgets the definition of index `name` of `collection`. */
  drop(collection: string, name: string): void {
    if (!this.#writable()) return;
    const all = this.#all();
    const kept = all.filter((d) => d.collection !== collection || d.name !== name);
    if (kept.length < all.length) this.#commit([metadataPut(this.#store, kept)]);
  }

  #all(): readonly IndexDefinition[] {
    return metadataOf(this.#store.metadataEntry()).indexes;
  }

  #commit(writes: readonly PendingWrite[]): void {
    try {
      // The commit itself is synchronous; only its durability is left to run on.
      this.#store.commitWrites(writes).durable?.catch(() => undefined);
    } catch {
      // As a failed put of a definition always was: the database reports its own failure.
    }
  }
}

/**
 * Moves the index definitions an earlier version kept under ordinary keys
 * (`@epochdb/index/[...]`) into the metadata entry, in one commit, so that
 * they leave the user's keyspace. Resolves once that commit is durable; a
 * database without such keys commits nothing.
 */
export async function migrateIndexDefinitions(store: MvccStore): Promise<void> {
  const legacy = [...store.byType(LEGACY_TYPE, { prefix: LEGACY_KEY_PREFIX })];
  if (legacy.length === 0) return;
  const current = metadataOf(store.metadataEntry()).indexes;
  const moved = legacy.map((entry) => plain(entry.value as IndexDefinition)).filter((d) => !current.some((c) => c.collection === d.collection && c.name === d.name));
  const writes: PendingWrite[] = [metadataPut(store, [...current, ...moved]), ...legacy.map((entry): PendingWrite => ({ kind: 'delete', key: entry.key }))];
  await store.commitWrites(writes).durable;
}

function legacyDefinitions(store: MvccStore): IndexDefinition[] {
  return [...store.byType(LEGACY_TYPE, { prefix: LEGACY_KEY_PREFIX })].map((entry) => entry.value as IndexDefinition);
}

function metadataOf(entry: Entry | undefined): DatabaseMetadata {
  return entry === undefined ? { indexes: [] } : (entry.value as DatabaseMetadata);
}

function plain(definition: IndexDefinition): IndexDefinition {
  return { collection: definition.collection, name: definition.name, unique: definition.unique };
}

function metadataPut(store: MvccStore, indexes: readonly IndexDefinition[]): PendingWrite {
  const metadata: DatabaseMetadata = { indexes };
  return { kind: 'put', key: METADATA_KEY, prepared: prepareValue(metadata, store.maxValueBytes, 'database metadata') };
}
