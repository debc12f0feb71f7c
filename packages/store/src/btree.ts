import sortedBtree from 'sorted-btree';

// sorted-btree is CommonJS with `exports.default`; under NodeNext the default
// import is `module.exports`, so the class is its `default` property.
const BTreeClass = sortedBtree.default;

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

/** Creates an empty string-keyed B-tree with {@link compareStrings}. */
export function createStringTree<V>(): BTree<string, V> {
  return new BTreeClass<string, V>(undefined, compareStrings, NODE_SIZE);
}
