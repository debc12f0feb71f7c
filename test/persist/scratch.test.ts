import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { it, expect } from 'vitest';
import { open } from 'epochdb';

it('rotation race via public API', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scr-'));
  const db = await open({ dir, checkpointOnClose: false, walSegmentBytes: 1024, sync: 'always' });
  const ps: Promise<number>[] = [];
  for (let i = 0; i < 200; i++) { ps.push(db.put(`k${i}`, 'x'.repeat(100))); if (i % 3 === 0) await tick(); }
  await Promise.all(ps);
  await db.close();
  console.log(readdirSync(dir));
  try { const db2 = await open({ dir }); console.log('ok', db2.version); await db2.close(); } catch (e) { console.log('ERR', (e as Error).message); }
});

it('same-version checkpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scr-'));
  let db = await open({ dir });
  for (let i = 0; i < 10; i++) await db.put(`k${i}`, i);
  await db.close();
  console.log(readdirSync(dir));
  db = await open({ dir });
  await db.close();
  console.log(readdirSync(dir));
  const ck = readdirSync(dir).find((n) => n.endsWith('.ckpt'))!;
  const b = readFileSync(join(dir, ck)); b[30] ^= 1; writeFileSync(join(dir, ck), b);
  try { const db2 = await open({ dir }); console.log('ok', db2.version, db2.recovery); await db2.close(); } catch (e) { console.log('ERR', (e as Error).message); }
  try { const db2 = await open({ dir, recovery: 'salvage' }); console.log('ok', db2.version, db2.recovery); await db2.close(); } catch (e) { console.log('ERR', (e as Error).message); }
});
