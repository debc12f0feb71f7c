// Durable commits under sync: 'always', next to the physical limit measured in the
// same run on the same disk: a bare loop of fs.writeSync + fs.fdatasyncSync.
// Usage: node bench/durable.mjs [--seconds 3] [--concurrent 1000] [--dir /path/on/the/disk]
import { mkdtempSync, openSync, writeSync, fdatasyncSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { open } from 'epochdb';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, concurrent: { type: 'string', default: '1000' }, dir: { type: 'string' } } });
const seconds = Number(values.seconds);
const base = mkdtempSync(join(values.dir ?? tmpdir(), 'epochdb-durable-'));
const record = Buffer.alloc(120, 7); // about the size of one put's WAL frame

function rawLoop() {
  const fd = openSync(join(base, 'raw.log'), 'w');
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) { writeSync(fd, record); fdatasyncSync(fd); n++; }
  closeSync(fd);
  return n / seconds;
}

async function sequential() {
  const db = await open({ dir: join(base, 'seq'), sync: 'always', checkpointOnClose: false, maintenance: { intervalMs: 0 } });
  const value = { id: 1, name: 'user 1', email: 'user1@example.com', score: 5 };
  const latencies = [];
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    const t = performance.now();
    await db.put(`user:${String(n).padStart(9, '0')}`, value);
    latencies.push(performance.now() - t);
    n++;
  }
  await db.close();
  latencies.sort((a, b) => a - b);
  return { rate: n / seconds, p50: latencies[Math.floor(n * 0.5)], p99: latencies[Math.floor(n * 0.99)] };
}

async function concurrent(count) {
  const db = await open({ dir: join(base, 'conc'), sync: 'always', checkpointOnClose: false, maintenance: { intervalMs: 0 } });
  const value = { id: 1, name: 'user 1', email: 'user1@example.com', score: 5 };
  let total = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  while (performance.now() < end) {
    const writes = [];
    for (let i = 0; i < count; i++) writes.push(db.put(`user:${String(total + i).padStart(9, '0')}`, value));
    await Promise.all(writes);
    total += count;
  }
  const elapsed = (performance.now() - started) / 1000;
  const syncs = db.stats().walSyncs;
  await db.close();
  return { rate: total / elapsed, commitsPerSync: total / syncs };
}

const raw = rawLoop();
const seq = await sequential();
const conc = await concurrent(Number(values.concurrent));
const raw2 = rawLoop();
const limit = (raw + raw2) / 2;
console.log(`bare write+fdatasync loop (physical limit): ${Math.round(limit)}/s  (runs: ${Math.round(raw)}, ${Math.round(raw2)})`);
console.log(`sequential awaited put, sync 'always':     ${Math.round(seq.rate)}/s = ${(seq.rate / limit).toFixed(2)}x the limit; p50 ${seq.p50.toFixed(3)} ms, p99 ${seq.p99.toFixed(3)} ms`);
console.log(`${values.concurrent} concurrent puts, sync 'always':      ${Math.round(conc.rate)}/s = ${(conc.rate / seq.rate).toFixed(1)}x sequential, ${conc.commitsPerSync.toFixed(0)} commits per fdatasync`);
rmSync(base, { recursive: true, force: true });
