import { mkdtempSync, readdirSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { open } from 'epochdb';

for (const mib of [0.25, 0.5, 1]) it(`torn tail of big value ${mib}`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scr-'));
  const db = await open({ dir, checkpointOnClose: false });
  await db.put('a', 1);
  const n = mib * 1024 * 1024;
  const buf = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) buf.writeUInt32LE(n / 4, i);
  await db.put('big', buf);
  await db.close();
  const f = join(dir, 'wal-0000000000000001.log');
  const size = statSync(f).size;
  truncateSync(f, size - n / 2);
  const t = performance.now();
  const db2 = await open({ dir });
  console.log(mib, 'MiB', (performance.now() - t).toFixed(0), 'ms', db2.version, db2.recovery?.events);
  await db2.close();
});
