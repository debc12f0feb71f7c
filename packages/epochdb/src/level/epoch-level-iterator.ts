import { AbstractIterator, AbstractSnapshot } from 'abstract-level';
import type { Entry } from '@epochdb/core';
import type { ScanOptions, Snapshot } from '@epochdb/store';
import { fromStoredKey, fromStoredValue, toStoredKey, type LevelData, type LevelFormat } from './key-mapping.js';

/** The range options abstract-level hands to `_iterator()`, `_clear()` and `_seek()`, already encoded. */
export interface LevelRangeOptions {
  readonly gt?: LevelData;
  readonly gte?: LevelData;
  readonly lt?: LevelData;
  readonly lte?: LevelData;
  readonly reverse?: boolean;
  readonly limit?: number;
  readonly keys?: boolean;
  readonly values?: boolean;
  readonly keyEncoding?: LevelFormat;
  readonly valueEncoding?: LevelFormat;
  readonly snapshot?: unknown;
}

/** The EpochDB scan options of a Level range under `prefix` (bounds mapped byte-order-preserving). */
export function scanOptionsOf(prefix: string, options: LevelRangeOptions): ScanOptions {
  const bound = (key: LevelData | undefined): string | undefined => (key === undefined ? undefined : toStoredKey(prefix, key));
  // Given both, abstract-level's gte beats gt and lte beats lt.
  const gte = bound(options.gte);
  const lte = bound(options.lte);
  return { prefix, gt: gte === undefined ? bound(options.gt) : undefined, gte, lt: lte === undefined ? bound(options.lt) : undefined, lte, reverse: options.reverse === true };
}

/** An explicit snapshot (`db.snapshot()`): an EpochDB snapshot, released when Level closes it. */
export class EpochLevelSnapshot extends AbstractSnapshot {
  /** The EpochDB snapshot reads go to. */
  readonly reader: Snapshot;

  constructor(reader: Snapshot, options: object) {
    // abstract-level's typings omit the constructor's options ({ owner }).
    super(...([options] as unknown as []));
    this.reader = reader;
  }

  async _close(): Promise<void> {
    this.reader.release();
  }
}

type Item = [LevelData | undefined, LevelData | undefined];

/**
 * An iterator over one EpochDB snapshot: the explicit one it was given, or
 * its own (implicit snapshot), taken when it was created and released when
 * it closes. `seek()` starts a new scan of the same snapshot.
 */
export class EpochLevelIterator extends AbstractIterator<unknown, LevelData, LevelData> {
  readonly #reader: Snapshot;
  readonly #ownsReader: boolean;
  readonly #prefix: string;
  readonly #range: ScanOptions;
  readonly #keyFormat: LevelFormat;
  readonly #valueFormat: LevelFormat;
  readonly #keys: boolean;
  readonly #values: boolean;
  /** Started by the first read: a closed explicit snapshot must fail there, with Level's error. */
  #scan: Iterator<Entry> | undefined;

  constructor(db: unknown, options: LevelRangeOptions, prefix: string, reader: Snapshot, ownsReader: boolean) {
    super(db as never, options as never);
    this.#reader = reader;
    this.#ownsReader = ownsReader;
    this.#prefix = prefix;
    this.#range = scanOptionsOf(prefix, options);
    this.#keyFormat = options.keyEncoding ?? 'utf8';
    this.#valueFormat = options.valueEncoding ?? 'utf8';
    this.#keys = options.keys !== false;
    this.#values = options.values !== false;
  }

  async _next(): Promise<Item | undefined> {
    return this.#read();
  }

  async _nextv(size: number): Promise<Item[]> {
    return this.#take(size);
  }

  async _all(): Promise<Item[]> {
    return this.#take(this.limit - this.count);
  }

  _seek(target: LevelData): void {
    const at = toStoredKey(this.#prefix, target);
    const range: { -readonly [K in keyof ScanOptions]: ScanOptions[K] } = { ...this.#range };
    if (range.reverse !== true) {
      const low = range.gt ?? range.gte;
      if (low === undefined || at > low || (at === low && range.gte !== undefined)) {
        range.gt = undefined;
        range.gte = at;
      }
    } else {
      const high = range.lt ?? range.lte;
      if (high === undefined || at < high || (at === high && range.lte !== undefined)) {
        range.lt = undefined;
        range.lte = at;
      }
    }
    this.#scan = this.#reader.scan(range);
  }

  async _close(): Promise<void> {
    if (this.#ownsReader) this.#reader.release();
  }

  #take(size: number): Item[] {
    const items: Item[] = [];
    while (items.length < size) {
      const item = this.#read();
      if (item === undefined) break;
      items.push(item);
    }
    return items;
  }

  #read(): Item | undefined {
    this.#scan ??= this.#reader.scan(this.#range);
    const next = this.#scan.next();
    if (next.done === true) return undefined;
    const entry = next.value;
    return [
      this.#keys ? fromStoredKey(this.#prefix, entry.key, this.#keyFormat) : undefined,
      this.#values ? fromStoredValue(entry.value, this.#valueFormat) : undefined,
    ];
  }
}
