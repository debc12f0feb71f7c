import { CollectionMismatchError, METADATA_KEY, IndexMissingError, InvalidOptionError, InvalidValueError, type Version } from '@epochdb/core';
import type { AppliedChange, DeleteOptions, PendingWrite, ReadApi, ScanOptions, Transaction } from '@epochdb/store';
import { CollectionIndex } from './collection-index.js';
import type { IndexKey } from './index-key.js';
import type { SchemaInput, SchemaOutput, StandardSchema } from './standard-schema.js';
import type { ChangeStream, WatchOptions } from './watch.js';
import type { CollectionHost, CollectionOptions, CollectionPutOptions, IndexDefinition, IndexFunction, IndexOptions, IndexRange, TypedEntry } from './collection-types.js';

/**
 * A typed view of the entries whose type tag is `name`: values are validated
 * by a schema on every write (also a plain `db.put` with this type), and
 * read back typed. `db.byType(name)` and the collection see the same entries.
 * Keys are the database's keys.
 */
export class Collection<S extends StandardSchema = StandardSchema> {
  readonly name: string;
  readonly schema: S;
  readonly #host: CollectionHost;
  readonly #indexes = new Map<string, CollectionIndex<SchemaOutput<S>>>();
  /** Indexes persisted by an earlier session whose function has not been given yet. */
  readonly #missing = new Map<string, IndexDefinition>();

  /** Not for direct use: `db.collection(name, { schema })` makes collections. */
  constructor(name: string, schema: S, host: CollectionHost) {
    this.name = name;
    this.schema = schema;
    this.#host = host;
  }

  /** The value at `key` if it belongs to this collection (read live, or through `at`: a snapshot or transaction). */
  get(key: string, at: ReadApi = this.#host.live): SchemaOutput<S> | undefined {
    return this.getEntry(key, at)?.value;
  }

  getEntry(key: string, at: ReadApi = this.#host.live): TypedEntry<SchemaOutput<S>> | undefined {
    const entry = at.getEntry(key);
    return entry !== undefined && entry.type === this.name ? (entry as TypedEntry<SchemaOutput<S>>) : undefined;
  }

  has(key: string, at: ReadApi = this.#host.live): boolean {
    return this.getEntry(key, at) !== undefined;
  }

  /** Validates `value` with the schema (`INVALID_VALUE` naming the field otherwise) and writes what it outputs. */
  put(key: string, value: SchemaInput<S>, options?: CollectionPutOptions): Promise<Version> {
    let parsed: SchemaOutput<S>;
    try {
      parsed = this.parse(value, `${this.name}.put()`);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#host.putValidated(key, parsed, { ...options, type: this.name }, this.name);
  }

  /** Deletes `key` if it belongs to this collection (otherwise changes nothing and resolves to the current version). */
  delete(key: string, options?: DeleteOptions): Promise<Version> {
    const entry = this.#host.live.getEntry(key);
    if (entry === undefined || entry.type !== this.name) return Promise.resolve(this.#host.live.version);
    return this.#host.delete(key, options ?? { ifVersion: entry.version });
  }

  /** The collection's entries in key order. */
  scan(options?: ScanOptions, at: ReadApi = this.#host.live): IterableIterator<TypedEntry<SchemaOutput<S>>> {
    return at.byType(this.name, options) as IterableIterator<TypedEntry<SchemaOutput<S>>>;
  }

  /** The collection's change feed (see `db.watch()`). */
  watch(options?: Omit<WatchOptions, 'type'>): ChangeStream {
    return this.#host.watch({ ...options, type: this.name });
  }

  /**
   * Creates a secondary index: `fn` maps a value to its index key(s). Built
   * now from the live entries (O(n)); then kept in step with every commit,
   * inside the commit. The index itself lives in memory; its definition (name
   * and options) persists with a persistent database, and after `open()` the
   * function must be given again (here, or in `db.collection(name, { indexes })`).
   * Throws `UNIQUE_VIOLATION` if `unique` and two live entries already share a key.
   */
  createIndex(name: string, fn: IndexFunction<SchemaOutput<S>>, options?: IndexOptions): CollectionIndex<SchemaOutput<S>> {
    if (typeof name !== 'string' || name.length === 0) throw new InvalidOptionError(`${this.name}.createIndex(): name must be a non-empty string`);
    if (typeof fn !== 'function') throw new InvalidOptionError(`${this.name}.createIndex(): the index function must be a function`);
    if (this.#indexes.has(name)) throw new InvalidOptionError(`${this.name}.createIndex(): index ${JSON.stringify(name)} already exists`);
    const index = new CollectionIndex<SchemaOutput<S>>(this.name, name, fn, options?.unique === true, this.#host);
    index.build();
    this.#indexes.set(name, index);
    this.#missing.delete(name);
    this.#host.saveIndexDefinition({ collection: this.name, name, unique: index.unique });
    return index;
  }

  /** Removes the index named `name`, and its persisted definition (`INVALID_OPTION` if there is none). */
  dropIndex(name: string): void {
    if (!this.#indexes.delete(name) && !this.#missing.delete(name)) throw new InvalidOptionError(`${this.name}.dropIndex(): no index named ${JSON.stringify(name)}`);
    this.#host.dropIndexDefinition(this.name, name);
  }

  /**
   * @internal Creates the indexes of `db.collection(name, { indexes })` and
   * takes note of persisted ones not given: with `indexes`, each persisted
   * index must be in it (else `INDEX_MISSING`, before anything is created);
   * without, they stay missing until `createIndex` gives their function.
   */
  restoreIndexes(given: CollectionOptions<S>['indexes']): void {
    const persisted = this.#host.indexDefinitions(this.name);
    for (const definition of persisted) {
      if (given !== undefined && !Object.hasOwn(given, definition.name)) {
        throw new IndexMissingError(
          `collection(): collection ${JSON.stringify(this.name)} has the persisted index ${JSON.stringify(definition.name)}${definition.unique ? ' (unique)' : ''}, but options.indexes does not give its function (give it, or drop the index with dropIndex())`,
          `${this.name}.${definition.name}`,
        );
      }
    }
    for (const definition of persisted) this.#missing.set(definition.name, definition);
    for (const [name, spec] of Object.entries(given ?? {})) {
      const fn = typeof spec === 'function' ? spec : spec?.fn;
      if (typeof fn !== 'function') throw new InvalidOptionError(`collection(): options.indexes.${name} must be a function or { fn, unique }`);
      const unique = typeof spec === 'function' ? (this.#missing.get(name)?.unique ?? false) : spec.unique === true;
      this.createIndex(name, fn, { unique });
    }
  }

  /** The index named `name` (`INVALID_OPTION` if there is none, `INDEX_MISSING` if it was persisted but its function not given). */
  index(name: string): CollectionIndex<SchemaOutput<S>> {
    const missing = this.#missing.get(name);
    if (missing !== undefined) throw this.#missingError(missing, `${this.name}.index()`);
    const index = this.#indexes.get(name);
    if (index === undefined) throw new InvalidOptionError(`${this.name}.index(): no index named ${JSON.stringify(name)}`);
    return index;
  }

  /** This collection inside a transaction: reads see the transaction's snapshot and own writes; writes are buffered. */
  in(tx: Transaction): TxCollection<S> {
    return new TxCollection(this, tx);
  }

  /** @internal Validates with the schema, naming every failing field. */
  parse(value: unknown, what: string): SchemaOutput<S> {
    const result = this.schema['~standard'].validate(value);
    if (result instanceof Promise) {
      // Validation runs inside the commit, which cannot wait: an asynchronous schema (zod's async refinements) is refused.
      result.catch(() => undefined);
      throw new InvalidOptionError(`${what}: the schema of collection ${JSON.stringify(this.name)} validates asynchronously; collections need a synchronous schema`);
    }
    if (result.issues === undefined) return result.value as SchemaOutput<S>;
    const details = result.issues.map((issue) => `${issue.path !== undefined && issue.path.length > 0 ? issue.path.map((p) => String(typeof p === 'object' ? p.key : p)).join('.') : '(value)'}: ${issue.message}`).join('; ');
    throw new InvalidValueError(`${what}: value does not match the schema of collection ${JSON.stringify(this.name)}: ${details}`, { cause: result.issues });
  }

  /** @internal Checks a commit's writes: values of this type pass the schema; unique indexes hold. */
  validate(writes: readonly PendingWrite[]): void {
    for (const missing of this.#missing.values()) {
      // A unique constraint that cannot be checked must not be broken silently.
      if (missing.unique && writes.some((write) => write.kind === 'put' && write.type === this.name)) throw this.#missingError(missing, `${this.name}: a write`);
    }
    for (const write of writes) {
      // A collection's own put holds the schema's output already (a transform's output need not parse again).
      if (write.kind === 'put' && write.type === this.name && write.validatedBy !== this.name) {
        this.parse(this.#host.codec.read(write.prepared!.encoded, write.prepared!.copyOnRead), `${this.name}: key ${JSON.stringify(write.key)}`);
      }
    }
    for (const index of this.#indexes.values()) {
      // Every index key is computed (and every index function run) before anything changes:
      // a function that throws or returns a bad key refuses the commit instead of breaking the index.
      if (index.unique) index.checkUnique(writes);
      else for (const write of writes) if (write.kind === 'put' && write.type === this.name) index.keysOfWrite(write);
    }
  }

  #missingError(definition: IndexDefinition, what: string): IndexMissingError {
    return new IndexMissingError(
      `${what}: index ${JSON.stringify(definition.name)}${definition.unique ? ' (unique)' : ''} of collection ${JSON.stringify(this.name)} was defined in an earlier session, but its function has not been given since open(): db.collection(${JSON.stringify(this.name)}, { schema, indexes: { ${definition.name}: fn } }) or createIndex()`,
      `${this.name}.${definition.name}`,
    );
  }

  /** @internal Keeps the indexes in step with a commit. */
  applied(version: Version, changes: readonly AppliedChange[]): void {
    if (this.#indexes.size === 0) return;
    for (const index of this.#indexes.values()) index.applied(version, changes);
  }
}

/** A collection inside a transaction (see {@link Collection.in}). */
export class TxCollection<S extends StandardSchema = StandardSchema> {
  readonly #collection: Collection<S>;
  readonly #tx: Transaction;

  /** Not for direct use: `tx.collection()` or `collection.in(tx)`. */
  constructor(collection: Collection<S>, tx: Transaction) {
    this.#collection = collection;
    this.#tx = tx;
  }

  get(key: string): SchemaOutput<S> | undefined {
    return this.#collection.get(key, this.#tx);
  }

  getEntry(key: string): TypedEntry<SchemaOutput<S>> | undefined {
    return this.#collection.getEntry(key, this.#tx);
  }

  has(key: string): boolean {
    return this.#collection.has(key, this.#tx);
  }

  /** Validates and buffers a put (throws `INVALID_VALUE` at once if the value does not match). */
  put(key: string, value: SchemaInput<S>, options?: CollectionPutOptions): void {
    this.#tx.putValidated(key, this.#collection.parse(value, `${this.#collection.name}.put()`), { ...options, type: this.#collection.name }, this.#collection.name);
  }

  /** Buffers a delete of `key` if it belongs to the collection as the transaction sees it. */
  delete(key: string, options?: DeleteOptions): void {
    if (this.has(key)) this.#tx.delete(key, options);
  }

  scan(options?: ScanOptions): IterableIterator<TypedEntry<SchemaOutput<S>>> {
    return this.#collection.scan(options, this.#tx);
  }

  /** An index queried inside the transaction: its own writes included. */
  index(name: string): { get(key: IndexKey, options?: { limit?: number }): TypedEntry<SchemaOutput<S>>[]; range(range: IndexRange): TypedEntry<SchemaOutput<S>>[] } {
    const index = this.#collection.index(name);
    return { get: (key, options) => index.get(key, options, this.#tx), range: (range) => index.range(range, this.#tx) };
  }
}

/**
 * Refuses a put that would take a key out of its collection unchecked: the
 * key's live entry has the type of one of `collections` and the write
 * another type or none (`COLLECTION_MISMATCH`). Run inside the commit step
 * (a commit validator), so it judges the state the commit applies to, not
 * one read before an `await`. Complexity: O(log n) per put of a new key, O(collections × log n)
 * per overwrite; the old value is never decoded.
 */
export function assertCollectionKeys(writes: readonly PendingWrite[], collections: ReadonlyMap<string, unknown>, live: ReadApi): void {
  for (const write of writes) {
    // Only the tags matter: `has` and the type index answer without decoding the old value.
    // The database's own metadata entry belongs to no collection.
    if (write.kind !== 'put' || write.key === METADATA_KEY || !live.has(write.key)) continue;
    for (const name of collections.keys()) {
      if (write.type !== name && !live.byType(name, { gte: write.key, lte: write.key }).next().done) throw new CollectionMismatchError(write.key, name, write.type);
    }
  }
}
