import { open } from 'epochdb';
import { mkdtempSync } from 'node:fs';
const dir = mkdtempSync('/tmp/seq-');
const db = await open({ dir, sync: 'always' });
const v = { id: 1, name: 'user 1', email: 'user1@example.com', score: 5, active: true, gen: 0, tags: ['a', 'b'] };
for (let r = 0; r < 3; r++) {
  const t0 = performance.now();
  for (let i = 0; i < 2000; i++) await db.put(`user:${String(i).padStart(9, '0')}`, v);
  const ms = performance.now() - t0;
  console.log(`${(2000 / ms * 1000).toFixed(0)}/s, ${(ms * 1000 / 2000).toFixed(0)} µs per put`);
}
await db.close();
