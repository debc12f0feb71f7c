// A live writer for the read-only tests: a child process that holds a database directory
// and keeps writing to it until its stdin closes (then it closes the database and exits).
// It imports the BUILT package (run `npx tsc -b` first). Every line on stdout is JSON:
//   {t:'open'}                 after open(), with the first writes committed
//   {t:'v', v}                 every 20 commits: the newest version so far
//   {t:'closed', v}            after close()
import { open } from '../../packages/epochdb/dist/index.js';

const { dir, checkpointWalBytes } = JSON.parse(process.argv[2]);
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const db = await open({ dir, workers: 0, sync: 'always', walSegmentBytes: 4096, checkpointWalBytes });
await db.put('user:1', { name: 'Ada' }, { type: 'user' });
await db.put('counter', 0);
out({ t: 'open' });
let stopping = false;
process.stdin.on('end', () => (stopping = true));
process.stdin.resume();
let n = 0;
while (!stopping) {
  n++;
  await db.batch([
    { op: 'put', key: 'counter', value: n },
    { op: 'put', key: `item:${String(n % 50).padStart(3, '0')}`, value: { n, pad: 'x'.repeat(40) } },
  ]);
  if (n % 20 === 0) out({ t: 'v', v: db.version });
  // Yield to the event loop so stdin's end is seen.
  await new Promise((resolve) => setImmediate(resolve));
}
await db.close();
out({ t: 'closed', v: db.version });
