// Value-memory utilisation at steady state (issue 11): N keys, then random
// overwrites with a few snapshots held open and rotated, background
// maintenance on (GC, cleaning on the worker pool). Prints utilisation
// (live record bytes / bytes in segments) over time, the cleaner's work and
// the main thread's share of it.
//
// Usage: pnpm bench:utilization [--n 1000000] [--seconds 30] [--snapshots 3] [--rate 50000]
import { parseArgs } from 'node:util';
import { open } from 'epochdb';
import { makeKeys, scaleValueAt } from './lib/data.mjs';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    seconds: { type: 'string', default: '30' },
    snapshots: { type: 'string', default: '3' },
    rate: { type: 'string', default: '50000' },
  },
});
const n = Number(args.n);
const seconds = Number(args.seconds);
const held = Number(args.snapshots);
const rate = Number(args.rate);

const keys = makeKeys(n);
const db = await open({ maintenance: { intervalMs: 100 } });
for (let i = 0; i < n; i += 10_000) {
  await db.batch(keys.slice(i, i + 10_000).map((key, j) => ({ op: 'put', key, value: scaleValueAt(i + j) })));
}
const snapshots = [];
const samples = [];
const started = performance.now();
let written = 0;
let round = 0;
let nextRotation = started + 1000;
const cpuBefore = process.cpuUsage();
while (performance.now() - started < seconds * 1000) {
  const batch = [];
  for (let i = 0; i < rate / 100; i++) {
    const k = Math.floor(Math.random() * n);
    batch.push({ op: 'put', key: keys[k], value: scaleValueAt(k, round) });
  }
  await db.batch(batch);
  written += batch.length;
  round++;
  if (performance.now() >= nextRotation) {
    nextRotation += 1000;
    snapshots.push(db.snapshot());
    if (snapshots.length > held) snapshots.shift().release();
    const s = db.stats();
    samples.push({ t: (performance.now() - started) / 1000, utilization: s.valueUtilization, segments: s.valueSegments, memoryMiB: s.valueMemoryBytes / 2 ** 20, liveMiB: s.valueLiveBytes / 2 ** 20, storedVersions: s.storedVersions });
  }
  // Pace the writer: about `rate` overwrites a second.
  const due = started + (written / rate) * 1000;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
const cpu = process.cpuUsage(cpuBefore);
for (const snapshot of snapshots) snapshot.release();
const s = db.stats();
const steady = samples.slice(Math.floor(samples.length / 2));
const mean = steady.reduce((sum, x) => sum + x.utilization, 0) / steady.length;
const min = Math.min(...steady.map((x) => x.utilization));
console.log(`N = ${n}, ${written} overwrites in ${seconds} s (${Math.round(written / seconds)}/s), ${held} snapshots held and rotated every second`);
for (const x of samples) console.log(`  t=${x.t.toFixed(0).padStart(3)} s  utilisation ${(100 * x.utilization).toFixed(1)}%  segments ${x.segments}  value memory ${x.memoryMiB.toFixed(0)} MiB (live ${x.liveMiB.toFixed(0)} MiB)  stored versions ${x.storedVersions}`);
console.log(`steady state (second half): utilisation mean ${(100 * mean).toFixed(1)}%, min ${(100 * min).toFixed(1)}%`);
console.log(`cleaner: ${s.compactions} compactions, ${s.recordsMoved} records moved, ${s.segmentsCleaned} segments cleaned`);
const mainMs = s.compactionMainMs;
const workerMs = s.compactionWorkerMs;
console.log(`compaction time: main thread ${mainMs.toFixed(0)} ms, worker ${workerMs.toFixed(0)} ms (main thread's share ${((100 * mainMs) / Math.max(1e-9, mainMs + workerMs)).toFixed(1)}%)`);
console.log(`maintenance slices (TTL, lease expiry, version GC, planning) on the main thread: ${s.sliceMs.toFixed(0)} ms; process CPU ${(cpu.user / 1000).toFixed(0)} ms user`);
await db.close();
