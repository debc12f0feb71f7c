import { buildCheckpoint, nodeFileSystem } from '@epochdb/persist';
import { readdirSync, unlinkSync } from 'node:fs';
const dir = process.argv[2];
const files = readdirSync(dir);
const base = files.find((f) => f.endsWith('.ckpt') && f.includes('092'));
const segments = files.filter((f) => f.startsWith('wal-')).sort();
for (let r = 0; r < 3; r++) {
  for (const f of readdirSync(dir)) if (f.endsWith('.ckpt') && f !== base) unlinkSync(`${dir}/${f}`);
  const t0 = performance.now();
  const w = await buildCheckpoint(nodeFileSystem, { dir, base, baseVersion: 92, segments: [segments[0]], version: 100, now: Date.now() });
  console.log(`build ${(performance.now() - t0).toFixed(0)} ms, ${w.entries} entries, ${(w.bytes / 2 ** 20).toFixed(0)} MiB`);
}
