import { open } from 'epochdb';
import { mkdtempSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { keyAt, valueAt } from './workloads/common.mjs';
const n = Number(process.argv[2] ?? 1000000);
const dir = mkdtempSync('/tmp/churn-');
const db = await open({ dir, sync: 'none' });
for (let i = 0; i < n; i += 10000) { const ops = []; for (let j = i; j < Math.min(n, i + 10000); j++) ops.push({ op: 'put', key: keyAt(j), value: valueAt(j) }); await db.batch(ops); }
while (db.stats().checkpointing || db.stats().pendingGc > 0) await new Promise((r) => setTimeout(r, 50));
globalThis.gc?.();
console.log('loaded; churn');
const snap = db.snapshot();
const h = monitorEventLoopDelay({ resolution: 1 }); h.enable();
let lastTick = performance.now(); const stalls = [];
const iv = setInterval(() => { const now = performance.now(); if (now - lastTick > 50) stalls.push([Math.round(lastTick), Math.round(now - lastTick), db.stats().checkpointing, db.stats().checkpoints]); lastTick = now; }, 1);
const t0 = performance.now(); let gen = 0; let r = 1;
while (performance.now() < t0 + 5000) {
  gen++; const ops = [];
  for (let k = 0; k < 100; k++) { r = (r * 1103515245 + 12345) & 0x7fffffff; const i = r % n; ops.push({ op: 'put', key: keyAt(i), value: valueAt(i, gen) }); }
  await db.batch(ops);
  const due = t0 + gen * 5; const now = performance.now();
  await new Promise((res) => (now < due ? setTimeout(res, due - now) : setImmediate(res)));
}
h.disable(); clearInterval(iv);
console.log(`p99 ${(h.percentile(99) / 1e6).toFixed(1)} max ${(h.max / 1e6).toFixed(1)} ms; stalls`, JSON.stringify(stalls), 'checkpoints', db.stats().checkpoints);
snap.release(); await db.close();
