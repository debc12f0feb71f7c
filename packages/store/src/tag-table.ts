/**
 * Run and type tags interned as small ids (a record holds a u32, not a
 * string), counted so a tag no stored version uses any more is let go.
 * Id 0 means "no tag". Complexity: O(1) per operation.
 */
export class TagTable {
  readonly #ids = new Map<string, number>();
  readonly #names: (string | undefined)[] = [undefined];
  readonly #counts: number[] = [0];
  readonly #free: number[] = [];

  /** The id of `tag` with one more reference (0 for `undefined`). */
  acquire(tag: string | undefined): number {
    if (tag === undefined) return 0;
    let id = this.#ids.get(tag);
    if (id === undefined) {
      id = this.#free.pop() ?? this.#names.length;
      this.#ids.set(tag, id);
      this.#names[id] = tag;
      this.#counts[id] = 0;
    }
    this.#counts[id]!++;
    return id;
  }

  /** Drops one reference to tag `id`; the last one lets the tag go. */
  release(id: number): void {
    if (id === 0) return;
    const left = --this.#counts[id]!;
    if (left > 0) return;
    this.#ids.delete(this.#names[id]!);
    this.#names[id] = undefined;
    this.#free.push(id);
  }

  /** The tag named by `id` (`undefined` for 0). */
  name(id: number): string | undefined {
    return this.#names[id];
  }

  /** Distinct tags in use. */
  get size(): number {
    return this.#ids.size;
  }
}
