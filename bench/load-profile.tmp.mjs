import sortedBtree from 'sorted-btree';
import { open } from 'epochdb';
import { compareStrings, NODE_SIZE } from '@epochdb/store';
import { makeKeys, valueAt } from './lib/data.mjs';
const n = Number(process.argv[2] ?? 200000);
const mode = process.argv[3] ?? 'both';
const chunk = Number(process.argv[4] ?? 1000);
const keys = makeKeys(n); const values = keys.map((_, i) => valueAt(i));
const BTree = sortedBtree.default;
for (let round = 0; round < 3; round++) {
  let bt = 0, ep = 0;
  if (mode !== 'epoch') { const tree = new BTree(undefined, compareStrings, NODE_SIZE); globalThis.gc?.(); const t0 = performance.now(); for (let i = 0; i < n; i++) tree.set(keys[i], values[i]); bt = performance.now() - t0; }
  if (mode !== 'btree') {
    const db = await open({ maintenance: { intervalMs: 0 } }); globalThis.gc?.();
    const t0 = performance.now();
    for (let i = 0; i < n; i += chunk) { const ops = []; const end = Math.min(n, i + chunk); for (let j = i; j < end; j++) ops.push({ op: 'put', key: keys[j], value: values[j] }); await db.batch(ops); }
    ep = performance.now() - t0; await db.close();
  }
  console.log(`n=${n} btree ${(n/bt*1000/1000).toFixed(0)}k/s epochdb ${(n/ep*1000/1000).toFixed(0)}k/s ratio ${(bt/ep).toFixed(2)}`);
}
