// A child that writes with retainVersions until it is SIGKILLed (test/persist/history-restart.test.ts).
// It imports the BUILT package (run `npx tsc -b` first). Commit i (version i) puts `k<i % 7>` = { i }
// (every 5th deletes it instead), so the state at any version is known; each acknowledged version
// is printed on stdout as soon as the commit resolves (sync: 'always': it is on disk).
import { open } from '../../packages/epochdb/dist/index.js';

const { dir, retainVersions } = JSON.parse(process.argv[2]);
const db = await open({ dir, retainVersions, sync: 'always', walSegmentBytes: 4096, checkpointWalBytes: 16 * 1024, workers: 0 });
process.stdout.write(`${JSON.stringify({ t: 'open', v: db.version })}\n`);
for (let i = db.version + 1; ; i++) {
  const version = i % 5 === 0 ? await db.delete(`k${i % 7}`) : await db.put(`k${i % 7}`, { i });
  process.stdout.write(`${JSON.stringify({ t: 'a', v: version })}\n`);
  if (i % 97 === 0) await db.checkpoint();
}
