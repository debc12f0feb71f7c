// The types a collection and its indexes share (collection.ts and collection-index.ts both import
// them from here, so neither imports the other's types).
import type { Entry, ValueCodec, Version } from '@epochdb/core';
import type { DeleteOptions, PutOptions, ReadApi } from '@epochdb/store';
import type { IndexKey } from './index-key.js';
import type { SchemaOutput, StandardSchema } from './standard-schema.js';
import type { ChangeStream, WatchOptions } from './watch.js';

/** An entry of a collection: its value typed by the collection's schema. */
export type TypedEntry<T> = Omit<Entry, 'value'> & { readonly value: T };

/** Options of `db.collection()`. */
export interface CollectionOptions<S extends StandardSchema> {
  /** Every value written to the collection must pass it; what it outputs (defaults, transforms) is what is stored. */
  readonly schema: S;
  /**
   * Secondary indexes by name, created with the collection: a function, or
   * `{ fn, unique }`. Index definitions (name and options) persist with a
   * persistent database; the functions cannot, so give every persisted index
   * here again after `open()`: one left out is an `INDEX_MISSING` error.
   */
  readonly indexes?: Readonly<Record<string, IndexFunction<SchemaOutput<S>> | { readonly fn: IndexFunction<SchemaOutput<S>>; readonly unique?: boolean }>>;
}

/** What is persisted of a secondary index: everything but its function. */
export interface IndexDefinition {
  readonly collection: string;
  readonly name: string;
  readonly unique: boolean;
}

/** A collection's put options: the type tag is the collection's name. */
export type CollectionPutOptions = Omit<PutOptions, 'type'>;

/** What a secondary index keys a value by: one key, several, or none. */
export type IndexFunction<T> = (value: T) => IndexKey | readonly IndexKey[] | undefined;

/** Options of `collection.createIndex()`. */
export interface IndexOptions {
  /** At most one live key per index key: a commit that would break it fails whole with `UNIQUE_VIOLATION`. */
  readonly unique?: boolean;
}

/** A range over index keys (numbers order before strings). */
export interface IndexRange {
  readonly gt?: IndexKey;
  readonly gte?: IndexKey;
  readonly lt?: IndexKey;
  readonly lte?: IndexKey;
  readonly reverse?: boolean;
  readonly limit?: number;
}

/** What a collection needs from its database. */
export interface CollectionHost {
  readonly live: ReadApi;
  /** The database's value codec (pending writes hold its encoding). */
  readonly codec: ValueCodec;
  readonly oldestVersion: () => Version;
  /** Commits a put whose value the collection has validated (its schema's output, not parsed again). */
  putValidated(key: string, value: unknown, options: PutOptions, collection: string): Promise<Version>;
  delete(key: string, options: DeleteOptions | undefined): Promise<Version>;
  watch(options: WatchOptions): ChangeStream;
  /** The persisted index definitions of `collection`. */
  indexDefinitions(collection: string): readonly IndexDefinition[];
  /** Persists an index definition (a no-op for a memory-only or read-only database). */
  saveIndexDefinition(definition: IndexDefinition): void;
  /** Forgets a persisted index definition. */
  dropIndexDefinition(collection: string, name: string): void;
}
