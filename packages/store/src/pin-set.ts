import { createTree } from './btree.js';

/**
 * A multiset of versions held by open readers, with the smallest one at hand.
 * Complexity: O(log distinct versions) per add, remove and min.
 */
export class PinSet {
  readonly #counts = createTree<number, number>((a, b) => a - b);
  #size = 0;

  /** Number of pins held (not distinct versions). */
  get size(): number {
    return this.#size;
  }

  /** The smallest pinned version, or `undefined` when nothing is pinned. */
  min(): number | undefined {
    return this.#counts.minKey();
  }

  add(version: number): void {
    this.#counts.set(version, (this.#counts.get(version) ?? 0) + 1);
    this.#size++;
  }

  remove(version: number): void {
    const count = this.#counts.get(version);
    if (count === undefined) return;
    if (count === 1) this.#counts.delete(version);
    else this.#counts.set(version, count - 1);
    this.#size--;
  }
}
