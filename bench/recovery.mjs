// Recovery time of a directory of N keys, next to the time to merely read the same
// files and msgpack-decode them (the floor for any recovery), measured in the same run.
// Usage: node bench/recovery.mjs [--n 1000000]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeValue } from '@epochdb/core';
import { open } from 'epochdb';

const { values } = parseArgs({ options: { n: { type: 'string', default: '1000000' } } });
const n = Number(values.n);
const valueOf = (i) => ({ id: i, name: `user ${i}`, email: `user${i}@example.com`, score: i % 100, active: i % 2 === 0, tags: ['a', 'b'] });

/**
 * Reads every file of the directory and decodes every frame/chunk payload, and the
 * values nested in them, with the same msgpackr codec: what recovery must do at least.
 */
function readAndDecode(dir) {
  let payloads = 0;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.ckpt') && !name.endsWith('.log')) continue;
    const bytes = readFileSync(join(dir, name));
    let offset = name.endsWith('.ckpt') ? 24 : 16;
    const end = name.endsWith('.ckpt') ? bytes.length - 32 : bytes.length;
    while (offset < end) {
      const length = bytes.readUInt32LE(offset);
      const decoded = decodeValue(bytes.subarray(offset + 8, offset + 8 + length));
      // Checkpoint chunks: [[key, value bytes, ...], ...]; WAL frames: [version, time, [[kind, key, value bytes, ...]]].
      const rows = name.endsWith('.ckpt') ? decoded : decoded[2];
      for (const row of rows) if (row[2] instanceof Uint8Array) decodeValue(row[2]); else if (row[1] instanceof Uint8Array) decodeValue(row[1]);
      payloads++;
      offset += 8 + length;
    }
  }
  return payloads;
}

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
