import sortedBtree from 'sorted-btree';

// sorted-btree is CommonJS with `exports.default`. Node's ESM loader makes the
// default import `module.exports` (the class is its `default`); bundlers that
// honour `__esModule` (vitest) hand over the class itself.
const BTreeClass: typeof sortedBtree.default =
  (sortedBtree as unknown as { default?: typeof sortedBtree.default }).default ?? (sortedBtree as unknown as typeof sortedBtree.default);

/** A sorted-btree B+ tree (see the sorted-btree package). */
export type BTree<K, V> = InstanceType<typeof BTreeClass<K, V>>;

/**
 * Plain JavaScript string order. Measurably faster than sorted-btree's
 * default comparator, which also handles numbers, arrays and `valueOf`.
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Children per B-tree node: larger nodes make gets and scans faster (fewer levels, better locality). */
export const NODE_SIZE = 64;

/** Creates an empty B-tree ordered by `compare`. */
export function createTree<K, V>(compare: (a: K, b: K) => number, maxNodeSize?: number): BTree<K, V> {
  return new BTreeClass<K, V>(undefined, compare, maxNodeSize);
}

/** Creates an empty string-keyed B-tree with {@link compareStrings}. */
export function createStringTree<V>(): BTree<string, V> {
  return createTree<string, V>(compareStrings, NODE_SIZE);
}
