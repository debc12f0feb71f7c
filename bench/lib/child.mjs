// One (workload, case) in a fresh process: imports the engine's adapter (reporting
// "unavailable" if it cannot load), runs the workload, sends the rows to the parent.
// A workload may report what it is doing with ctx.phase(text) ({ type: 'phase' }
// messages), so a parent can say where a child that died was. The parent may name the
// scratch directory (job.dir), so it can remove it even if the child dies.
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const job = JSON.parse(process.argv[2]);
const send = (msg) => new Promise((resolve) => (process.send ? process.send(msg, resolve) : (console.log(JSON.stringify(msg)), resolve())));

async function main(dir) {
  let adapter;
  try {
    adapter = await import(`../adapters/${job.engine}.mjs`);
  } catch (e) {
    return { status: 'unavailable', error: String(e?.message ?? e).split('\n')[0] };
  }
  // job.module: a workload module outside bench/workloads (the harness's own tests use it).
  const workload = await import(job.module ?? `../workloads/${job.workload}.mjs`);
  const phase = (text) => { if (process.send) process.send({ type: 'phase', phase: text }); };
  const ctx = { ...job, dir, phase, create: (params = job.params ?? {}) => adapter.create(dir, params) };
  const started = performance.now();
  const rows = await workload.run(ctx);
  return { status: 'ok', rows, ms: performance.now() - started };
}

const dir = job.dir ?? mkdtempSync(join(tmpdir(), `epochdb-bench-${job.workload}-`));
let result;
try {
  result = await main(dir);
} catch (e) {
  result = { status: e?.constructor?.name === 'VerifyError' ? 'wrong results' : 'failed', error: String(e?.stack ?? e) };
} finally {
  rmSync(dir, { recursive: true, force: true });
}
await send(result);
process.exit(result.status === 'ok' || result.status === 'unavailable' ? 0 : 1);
