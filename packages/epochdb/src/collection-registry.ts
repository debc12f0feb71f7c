import { InvalidOptionError } from '@epochdb/core';
import type { ApplyListener, MvccStore, ReadApi } from '@epochdb/store';
import { assertCollectionKeys, Collection } from './collection.js';
import type { CollectionHost, CollectionOptions } from './collection-types.js';
import type { IndexDefinitions } from './index-definitions.js';
import { isStandardSchema, type StandardSchema } from './standard-schema.js';
import type { ChangeStream, WatchOptions } from './watch.js';

/** What the registry needs of its database besides the store. */
export interface RegistryHost {
  /** The database's live reads. */
  readonly live: ReadApi;
  watch(options: WatchOptions): ChangeStream;
  /** Registers a change listener for local and replicated commits alike. */
  onApply(listener: ApplyListener): () => void;
}

/**
 * A database's collections by name: defines them, and installs (with the
 * first) the commit validator that checks every write against its
 * collection's schema and unique indexes, and the listener that keeps their
 * indexes up to date.
 */
export class CollectionRegistry {
  readonly #collections = new Map<string, Collection>();
  readonly #store: MvccStore;
  readonly #definitions: IndexDefinitions;
  readonly #host: RegistryHost;

  constructor(store: MvccStore, definitions: IndexDefinitions, host: RegistryHost) {
    this.#store = store;
    this.#definitions = definitions;
    this.#host = host;
  }

  /** The collection named `name`, if defined. */
  get(name: string): Collection | undefined {
    return this.#collections.get(name);
  }

  /** `db.collection(name, options)`: defines the collection, or returns the one already defined with the same schema (or none given). */
  define<S extends StandardSchema>(name: string, options: CollectionOptions<S> | undefined): Collection<S> {
    this.#store.parseTag(name, 'collection(): name');
    const existing = this.#collections.get(name);
    if (existing !== undefined) {
      if (options !== undefined && options.schema !== existing.schema) {
        throw new InvalidOptionError(`collection(): collection ${JSON.stringify(name)} is already defined with another schema`);
      }
      return existing as unknown as Collection<S>;
    }
    if (!isStandardSchema(options?.schema)) {
      throw new InvalidOptionError(`collection(): options.schema must be a Standard Schema validator, such as a zod (≥ 3.24), valibot or arktype schema (collection ${JSON.stringify(name)} is not defined yet)`);
    }
    if (this.#collections.size === 0) this.#attach();
    const collection = new Collection(name, options!.schema, this.#collectionHost());
    collection.restoreIndexes(options!.indexes);
    this.#collections.set(name, collection as unknown as Collection);
    return collection;
  }

  #collectionHost(): CollectionHost {
    const store = this.#store;
    const definitions = this.#definitions;
    return {
      live: this.#host.live,
      codec: store.codec,
      oldestVersion: () => store.oldestVersion,
      putValidated: (key, value, options, collection) => store.putValidated(key, value, options, collection),
      delete: (key, options) => store.delete(key, options),
      watch: (options) => this.#host.watch(options),
      indexDefinitions: (collection) => definitions.of(collection),
      saveIndexDefinition: (definition) => definitions.save(definition),
      dropIndexDefinition: (collection, name) => definitions.drop(collection, name),
    };
  }

  /** Validation and index upkeep, installed with the first collection. */
  #attach(): void {
    this.#store.addCommitValidator((writes) => {
      assertCollectionKeys(writes, this.#collections, this.#store);
      for (const collection of this.#collections.values()) collection.validate(writes);
    });
    this.#host.onApply((version, _time, changes) => {
      for (const collection of this.#collections.values()) collection.applied(version, changes);
    });
  }
}
