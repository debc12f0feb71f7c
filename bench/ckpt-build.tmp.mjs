import { open } from 'epochdb';
import { mkdtempSync } from 'node:fs';
import { keyAt, valueAt } from './workloads/common.mjs';
const n = Number(process.argv[2] ?? 1000000);
const dir = mkdtempSync('/tmp/ckb-');
const db = await open({ dir, sync: 'none', maintenance: { intervalMs: 0 }, checkpointWalBytes: 2 ** 40 });
for (let i = 0; i < n; i += 10000) { const ops = []; for (let j = i; j < Math.min(n, i + 10000); j++) ops.push({ op: 'put', key: keyAt(j), value: valueAt(j) }); await db.batch(ops); }
let t0 = performance.now(); await db.checkpoint(); const first = performance.now() - t0;
for (let i = 0; i < n / 10; i += 10000) { const ops = []; for (let j = i; j < Math.min(n, i + 10000); j++) ops.push({ op: 'put', key: keyAt(j * 7 % n), value: valueAt(j, 1) }); await db.batch(ops); }
t0 = performance.now(); await db.checkpoint(); const second = performance.now() - t0;
t0 = performance.now(); await db.close(); const close = performance.now() - t0;
console.log(`n=${n} first checkpoint (WAL only) ${first.toFixed(0)} ms, second (base + 10% WAL) ${second.toFixed(0)} ms, close ${close.toFixed(0)} ms`);
