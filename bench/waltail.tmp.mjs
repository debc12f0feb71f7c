import { open } from 'epochdb';
import { mkdtempSync } from 'node:fs';
import { keyAt, valueAt } from './workloads/common.mjs';
const n = Number(process.argv[2] ?? 200000);
let dir = process.argv[3];
const opts = { sync: 'none', maintenance: { intervalMs: 0 }, checkpointOnClose: false, checkpointWalBytes: 2 ** 40 };
if (!dir) {
  dir = mkdtempSync('/tmp/waltail-');
  const db = await open({ dir, ...opts });
  for (let i = 0; i < n; i += 1000) { const ops = []; for (let j = i; j < Math.min(n, i + 1000); j++) ops.push({ op: 'put', key: keyAt(j), value: valueAt(j) }); await db.batch(ops); }
  await db.close(); console.log(dir);
}
for (let r = 0; r < 3; r++) { const t0 = performance.now(); const db = await open({ dir, ...opts }); db.get(keyAt(5)); console.log(`reopen ${(performance.now() - t0).toFixed(0)} ms`); await db.close(); }
