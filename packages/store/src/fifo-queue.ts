/**
 * A first-in first-out queue with O(1) amortized `push` and `shift` (an
 * array's `shift` is O(n) once it is long, as a queue of a thousand waiters
 * gets). Complexity: O(1) amortized per operation.
 */
export class FifoQueue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** How many items wait. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** The oldest item, left in place (`undefined` when empty). */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** Removes and returns the oldest item (`undefined` when empty). */
  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      // Under a steady queue it never empties: drop the served prefix now and then.
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}
