import { open } from 'epochdb';
import { mkdtempSync } from 'node:fs';
import { keyAt, valueAt } from './workloads/common.mjs';
const n = Number(process.argv[2] ?? 10000000);
const dir = process.argv[3] ?? mkdtempSync('/tmp/big-');
if (!process.argv[3]) {
  const db = await open({ dir, sync: 'none', maintenance: { intervalMs: 0 } });
  const t0 = performance.now();
  for (let i = 0; i < n; i += 10000) { const ops = []; for (let j = i; j < Math.min(n, i + 10000); j++) ops.push({ op: 'put', key: keyAt(j), value: valueAt(j) }); await db.batch(ops); }
  const t1 = performance.now();
  await db.close(); const t2 = performance.now();
  console.log(`load ${(t1-t0).toFixed(0)} ms close ${(t2-t1).toFixed(0)} ms dir ${dir}`);
}
const t0 = performance.now();
const db = await open({ dir, sync: 'none', maintenance: { intervalMs: 0 } });
db.get('user:000012345');
const t1 = performance.now();
console.log(`reopen ${(t1-t0).toFixed(0)} ms`, JSON.stringify(process.memoryUsage()));
const t2 = performance.now(); await db.close(); console.log(`close after reopen ${(performance.now()-t2).toFixed(0)} ms`);
