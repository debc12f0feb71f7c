// Recovery time of a directory of N keys, next to the time to merely read the same
// files and msgpack-decode them (the floor for any recovery), measured in the same run.
// Usage: node bench/recovery.mjs [--n 1000000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readAndDecodeOwnFiles } from './lib/own-files.mjs';
import { open } from 'epochdb';

const { values } = parseArgs({ options: { n: { type: 'string', default: '1000000' } } });
const n = Number(values.n);
const valueOf = (i) => ({ id: i, name: `user ${i}`, email: `user${i}@example.com`, score: i % 100, active: i % 2 === 0, tags: ['a', 'b'] });

const readAndDecode = readAndDecodeOwnFiles;

async function measure(label, checkpointOnClose) {
  const dir = mkdtempSync(join(tmpdir(), 'epochdb-recovery-'));
  let db = await open({ dir, sync: 'none', checkpointOnClose, checkpointWalBytes: 2 ** 40, maintenance: { intervalMs: 0 } });
  for (let i = 0; i < n; i += 1000) {
    await db.batch(Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ op: 'put', key: `user:${String((i + j) * 7919 % 1_000_000_007).padStart(9, '0')}`, value: valueOf(i + j) })));
  }
  await db.close();
  global.gc?.();
  let t = performance.now();
  readAndDecode(dir);
  const floor = performance.now() - t;
  global.gc?.();
  t = performance.now();
  db = await open({ dir, maintenance: { intervalMs: 0 } });
  const first = db.get(`user:${String(0).padStart(9, '0')}`);
  const reopen = performance.now() - t;
  if (first?.id !== 0 || db.stats().keys !== n) throw new Error('recovery read back the wrong state');
  await db.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(`${label}: reopen + first read ${reopen.toFixed(0)} ms; read + decode the same files ${floor.toFixed(0)} ms; ratio ${(reopen / floor).toFixed(2)}x`);
}

console.log(`n = ${n}`);
await measure('fresh checkpoint', true);
await measure('WAL tail only (no checkpoint)', false);
