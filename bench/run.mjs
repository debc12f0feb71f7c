// The side-by-side benchmark suite: every workload against every engine, each
// (workload, engine) in a fresh child process, tables with ratios against each
// workload's baseline, results as JSON under bench/results/, and BENCHMARKS.md.
//
// Usage: pnpm bench [--quick] [--n 1000000] [--only get,scan100] [--engines epochdb,lmdb]
//                   [--time ms] [--seconds s] [--report-from bench/results/<file>.json]
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, release, arch } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { withRatios, workloadTable, renderText, evaluateTargets } from './lib/report.mjs';
import { renderChart } from './lib/chart.mjs';
import { renderBenchmarksMd } from './lib/markdown.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const resultsDir = join(here, 'results');

export const WORKLOADS = ['load', 'get', 'scan100', 'mixed', 'txn', 'snapshot', 'durable-seq', 'durable-concurrent', 'reopen', 'memory', 'maintenance'];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    n: { type: 'string' },
    only: { type: 'string' },
    engines: { type: 'string' },
    time: { type: 'string' },
    seconds: { type: 'string' },
    'report-from': { type: 'string' },
    'no-report': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});

if (args.help) {
  console.log(`pnpm bench [--quick] [--n N] [--only ${WORKLOADS.join(',')}] [--engines epochdb,lmdb,sqlite,level,btree,map,rawfs]
  --quick          short smoke run (N=20k, short timings)
  --n N            keys per store (default 200000; 1000000 for the large run)
  --only a,b       run only these workloads
  --engines a,b    run only cases of these engines (baselines are always kept)
  --time ms        tinybench time per micro-benchmark (default 1000, quick 250)
  --seconds s      duration of the timed loops (default 3, quick 1)
  --report-from f  regenerate BENCHMARKS.md and the chart from a saved results file
  --no-report      do not rewrite latest.json, BENCHMARKS.md and the chart`);
  process.exit(0);
}

const list = (s) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

async function writeReport(results) {
  mkdirSync(resultsDir, { recursive: true });
  const { svg, png } = await renderChart(results);
  writeFileSync(join(resultsDir, 'chart.svg'), svg);
  if (png) writeFileSync(join(resultsDir, 'chart.png'), png);
  writeFileSync(join(root, 'BENCHMARKS.md'), renderBenchmarksMd(results, { chart: png ? 'bench/results/chart.png' : 'bench/results/chart.svg' }));
  console.log(`wrote BENCHMARKS.md, bench/results/chart.svg${png ? ' and chart.png' : ''}`);
}

function printTargets(results) {
  const targets = evaluateTargets(results);
  console.log('\n=== targets (ratios measured in this run) ===');
  console.log(renderText({ headers: ['target', 'status', 'figure'], rows: targets.map((t) => [t.text, t.status.toUpperCase(), t.figure]), align: ['l', 'l', 'l'] }));
  return targets;
}

if (args['report-from']) {
  const results = JSON.parse(readFileSync(args['report-from'], 'utf8'));
  for (const w of results.workloads) if (!w.skipped) withRatios(w);
  results.targets = printTargets(results);
  await writeReport(results);
  process.exit(0);
}

const quick = args.quick;
const n = Number(args.n ?? (quick ? 20_000 : 200_000));
const time = Number(args.time ?? (quick ? 250 : 1000));
const seconds = Number(args.seconds ?? (quick ? 1 : 3));
const only = list(args.only);
const engines = list(args.engines);
for (const w of only ?? []) if (!WORKLOADS.includes(w)) throw new Error(`--only: unknown workload ${w} (known: ${WORKLOADS.join(', ')})`);
if (!Number.isInteger(n) || n < 1000) throw new Error('--n: an integer >= 1000');

function runChild(job, timeoutMs) {
  return new Promise((resolve) => {
    const child = fork(join(here, 'lib', 'child.mjs'), [JSON.stringify(job)], { execArgv: ['--expose-gc', '--max-old-space-size=8192'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let message;
    const timer = setTimeout(() => { message = { status: 'failed', error: `timed out after ${timeoutMs / 1000} s` }; child.kill('SIGKILL'); }, timeoutMs);
    child.on('message', (m) => { if (m?.type !== 'phase') message ??= m; });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(message ?? { status: 'failed', error: `child exited with ${signal ?? `code ${code}`} and no result` });
    });
  });
}

const started = new Date();
const results = {
  meta: {
    date: started.toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()} ${arch()}`,
    n, quick, time, seconds,
    only: only ?? null,
    engines: engines ?? null,
    command: `pnpm bench ${process.argv.slice(2).join(' ')}`.trim(),
  },
  workloads: [],
};

console.log(`EpochDB bench: N=${n.toLocaleString('en-US')}${quick ? ' (quick)' : ''}, ${results.meta.cpu}, ${results.meta.cores} cores, Node ${process.version}`);
for (const id of WORKLOADS) {
  if (only && !only.includes(id)) continue;
  const mod = await import(`./workloads/${id}.mjs`);
  if (mod.skip) {
    console.log(`\n=== ${mod.title} ===\nskipped: ${mod.skip}`);
    results.workloads.push({ id, title: mod.title, skipped: mod.skip, cases: [] });
    continue;
  }
  const w = { id, title: mod.title, metric: mod.metric, better: mod.better, baseline: mod.baseline, notes: mod.notes, cases: [] };
  console.log(`\n=== ${mod.title} (N=${n.toLocaleString('en-US')}) ===`);
  for (const c of mod.cases({ quick })) {
    if (engines && c.name !== mod.baseline && !engines.includes(c.engine) && !engines.includes(c.name)) continue;
    const t0 = performance.now();
    const r = await runChild({ workload: id, engine: c.engine, params: c.params ?? {}, n, quick, time, seconds }, (quick ? 5 : 20) * 60_000);
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    w.cases.push({ name: c.name, engine: c.engine, params: c.params ?? {}, status: r.status, ...(r.error ? { error: r.error } : {}), rows: r.rows ?? [], seconds: Number(secs) });
    console.log(`  ${c.name}: ${r.status}${r.status === 'ok' ? '' : ` — ${r.error.split('\n').slice(0, 3).join(' | ')}`} (${secs} s)`);
  }
  withRatios(w);
  results.workloads.push(w);
  console.log(renderText(workloadTable(w)));
}

results.meta.totalSeconds = Math.round((Date.now() - started.getTime()) / 1000);
results.targets = printTargets(results);
const failed = results.workloads.flatMap((w) => w.cases.filter((c) => c.status === 'failed' || c.status === 'wrong results').map((c) => `${w.id}/${c.name}: ${c.status}`));
const unavailable = results.workloads.flatMap((w) => w.cases.filter((c) => c.status === 'unavailable').map((c) => `${w.id}/${c.name}`));
if (unavailable.length) console.log(`\nunavailable (engine did not load on this machine): ${unavailable.join(', ')}`);
if (failed.length) console.log(`\nFAILED: ${failed.join(', ')}`);

mkdirSync(resultsDir, { recursive: true });
const stamp = started.toISOString().replace(/[:.]/g, '-');
const file = join(resultsDir, `${stamp}${quick ? '-quick' : ''}.json`);
writeFileSync(file, JSON.stringify(results, null, 2));
console.log(`\nresults: ${relative(root, file)}  (${results.meta.totalSeconds} s in all)`);
const partial = Boolean(only || engines);
if (!args['no-report'] && !partial) {
  writeFileSync(join(resultsDir, 'latest.json'), JSON.stringify(results, null, 2));
  await writeReport(results);
} else {
  console.log('partial run (--only/--engines) or --no-report: latest.json and BENCHMARKS.md left as they were');
}
process.exit(failed.length ? 1 : 0);
