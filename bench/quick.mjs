// A quick look at the hot paths, each next to a baseline measured in the same run:
// random get, put and snapshot() of EpochDB (memory-only) against a raw sorted-btree
// with the same comparator (the in-memory limit for an ordered map) and a plain Map.
// Usage: pnpm bench:quick [--n 200000]
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import sortedBtree from 'sorted-btree';
import { open } from 'epochdb';
import { compareStrings, NODE_SIZE } from '@epochdb/store';

const { values } = parseArgs({ options: { n: { type: 'string', default: '200000' }, time: { type: 'string', default: '500' } } });
const n = Number(values.n);
const BTree = sortedBtree.default;

const keys = Array.from({ length: n }, (_, i) => `user:${String(i * 7919 % 1_000_000_007).padStart(9, '0')}`);
for (let i = keys.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [keys[i], keys[j]] = [keys[j], keys[i]]; }
const valueOf = (i) => ({ id: i, name: `user ${i}`, email: `user${i}@example.com`, score: i % 100, active: i % 2 === 0, tags: ['a', 'b'] });

const db = await open({ maintenance: { intervalMs: 0 } });
const tree = new BTree(undefined, compareStrings, NODE_SIZE);
const map = new Map();
for (let i = 0; i < n; i += 1000) await db.batch(keys.slice(i, i + 1000).map((key, j) => ({ op: 'put', key, value: valueOf(i + j) })));
keys.forEach((k, i) => { tree.set(k, valueOf(i)); map.set(k, valueOf(i)); });

let r = 0;
const pick = () => keys[(r = (r * 1103515245 + 12345) & 0x7fffffff) % n];
let sink = 0;
const bench = new Bench({ time: Number(values.time), warmupTime: 100 });
bench
  .add('get: epochdb', () => { sink += db.get(pick()).id; })
  .add('get: raw btree', () => { sink += tree.get(pick()).id; })
  .add('get: Map', () => { sink += map.get(pick()).id; })
  .add('put: epochdb (await)', async () => { const k = pick(); await db.put(k, valueOf(1)); })
  .add('put: raw btree (clone of value)', () => { const k = pick(); tree.set(k, structuredClone(valueOf(1))); })
  .add('snapshot: epochdb open+release', () => { const s = db.snapshot(); sink += s.version; s.release(); })
  .add('snapshot: raw btree clone()', () => { sink += tree.clone().size; })
  .add('scan100: epochdb', () => { let c = 0; for (const e of db.scan({ gte: pick(), limit: 100 })) c += e.version; sink += c; })
  .add('scan100: raw btree', () => { let c = 0; let i = 0; for (const [, v] of tree.entries(pick())) { c += v.id; if (++i === 100) break; } sink += c; });
await bench.run();
const rows = bench.tasks.map((t) => ({ task: t.name, 'ops/s': Math.round(t.result.throughput?.mean ?? t.result.hz ?? 0) }));
const by = Object.fromEntries(rows.map((x) => [x.task, x['ops/s']]));
console.table(rows);
const ratio = (a, b) => (by[a] / by[b]).toFixed(2);
console.log(`n=${n}  get epochdb/btree ${ratio('get: epochdb', 'get: raw btree')}x  put epochdb/btree ${ratio('put: epochdb (await)', 'put: raw btree (clone of value)')}x  scan100 epochdb/btree ${ratio('scan100: epochdb', 'scan100: raw btree')}x`);
await db.close();
if (sink === 0.5) console.log(sink);
