// Replication lag and throughput: a primary shipping to NATS JetStream and a
// replica following it, both in this process, against one local nats-server -js.
// Lag is ms from the primary's acknowledgement of a write (durable locally,
// sync 'always') to the replica applying it (its change stream seeing it).
// Usage: node bench/replication.mjs [--seconds 3] [--rates 1000,10000,max] [--bootstrap-keys 1000000]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { open, openReplica } from 'epochdb';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rates: { type: 'string', default: '1000,10000,max' }, 'bootstrap-keys': { type: 'string', default: '0' } } });
const seconds = Number(values.seconds);
const base = mkdtempSync(join(tmpdir(), 'epochdb-replication-'));

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const nats = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(base, 'nats')], { stdio: 'ignore' });
for (;;) {
  const up = await new Promise((resolve) => connect(port, '127.0.0.1').once('connect', function () { this.destroy(); resolve(true); }).once('error', () => resolve(false)));
  if (up) break;
  await new Promise((r) => setTimeout(r, 50));
}
await new Promise((r) => setTimeout(r, 300));
const servers = `127.0.0.1:${port}`;

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;

async function run(label, rate) {
  const name = `bench_${label}`;
  const primary = await open({ dir: join(base, name), sync: 'always', replicate: { servers, name } });
  const replica = await openReplica({ servers, name });
  const acked = new Map();
  const lags = [];
  let applied = 0;
  const stream = replica.watch();
  const watching = (async () => {
    for await (const change of stream) {
      const at = performance.now();
      applied++;
      const t = acked.get(change.version);
      if (t !== undefined) lags.push(Math.max(0, at - t));
    }
  })().catch(() => undefined);
  const value = { id: 1, name: 'user 1', email: 'user1@example.com', score: 5 };
  const start = performance.now();
  const end = start + seconds * 1000;
  let issued = 0;
  let ackedCount = 0;
  const pending = new Set();
  const one = () => {
    const i = issued++;
    const p = primary.put(`user:${i % 10000}`, value).then((v) => {
      acked.set(v, performance.now());
      ackedCount++;
      pending.delete(p);
    });
    pending.add(p);
  };
  if (rate === 'max') {
    // As many as the primary takes: keep 1000 writes in flight.
    while (performance.now() < end) {
      while (pending.size < 1000) one();
      await Promise.race(pending);
    }
  } else {
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - start) / 1000) * rate);
      while (issued < due) one();
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  await Promise.all(pending);
  const localMs = performance.now() - start;
  await replica.caughtUp(primary.version, { timeoutMs: 120_000 });
  const shippedMs = performance.now() - start;
  stream.close();
  await watching;
  lags.sort((a, b) => a - b);
  const result = {
    rate: String(rate),
    commits: ackedCount,
    localPerSec: Math.round(ackedCount / (localMs / 1000)),
    replicatedPerSec: Math.round(applied / (shippedMs / 1000)),
    lagP50Ms: +percentile(lags, 50).toFixed(2),
    lagP99Ms: +percentile(lags, 99).toFixed(2),
    lagMaxMs: +(lags.at(-1) ?? NaN).toFixed(2),
  };
  await replica.close();
  await primary.close();
  return result;
}

async function bootstrap(keys) {
  const name = 'bench_bootstrap';
  const dir = join(base, name);
  const primary = await open({ dir, sync: 'none', replicate: { servers, name } });
  const value = { id: 1, name: 'user 1', email: 'user1@example.com', score: 5 };
  for (let i = 0; i < keys; i += 1000) {
    await primary.batch(Array.from({ length: Math.min(1000, keys - i) }, (_, j) => ({ op: 'put', key: `user:${String(i + j).padStart(8, '0')}`, value })));
  }
  await primary.checkpoint();
  await primary.close();
  // Interleaved rounds (median of each): a busy machine slows both alike.
  const reopens = [];
  const readable = [];
  const caughtUp = [];
  let size = 0;
  for (let round = 0; round < 3; round++) {
    let t = performance.now();
    const reopened = await open({ dir });
    reopens.push(performance.now() - t);
    await reopened.close();
    t = performance.now();
    const replica = await openReplica({ servers, name, timeoutMs: 60_000 });
    // openReplica resolves once the checkpoint is loaded: from here on the replica serves reads.
    readable.push(performance.now() - t);
    await replica.caughtUp(undefined, { timeoutMs: 300_000 });
    caughtUp.push(performance.now() - t);
    size = replica.stats().keys;
    await replica.close();
  }
  const median = (xs) => Math.round([...xs].sort((a, b) => a - b)[xs.length >> 1]);
  return { keys: size, localReopenMs: median(reopens), replicaReadableMs: median(readable), replicaBootstrapMs: median(caughtUp), ratio: (median(caughtUp) / median(reopens)).toFixed(2) };
}

try {
  const rows = [];
  for (const rate of values.rates.split(',').filter(Boolean)) rows.push(await run(rate, rate === 'max' ? 'max' : Number(rate)));
  if (rows.length > 0) console.table(rows);
  const keys = Number(values['bootstrap-keys']);
  if (keys > 0) console.table([await bootstrap(keys)]);
} finally {
  // The store directory goes once the server has let go of it.
  const exited = new Promise((resolve) => nats.once('exit', resolve));
  nats.kill('SIGTERM');
  await exited;
  rmSync(base, { recursive: true, force: true });
}
