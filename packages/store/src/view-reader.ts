import { assertKey, type Entry } from '@epochdb/core';
import type { ScanOptions } from './key-range.js';
import type { KeyRange } from './key-range.js';
import type { IndexName, ReadView } from './read-view.js';
import { parseScanOptions } from './scan-options.js';

/** What a {@link ViewReader} needs of its owner. */
export interface ReaderOwner {
  readonly maxKeyBytes: number;
  /** Validates a run or type tag argument. */
  parseTag(tag: unknown, what: string): string;
}

/**
 * The read API over a {@link ReadView}, written once: each call runs the
 * owner's `check(operation)` (closed, released, lease expired), validates its
 * arguments with messages prefixed by the owner's name (`snapshot.`, `tx.`,
 * none for the database), and reads the view. Snapshots are this; the live
 * database uses it for its scans and transactions for their committed reads.
 */
export class ViewReader {
  readonly #owner: ReaderOwner;
  readonly #prefix: string;
  readonly #check: (operation: string) => void;

  constructor(owner: ReaderOwner, prefix: string, check: (operation: string) => void) {
    this.#owner = owner;
    this.#prefix = prefix;
    this.#check = check;
  }

  /** Runs the check for `operation` and validates its key argument. */
  key(operation: string, key: unknown): asserts key is string {
    this.#check(operation);
    assertKey(key, `${this.#prefix}${operation}(): key`, this.#owner.maxKeyBytes);
  }

  /** The visible version of `key` in `view` (0: none), after the check and the key's validation. */
  node(view: ReadView, operation: string, key: unknown): number {
    this.key(operation, key);
    return view.node(key);
  }

  get(view: ReadView, key: string): unknown {
    const id = this.node(view, 'get', key);
    return id === 0 ? undefined : view.versions.read(key, id);
  }

  getEntry(view: ReadView, key: string): Entry | undefined {
    const id = this.node(view, 'getEntry', key);
    return id === 0 ? undefined : view.versions.entry(key, id);
  }

  has(view: ReadView, key: string): boolean {
    return this.node(view, 'has', key) !== 0;
  }

  /** The validated range of a `scan(options)`. */
  scanRange(options: ScanOptions | undefined): KeyRange {
    this.#check('scan');
    return parseScanOptions(options, `${this.#prefix}scan(): options`);
  }

  /** The validated tag and range of a `byRun` / `byType` call. */
  indexedRange(index: IndexName, tag: unknown, options: ScanOptions | undefined): { operation: 'byRun' | 'byType'; tag: string; range: KeyRange } {
    const operation = index === 'run' ? 'byRun' : 'byType';
    this.#check(operation);
    const parsed = this.#owner.parseTag(tag, `${this.#prefix}${operation}(): ${index}`);
    return { operation, tag: parsed, range: parseScanOptions(options, `${this.#prefix}${operation}(): options`) };
  }

  /** `scan(options)` over `view`; `release` runs when the scan ends. */
  scan(view: ReadView, options: ScanOptions | undefined, release?: () => void): IterableIterator<Entry> {
    const range = this.scanRange(options);
    return view.entries(range, () => this.#check('scan'), release);
  }

  /** `byRun` / `byType` over `view`; `release` runs when the scan ends. */
  indexed(view: ReadView, index: IndexName, tag: unknown, options: ScanOptions | undefined, release?: () => void): IterableIterator<Entry> {
    const { operation, tag: parsed, range } = this.indexedRange(index, tag, options);
    return view.indexed(index, parsed, range, () => this.#check(operation), release);
  }
}
