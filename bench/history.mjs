// What `retainVersions` history that survives restarts costs: for N = 0 (the baseline), 1,000 and
// 100,000, a database of `--keys` keys takes `--updates` single-key commits with a checkpoint every
// `--every` of them, then closes; reported are the directory's size and the time to reopen it (to the
// first read; the median of `--rounds` reopens, the three directories taken in turn each round, so a
// busy machine slows them alike), each with its ratio to N = 0, and a check that snapshotAt(version - N)
// reads back the value it had before the close.
// Usage: node --expose-gc bench/history.mjs [--keys 1000000] [--updates 110000] [--every 25000] [--rounds 3]
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { open } from 'epochdb';

const { values } = parseArgs({ options: { keys: { type: 'string', default: '1000000' }, updates: { type: 'string', default: '110000' }, every: { type: 'string', default: '25000' }, rounds: { type: 'string', default: '3' } } });
const rounds = Number(values.rounds);
const keys = Number(values.keys);
const updates = Number(values.updates);
const every = Number(values.every);
const keyOf = (i) => `user:${String(i).padStart(9, '0')}`;
const valueOf = (i, round) => ({ id: i, name: `user ${i}`, email: `user${i}@example.com`, score: (i + round) % 100, active: i % 2 === 0, tags: ['a', 'b'] });
const options = { sync: 'none', checkpointWalBytes: 2 ** 40, maintenance: { intervalMs: 0 } };

function directory(dir) {
  let bytes = 0;
  const files = { checkpoints: 0, segments: 0 };
  for (const name of readdirSync(dir)) {
    bytes += statSync(join(dir, name)).size;
    if (name.endsWith('.ckpt')) files.checkpoints++;
    if (name.endsWith('.log')) files.segments++;
  }
  return { bytes, ...files };
}

/** Builds the directory for `retainVersions` and returns what a reopen must find. */
async function build(retainVersions) {
  const dir = mkdtempSync(join(tmpdir(), 'epochdb-history-'));
  const db = await open({ dir, retainVersions, ...options });
  for (let i = 0; i < keys; i += 1000) {
    await db.batch(Array.from({ length: Math.min(1000, keys - i) }, (_, j) => ({ op: 'put', key: keyOf(i + j), value: valueOf(i + j, 0) })));
  }
  await db.checkpoint();
  for (let u = 1; u <= updates; u++) {
    const i = (u * 7919) % keys;
    await db.put(keyOf(i), valueOf(i, u));
    if (u % every === 0) await db.checkpoint();
  }
  const version = db.version;
  const probe = keyOf((updates * 7919) % keys);
  const expected = retainVersions > 0 ? db.snapshotAt(version - retainVersions).get(probe) : undefined;
  await db.close();
  return { retainVersions, dir, version, probe, expected, ...directory(dir), times: [], replayed: 0 };
}

/** Reopens `row`'s directory once, checks it, and records the time. */
async function reopen(row) {
  global.gc?.();
  const t = performance.now();
  const db = await open({ dir: row.dir, retainVersions: row.retainVersions, ...options });
  db.get(keyOf(0));
  row.times.push(performance.now() - t);
  if (db.version !== row.version || db.stats().keys !== keys) throw new Error('reopen read back the wrong state');
  if (row.retainVersions > 0 && JSON.stringify(db.snapshotAt(row.version - row.retainVersions).get(row.probe)) !== JSON.stringify(row.expected)) {
    throw new Error('history did not survive the reopen');
  }
  row.replayed = db.recovery.replayedRecords;
  await db.close();
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

console.log(`keys ${keys.toLocaleString('en-US')}, ${updates.toLocaleString('en-US')} single-key commits, a checkpoint every ${every.toLocaleString('en-US')}`);
const rows = [];
for (const n of [0, 1000, 100_000]) rows.push(await build(n));
// A first reopen warms the JIT up; it is not counted.
await reopen(rows[0]);
rows[0].times.length = 0;
for (let round = 0; round < rounds; round++) for (const row of rows) await reopen(row);
for (const row of rows) rmSync(row.dir, { recursive: true, force: true });
for (const row of rows) row.reopenMs = median(row.times);
const base = rows[0];
console.log(`| retainVersions | disk | vs N=0 | files (checkpoints + WAL segments) | reopen (median of ${rounds}) | vs N=0 | records replayed |`);
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.retainVersions.toLocaleString('en-US')} | ${(r.bytes / 2 ** 20).toFixed(1)} MiB | ${(r.bytes / base.bytes).toFixed(2)}x | ${r.checkpoints} + ${r.segments} | ${(r.reopenMs / 1000).toFixed(2)} s | ${(r.reopenMs / base.reopenMs).toFixed(2)}x | ${r.replayed.toLocaleString('en-US')} |`,
  );
}
