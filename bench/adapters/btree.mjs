// A raw sorted-btree with EpochDB's comparator and node size: the in-memory limit for an ordered map.
import sortedBtree from 'sorted-btree';
import { compareStrings, NODE_SIZE } from '@epochdb/store';

const BTree = sortedBtree.default ?? sortedBtree;
export const kind = 'btree';

export async function create() {
  const tree = new BTree(undefined, compareStrings, NODE_SIZE);
  return {
    tree,
    asyncReads: false,
    async load(keys, values) { for (let i = 0; i < keys.length; i++) tree.set(keys[i], values[i]); },
    get: (key) => tree.get(key),
    scan(start, limit) {
      const out = [];
      if (limit <= 0) return out;
      for (const kv of tree.entries(start)) { out.push(kv); if (out.length === limit) break; }
      return out;
    },
    put(key, value) { tree.set(key, value); return Promise.resolve(); },
    putMany(pairs) { for (const [key, value] of pairs) tree.set(key, value); return Promise.resolve(); },
    /** A consistent read view: sorted-btree's O(1) copy-on-write clone(). */
    snapshot() { let view = tree.clone(); return { get: (key) => view.get(key), release: () => { view = undefined; } }; },
    async close() { tree.clear(); },
  };
}
