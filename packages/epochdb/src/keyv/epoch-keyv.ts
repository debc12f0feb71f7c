import { EventEmitter } from 'node:events';
import { InvalidOptionError } from '@epochdb/core';
import type { BatchOp, Transaction } from '@epochdb/store';
import type { Database } from '../database.js';

/** Options of {@link EpochKeyv}. */
export interface EpochKeyvOptions {
  /**
   * Type tag of every entry the adapter writes (default `'keyv'`). `clear()`
   * and `iterator()` visit only entries with this tag, so a database can hold
   * Keyv data beside other data, and `db.byType('keyv')` lists it.
   */
  readonly type?: string;
  /** Prefix of every EpochDB key the adapter writes, before Keyv's own `namespace:` (default none). */
  readonly prefix?: string;
  /** Close the database on `disconnect()` (default false: it stays its owner's to close). */
  readonly closeOnDisconnect?: boolean;
}

/** One entry of {@link EpochKeyv.setMany}. */
export interface EpochKeyvEntry {
  readonly key: string;
  readonly value: unknown;
  readonly ttl?: number | undefined;
}

/** Most deletes `clear()` commits in one batch. */
const CLEAR_CHUNK = 1000;

/**
 * A [Keyv](https://keyv.org) storage adapter over an open EpochDB
 * {@link Database}. Keyv's TTL becomes EpochDB's own (`put(key, value, { ttl })`):
 * an expired entry is invisible at once and the TTL cleaner reclaims it, with
 * no timer per key. Keys are Keyv's (`namespace:key`), so the CLI and `db.get()`
 * see them as they are; values are Keyv's serialized strings. Passes
 * `@keyv/test-suite`.
 *
 * @example
 * const keyv = new Keyv({ store: new EpochKeyv(db) });
 * await keyv.set('session:1', { user: 'ada' }, 60_000);
 */
export class EpochKeyv extends EventEmitter {
  /** Keyv reads `opts` from every store adapter (`dialect` names this one). */
  readonly opts: { readonly dialect: 'epochdb'; readonly url: string };
  /** Set by Keyv to the namespace of the Keyv instance using this store. */
  namespace: string | undefined;
  readonly #db: Database;
  readonly #type: string;
  readonly #prefix: string;
  readonly #closeOnDisconnect: boolean;

  constructor(db: Database, options: EpochKeyvOptions = {}) {
    super();
    if (typeof db !== 'object' || db === null || typeof (db as Database).transaction !== 'function') {
      throw new InvalidOptionError('EpochKeyv: the first argument must be an open Database (await open({ dir }))');
    }
    const { type = 'keyv', prefix = '', closeOnDisconnect = false } = options;
    if (typeof type !== 'string' || type.length === 0) throw new InvalidOptionError('EpochKeyv: options.type must be a non-empty string');
    if (typeof prefix !== 'string') throw new InvalidOptionError('EpochKeyv: options.prefix must be a string');
    this.#db = db;
    this.#type = type;
    this.#prefix = prefix;
    this.#closeOnDisconnect = closeOnDisconnect;
    this.opts = { dialect: 'epochdb', url: `epochdb:${db.persistent ? 'dir' : 'memory'}` };
  }

  /** The database underneath. */
  get database(): Database {
    return this.#db;
  }

  /** The stored (serialized) value of `key`, or `undefined` when absent or expired. */
  async get<Value>(key: string): Promise<Value | undefined> {
    return this.#db.get(this.#prefix + key) as Value | undefined;
  }

  /** Stored values of `keys`, `undefined` where absent or expired. */
  async getMany<Value>(keys: readonly string[]): Promise<(Value | undefined)[]> {
    return keys.map((key) => this.#db.get(this.#prefix + key) as Value | undefined);
  }

  /** Writes `value` at `key`; with `ttl` (ms) it expires through EpochDB's TTL. */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    await this.#db.put(this.#prefix + key, value, this.#putOptions(ttl));
    return true;
  }

  /** Writes all `entries` in one commit. */
  async setMany(entries: readonly EpochKeyvEntry[]): Promise<boolean[]> {
    if (entries.length > 0) await this.#db.batch(entries.map((entry): BatchOp => ({ op: 'put', key: this.#prefix + entry.key, value: entry.value, ...this.#putOptions(entry.ttl) })));
    return entries.map(() => true);
  }

  /** Deletes `key`; resolves to whether it existed. */
  async delete(key: string): Promise<boolean> {
    return this.#db.transaction((tx) => this.#deleteIn(tx, this.#prefix + key));
  }

  /** Deletes `keys` in one commit; resolves to whether any of them existed. */
  async deleteMany(keys: readonly string[]): Promise<boolean> {
    return this.#db.transaction((tx) => keys.map((key) => this.#deleteIn(tx, this.#prefix + key)).includes(true));
  }

  /** Whether `key` exists and has not expired. */
  async has(key: string): Promise<boolean> {
    return this.#db.has(this.#prefix + key);
  }

  /** {@link has} for each of `keys`. */
  async hasMany(keys: readonly string[]): Promise<boolean[]> {
    return keys.map((key) => this.#db.has(this.#prefix + key));
  }

  /** Deletes this adapter's entries of the current namespace (all of them when there is none). */
  async clear(): Promise<void> {
    const snapshot = this.#db.snapshot();
    try {
      let chunk: BatchOp[] = [];
      for (const entry of snapshot.byType(this.#type, { prefix: this.#namespacePrefix(this.namespace) })) {
        chunk.push({ op: 'delete', key: entry.key, ifVersion: entry.version });
        if (chunk.length === CLEAR_CHUNK) chunk = await this.#deleteChunk(chunk);
      }
      if (chunk.length > 0) await this.#deleteChunk(chunk);
    } finally {
      snapshot.release();
    }
  }

  /**
   * `[key, storedValue]` of this adapter's live entries in `namespace` (all
   * namespaces when omitted), in key order, as of when iteration starts.
   * Keyv 5 wires `keyv.iterator()` only for adapters it knows by name: see
   * {@link enableKeyvIterator}.
   */
  async *iterator<Value>(namespace?: string): AsyncGenerator<[string, Value], void> {
    const snapshot = this.#db.snapshot();
    try {
      for (const entry of snapshot.byType(this.#type, { prefix: this.#namespacePrefix(namespace) })) {
        yield [entry.key.slice(this.#prefix.length), entry.value as Value];
      }
    } finally {
      snapshot.release();
    }
  }

  /** Closes the database if `closeOnDisconnect` was set; otherwise nothing (the database is its owner's). */
  async disconnect(): Promise<void> {
    if (this.#closeOnDisconnect) await this.#db.close();
  }

  #putOptions(ttl: number | undefined): { type: string; ttl?: number } {
    return typeof ttl === 'number' && ttl > 0 ? { type: this.#type, ttl } : { type: this.#type };
  }

  #deleteIn(tx: Transaction, key: string): boolean {
    if (!tx.has(key)) return false;
    tx.delete(key);
    return true;
  }

  /**
   * Deletes entries that are still at the version the scan saw: one rewritten
   * meanwhile (a newer `set`) stays. A mismatch fails the whole batch, so then
   * each is deleted on its own.
   */
  async #deleteChunk(chunk: BatchOp[]): Promise<BatchOp[]> {
    try {
      await this.#db.batch(chunk);
    } catch {
      for (const op of chunk) await this.#db.delete(op.key, { ifVersion: (op as { ifVersion?: number }).ifVersion }).catch(() => undefined);
    }
    return [];
  }

  #namespacePrefix(namespace: string | undefined): string {
    return namespace === undefined ? this.#prefix : `${this.#prefix}${namespace}:`;
  }
}

/** The part of a Keyv instance {@link enableKeyvIterator} uses (Keyv 5's public `generateIterator`). */
export interface IterableKeyv {
  readonly opts: { readonly store?: unknown };
  iterator?: unknown;
  generateIterator(iterator: (namespace?: string) => AsyncGenerator<unknown[], void>): unknown;
}

/**
 * Turns on `keyv.iterator()` for a Keyv instance over an {@link EpochKeyv}.
 * Keyv 5 enables it only for store adapters whose `opts.dialect` is on its
 * own list (sqlite, postgres, redis, ...); this wires it the same way
 * (`keyv.generateIterator(store.iterator)`), so expired entries are skipped
 * and keys come back without the namespace. Returns `keyv`.
 */
export function enableKeyvIterator<K extends IterableKeyv>(keyv: K): K {
  const store = keyv.opts.store;
  if (!(store instanceof EpochKeyv)) throw new InvalidOptionError('enableKeyvIterator(): keyv must use an EpochKeyv store (new Keyv({ store: new EpochKeyv(db) }))');
  keyv.iterator = keyv.generateIterator((namespace) => store.iterator(namespace) as AsyncGenerator<unknown[], void>);
  return keyv;
}
