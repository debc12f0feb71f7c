import { stat } from 'node:fs/promises';
import { AbstractLevel, type AbstractDatabaseOptions } from 'abstract-level';
import { InvalidOptionError } from '@epochdb/core';
import type { BatchOp, ReadApi, Snapshot } from '@epochdb/store';
import type { Database } from '../database.js';
import { open, type OpenOptions } from '../open.js';
import { EpochLevelIterator, EpochLevelSnapshot, scanOptionsOf, type LevelRangeOptions } from './epoch-level-iterator.js';
import { fromStoredValue, toStoredKey, toStoredValue, type LevelData, type LevelFormat } from './key-mapping.js';

/** Options of {@link EpochLevel}: abstract-level's, plus where the keys live and how the database opens. */
export interface EpochLevelOptions<K, V> extends AbstractDatabaseOptions<K, V> {
  /**
   * Prefix of every EpochDB key this database writes (default `'level:'`), so
   * Level data can share a database with other data. Must not be empty:
   * Level allows an empty key, EpochDB does not.
   */
  readonly prefix?: string;
  /**
   * Options for `open()` when `location` is a directory (`dir` is the
   * location). `snapshotLeaseMs` defaults to 0 here: Level iterators and
   * snapshots live until closed.
   */
  readonly epochdb?: Omit<OpenOptions, 'dir'>;
}

interface LevelOpenOptions {
  readonly createIfMissing?: boolean;
  readonly errorIfExists?: boolean;
}

interface LevelReadOptions {
  readonly keyEncoding?: LevelFormat;
  readonly valueEncoding?: LevelFormat;
  readonly snapshot?: unknown;
}

interface LevelBatchOperation {
  readonly type: 'put' | 'del';
  readonly key: LevelData;
  readonly value?: LevelData;
}

/** Most deletes `clear()` commits in one batch. */
const CLEAR_CHUNK = 1000;

/**
 * An [abstract-level](https://github.com/Level/abstract-level) database over
 * EpochDB: plugs into the Level ecosystem (sublevels, `level-read-stream`,
 * encodings) and passes abstract-level's own test suite. Opens a directory
 * (`new EpochLevel('./data')`, which it then owns and closes) or wraps an
 * open {@link Database} (`new EpochLevel(db)`, which stays the caller's to
 * close). Iterators and `db.snapshot()` are EpochDB snapshots (O(1)); a
 * batch is one EpochDB commit. Keys are stored as `prefix` plus one
 * character per byte (see {@link toStoredKey}), so byte order is kept.
 *
 * @example
 * const db = new EpochLevel('./data', { valueEncoding: 'json' });
 * await db.sublevel('users').put('ada', { name: 'Ada' });
 */
export class EpochLevel<KDefault = string, VDefault = string> extends AbstractLevel<LevelData, KDefault, VDefault> {
  readonly #location: string | undefined;
  readonly #openOptions: Omit<OpenOptions, 'dir'>;
  readonly #prefix: string;
  #db: Database | undefined;

  /** `location` is a directory to open, or an open EpochDB {@link Database} to wrap. */
  constructor(location: string | Database, options: EpochLevelOptions<KDefault, VDefault> = {}) {
    const { prefix = 'level:', epochdb = {}, ...forward } = options;
    super(
      {
        encodings: { utf8: true, buffer: true, view: true },
        permanence: true,
        createIfMissing: true,
        errorIfExists: true,
        implicitSnapshots: true,
        explicitSnapshots: true,
        seek: true,
        getSync: true,
        has: true,
        signals: { iterators: false },
      } as ConstructorParameters<typeof AbstractLevel>[0],
      forward,
    );
    if (typeof prefix !== 'string' || prefix.length === 0) throw new InvalidOptionError('EpochLevel: options.prefix must be a non-empty string (Level allows empty keys, EpochDB does not)');
    if (typeof location === 'string') {
      if (location.length === 0) throw new InvalidOptionError('EpochLevel: location must be a non-empty directory path or a Database');
      this.#location = location;
    } else if (typeof location === 'object' && location !== null && typeof (location as Database).snapshot === 'function') {
      this.#location = undefined;
      this.#db = location;
    } else {
      throw new InvalidOptionError('EpochLevel: location must be a directory path or an open Database');
    }
    this.#prefix = prefix;
    this.#openOptions = { snapshotLeaseMs: 0, ...epochdb };
  }

  /** The EpochDB database underneath (`undefined` while a database opened by location is closed). */
  get database(): Database | undefined {
    return this.#db;
  }

  /** The directory this database opened, if it was given one. */
  get location(): string | undefined {
    return this.#location;
  }

  async _open(options: LevelOpenOptions): Promise<void> {
    const location = this.#location;
    if (location === undefined) return;
    const exists = await stat(location).then(
      () => true,
      () => false,
    );
    if (!exists && options.createIfMissing === false) throw new InvalidOptionError(`EpochLevel: ${location} does not exist (createIfMissing: false)`);
    if (exists && options.errorIfExists === true) throw new InvalidOptionError(`EpochLevel: ${location} exists (errorIfExists: true)`);
    this.#db = await open({ ...this.#openOptions, dir: location });
  }

  async _close(): Promise<void> {
    if (this.#location === undefined) return;
    const db = this.#db;
    this.#db = undefined;
    await db?.close();
  }

  async _get(key: LevelData, options: LevelReadOptions): Promise<LevelData | undefined> {
    return this._getSync(key, options);
  }

  _getSync(key: LevelData, options: LevelReadOptions): LevelData | undefined {
    const value = this.#reader(options).get(toStoredKey(this.#prefix, key));
    return value === undefined ? undefined : fromStoredValue(value, options.valueEncoding ?? 'utf8');
  }

  async _getMany(keys: readonly LevelData[], options: LevelReadOptions): Promise<(LevelData | undefined)[]> {
    return keys.map((key) => this._getSync(key, options));
  }

  async _has(key: LevelData, options: LevelReadOptions): Promise<boolean> {
    return this.#reader(options).has(toStoredKey(this.#prefix, key));
  }

  async _hasMany(keys: readonly LevelData[], options: LevelReadOptions): Promise<boolean[]> {
    const reader = this.#reader(options);
    return keys.map((key) => reader.has(toStoredKey(this.#prefix, key)));
  }

  async _put(key: LevelData, value: LevelData): Promise<void> {
    await this.#open.put(toStoredKey(this.#prefix, key), toStoredValue(value));
  }

  async _del(key: LevelData): Promise<void> {
    await this.#open.delete(toStoredKey(this.#prefix, key));
  }

  async _batch(operations: readonly LevelBatchOperation[]): Promise<void> {
    const ops: BatchOp[] = operations.map((op) =>
      op.type === 'put' ? { op: 'put', key: toStoredKey(this.#prefix, op.key), value: toStoredValue(op.value!) } : { op: 'delete', key: toStoredKey(this.#prefix, op.key) },
    );
    if (ops.length > 0) await this.#open.batch(ops);
  }

  async _clear(options: LevelRangeOptions): Promise<void> {
    const explicit = options.snapshot as EpochLevelSnapshot | undefined;
    const reader = explicit?.reader ?? this.#open.snapshot();
    try {
      const limit = options.limit === undefined || options.limit < 0 ? Infinity : options.limit;
      let cleared = 0;
      let chunk: BatchOp[] = [];
      for (const entry of reader.scan(scanOptionsOf(this.#prefix, options))) {
        if (cleared++ >= limit) break;
        chunk.push({ op: 'delete', key: entry.key });
        if (chunk.length === CLEAR_CHUNK) {
          await this.#open.batch(chunk);
          chunk = [];
        }
      }
      if (chunk.length > 0) await this.#open.batch(chunk);
    } finally {
      if (explicit === undefined) reader.release();
    }
  }

  _iterator(options: LevelRangeOptions): EpochLevelIterator {
    const explicit = options.snapshot as EpochLevelSnapshot | undefined;
    return new EpochLevelIterator(this, options, this.#prefix, explicit?.reader ?? this.#open.snapshot(), explicit === undefined);
  }

  _snapshot(options: object): EpochLevelSnapshot {
    return new EpochLevelSnapshot(this.#open.snapshot(), options);
  }

  /** The database, open (abstract-level calls the private methods only while it is). */
  get #open(): Database {
    return this.#db!;
  }

  #reader(options: LevelReadOptions): ReadApi & Partial<Pick<Snapshot, 'release'>> {
    return (options.snapshot as EpochLevelSnapshot | undefined)?.reader ?? this.#open;
  }
}
