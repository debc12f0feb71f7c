// Durable commits under sync: 'always' against lmdb-js and the physical limit, all
// measured in the same run on the same disk, each (workload, engine) in a fresh process
// (bench/lib/child.mjs, the workloads of `pnpm bench`):
// - durable-seq: awaited puts one at a time; the limit is rawfs, a bare loop of one
//   write + fdatasync per record;
// - durable-concurrent: 20,000 puts issued at once and awaited together; the limit is
//   rawfs's ideal group commit (the whole round in one write + fdatasync).
// Every round runs every case; the figures printed are the medians over rounds, the
// ratios those of the medians (and the range of the per-round ratios).
// Usage: node bench/durable.mjs [--rounds 3] [--seconds 3] [--engines epochdb,lmdb]
//                               [--only durable-seq,durable-concurrent]
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    engines: { type: 'string', default: 'epochdb,lmdb' },
    only: { type: 'string', default: 'durable-seq,durable-concurrent' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const engines = ['rawfs', ...values.engines.split(',').filter((e) => e !== 'rawfs')];
const workloads = values.only.split(',');

function runChild(job) {
  return new Promise((resolve) => {
    const child = fork(join(here, 'lib', 'child.mjs'), [JSON.stringify(job)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let message;
    child.on('message', (m) => { if (m?.type !== 'phase') message ??= m; });
    child.on('exit', (code, signal) => resolve(message ?? { status: 'failed', error: `child exited with ${signal ?? `code ${code}`}` }));
  });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const fmt = (x) => Math.round(x).toLocaleString('en-US');

for (const workload of workloads) {
  const mod = await import(`./workloads/${workload}.mjs`);
  const cases = mod.cases({ quick: false }).filter((c) => engines.includes(c.engine));
  /** name -> per-round rows */
  const byCase = new Map(cases.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const result = await runChild({ workload, engine: c.engine, params: c.params ?? {}, n: 0, quick: false, time: 0, seconds });
      if (result.status !== 'ok') throw new Error(`${workload} ${c.name}: ${result.status} ${result.error ?? ''}`);
      byCase.get(c.name).push(result.rows[0]);
    }
  }
  const base = byCase.get(cases.find((c) => c.engine === mod.baseline).name);
  const lmdb = cases.find((c) => c.engine === 'lmdb');
  console.log(`\n=== ${mod.title}: ${rounds} rounds, medians (${mod.metric}) ===`);
  for (const [name, rows] of byCase) {
    const rates = rows.map((row) => row.value);
    const vsBase = rows.map((row, i) => row.value / base[i].value);
    let line = `${name.padEnd(24)} ${fmt(median(rates)).padStart(10)}  rounds ${rates.map(fmt).join(' / ')}`;
    if (rows !== base) line += `  = ${median(vsBase).toFixed(2)}x ${mod.baseline} (${Math.min(...vsBase).toFixed(2)}-${Math.max(...vsBase).toFixed(2)})`;
    if (lmdb !== undefined && name !== lmdb.name && rows !== base) {
      const vsLmdb = rows.map((row, i) => row.value / byCase.get(lmdb.name)[i].value);
      line += `, ${median(vsLmdb).toFixed(2)}x lmdb-js (${Math.min(...vsLmdb).toFixed(2)}-${Math.max(...vsLmdb).toFixed(2)})`;
    }
    const p = rows[0].p50 !== undefined ? `  p50 ${median(rows.map((x) => x.p50)).toFixed(3)} ms, p99 ${median(rows.map((x) => x.p99)).toFixed(3)} ms` : '';
    const per = rows[0].extra?.['puts per fdatasync'] !== undefined ? `  ${fmt(median(rows.map((x) => x.extra['puts per fdatasync'])))} puts per fdatasync` : '';
    console.log(line + p + per);
  }
}
