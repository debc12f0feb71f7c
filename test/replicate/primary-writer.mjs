// Replication test writer: a child process that opens a replicated primary and
// writes until it is killed with SIGKILL. Spawned by test/replicate/outage.test.ts.
// It imports the BUILT package (run `npx tsc -b` first).
//   {t:'open', version}   after open()
//   {t:'a', v}            a write resolved at version v (durable locally)
import { open } from '../../packages/epochdb/dist/index.js';

const { dir, servers, name } = JSON.parse(process.argv[2]);
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const db = await open({ dir, replicate: { servers, name, timeoutMs: 1000 } });
out({ t: 'open', version: db.version });
for (let i = 0; ; i++) {
  const lane = async (j) => out({ t: 'a', v: await db.put(`k${(i * 4 + j) % 97}`, { i, j, pad: 'x'.repeat(j * 10) }, { type: j % 2 ? 'odd' : 'even' }) });
  await Promise.all([0, 1, 2, 3].map(lane));
}
