// The scale benchmark (issue 11): load, bytes per entry, forced full GC, random get,
// scan100, event-loop delay under an overwrite churn with a snapshot held, and reopen,
// for EpochDB (memory-only and persistent), lmdb-js, a raw sorted-btree and a flat
// file, at each N. Every (workload, engine, N) runs in a fresh child process with
// default node flags (plus --expose-gc); one that dies is reported, not fatal. Writes
// bench/results/scale-<date>.json (after every case), BENCHMARKS-scale.md and its chart.
//
// Usage: pnpm bench:scale [--n 200000,1000000,...] [--engines epochdb,epochdb-persistent,lmdb,btree]
//                         [--only load,read,churn,reopen] [--rounds r] [--time ms] [--seconds s] [--churn-rate r]
//                         [--timeout-min m] [--report-from a.json,b.json] [--no-report] [--verbose]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderText } from './lib/report.mjs';
import { renderVegaLite } from './lib/chart.mjs';
import { runIsolated } from './lib/isolate.mjs';
import { SCALE_ENGINES, SCALE_METRICS, SCALE_WORKLOADS, fmtN, medianMetrics, mergeResults, metricTable, skipReason } from './lib/scale-report.mjs';
import { evaluateScaleTargets } from './lib/scale-targets.mjs';
import { scaleChartSpec } from './lib/scale-chart.mjs';
import { renderScaleMd } from './lib/scale-markdown.mjs';
import { CHURN_RATE } from './workloads/scale-churn.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const resultsDir = join(here, 'results');
const MAX_N = 10_000_000;

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '200000' },
    engines: { type: 'string' },
    only: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    time: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '5' },
    'churn-rate': { type: 'string', default: String(CHURN_RATE) },
    'timeout-min': { type: 'string' },
    'report-from': { type: 'string' },
    'no-report': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});

if (args.help) {
  console.log(`pnpm bench:scale [--n 200000,1000000,2000000,5000000,10000000] [--engines ${Object.keys(SCALE_ENGINES).filter((e) => !SCALE_ENGINES[e].baseline).join(',')}]
  --n a,b,...      keys per store, one run of everything per N (default 200000; at most ${MAX_N.toLocaleString('en-US')})
  --engines a,b    only these engines (the baselines btree and flatfile always run)
  --only a,b       only these workloads: ${SCALE_WORKLOADS.join(', ')}
  --rounds r       run every case r times (rounds interleaved across engines) and report medians (default 1)
  --time ms        tinybench time of get and scan100 (default 1000)
  --seconds s      duration of the overwrite churn (default 5)
  --churn-rate r   overwrites/s of the churn's writer (default ${CHURN_RATE})
  --timeout-min m  kill a child after m minutes (default 10 + 6 per million keys)
  --report-from f  regenerate BENCHMARKS-scale.md and the chart from saved results (a list is merged by N)
  --no-report      leave BENCHMARKS-scale.md and the chart as they are
  --verbose        print every phase of every child and forward its stderr`);
  process.exit(0);
}

/** Parses a comma-separated list; `check` throws on a bad item. */
function list(text, what, check) {
  if (text === undefined) return undefined;
  const items = text.split(',').map((x) => x.trim()).filter(Boolean);
  if (items.length === 0) throw new Error(`${what}: an empty list`);
  for (const item of items) check(item);
  return items;
}

const sizes = list(args.n, '--n', (x) => {
  const n = Number(x);
  if (!Number.isInteger(n) || n < 10_000 || n > MAX_N) throw new Error(`--n: ${x} is not an integer from 10000 to ${MAX_N}`);
}).map(Number).sort((a, b) => a - b);
const engines = list(args.engines, '--engines', (e) => { if (!SCALE_ENGINES[e]) throw new Error(`--engines: unknown engine ${e} (known: ${Object.keys(SCALE_ENGINES).join(', ')})`); });
const only = list(args.only, '--only', (w) => { if (!SCALE_WORKLOADS.includes(w)) throw new Error(`--only: unknown workload ${w} (known: ${SCALE_WORKLOADS.join(', ')})`); });
const positive = (name) => { const v = Number(args[name]); if (!(v > 0)) throw new Error(`--${name}: a positive number`); return v; };
const rounds = positive('rounds');
if (!Number.isInteger(rounds)) throw new Error('--rounds: an integer');
const time = positive('time');
const seconds = positive('seconds');
const churnRate = positive('churn-rate');
const timeoutMs = (n) => (args['timeout-min'] !== undefined ? positive('timeout-min') : 10 + (6 * n) / 1e6) * 60_000;

async function writeReport(results) {
  const { svg, png } = await renderVegaLite(scaleChartSpec(results));
  writeFileSync(join(resultsDir, 'scale-chart.svg'), svg);
  if (png) writeFileSync(join(resultsDir, 'scale-chart.png'), png);
  writeFileSync(join(root, 'BENCHMARKS-scale.md'), renderScaleMd(results, { chart: png ? 'bench/results/scale-chart.png' : 'bench/results/scale-chart.svg' }));
  console.log(`wrote BENCHMARKS-scale.md, bench/results/scale-chart.svg${png ? ' and scale-chart.png' : ''}`);
}

function printReport(results) {
  for (const metric of SCALE_METRICS) {
    const table = metricTable(results, metric);
    if (table.rows.length) console.log(`\n=== ${table.title} ===\n${renderText(table)}`);
  }
  console.log('\n=== targets (issue 11) ===');
  console.log(renderText({ headers: ['target', 'status', 'figure'], rows: results.targets.map((t) => [t.text, t.status.toUpperCase(), t.figure]), align: ['l', 'l', 'l'] }));
}

mkdirSync(resultsDir, { recursive: true });

if (args['report-from']) {
  const results = mergeResults(args['report-from'].split(',').map((f) => JSON.parse(readFileSync(f.trim(), 'utf8'))));
  results.targets = evaluateScaleTargets(results);
  printReport(results);
  await writeReport(results);
  process.exit(0);
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
    sizes, rounds, time, seconds, churnRate,
    engines: engines ?? null,
    only: only ?? null,
    command: `pnpm bench:scale ${process.argv.slice(2).join(' ')}`.trim(),
  },
  cases: [],
};
const file = join(resultsDir, `scale-${started.toISOString().replace(/[:.]/g, '-')}.json`);
/** Cases of the size in progress that have finished at least one round (saved too, so an interrupted run keeps them). */
let current = new Map();
const okCase = (n, { workload, engine, runs, seconds }) => ({ workload, engine, n, status: 'ok', seconds: Math.round(seconds * 10) / 10, metrics: medianMetrics(runs), ...(runs.length > 1 ? { rounds: runs } : {}) });
const save = (n) => writeFileSync(file, JSON.stringify({ ...results, cases: [...results.cases, ...[...current.values()].map((c) => okCase(n, c))] }, null, 2));

console.log(`EpochDB scale bench: N = ${sizes.map(fmtN).join(', ')}; ${results.meta.cpu}, ${results.meta.cores} cores, Node ${process.version}; results in ${relative(root, file)}`);
/** Runs one case once; returns the child's result. */
async function runOnce(engine, spec, workload, n, label) {
  let lastPrint = performance.now();
  const onPhase = (phase) => {
    // Progress of long loads every 20 s; every phase with --verbose.
    if (args.verbose || performance.now() - lastPrint > 20_000) { console.log(`    ${label}: ${phase}`); lastPrint = performance.now(); }
  };
  const job = { workload: `scale-${workload}`, engine: spec.adapter, params: spec.params, n, time, seconds, churnRate };
  return runIsolated(job, { timeoutMs: timeoutMs(n), onPhase, forwardStderr: args.verbose });
}

for (const n of sizes) {
  // Rounds are interleaved (every case once, then again), so a noisy minute on the shared machine spreads over all engines.
  const ok = new Map(); // case key -> { workload, engine, runs: [metrics], seconds }
  current = ok;
  for (let round = 1; round <= rounds; round++) {
    for (const [engine, spec] of Object.entries(SCALE_ENGINES)) {
      if (engines && !spec.baseline && !engines.includes(engine)) continue;
      for (const workload of spec.workloads) {
        if (only && !only.includes(workload)) continue;
        const key = `${workload}|${engine}`;
        if (round > 1 && !ok.has(key)) continue; // it died, failed or was skipped in an earlier round
        const label = `${engine} ${workload} N=${fmtN(n)}${rounds > 1 ? ` round ${round}/${rounds}` : ''}`;
        const skipped = skipReason(results.cases, engine, n);
        if (skipped) {
          ok.delete(key);
          results.cases.push({ workload, engine, n, status: 'skipped', error: skipped });
          console.log(`  ${label}: skipped (${skipped})`);
          continue;
        }
        const r = await runOnce(engine, spec, workload, n, label);
        const seconds = Math.round(r.seconds * 10) / 10;
        console.log(`  ${label}: ${r.status}${r.status === 'ok' ? '' : ` in ${r.phase}: ${String(r.error).split('\n')[0]}`} (${seconds} s)`);
        if (r.status === 'ok') {
          const entry = ok.get(key) ?? { workload, engine, runs: [], seconds: 0 };
          entry.runs.push(r.rows);
          entry.seconds += seconds;
          ok.set(key, entry);
          if (r.rows?.heapLimit) results.meta.heapLimit ??= r.rows.heapLimit;
          save(n);
        } else {
          // One round that does not finish decides the case.
          ok.delete(key);
          results.cases.push({ workload, engine, n, status: r.status, seconds, error: r.error, phase: r.phase, ...(r.exit !== undefined ? { exit: r.exit } : {}), stderrTail: r.stderrTail, ...(round > 1 ? { round } : {}) });
          save(n);
        }
      }
    }
  }
  for (const c of ok.values()) results.cases.push(okCase(n, c));
  current = new Map();
  save(n);
}

results.meta.totalSeconds = Math.round((Date.now() - started.getTime()) / 1000);
results.targets = evaluateScaleTargets(results);
save();
printReport(results);
console.log(`\nresults: ${relative(root, file)} (${results.meta.totalSeconds} s in all)`);
if (args['no-report'] || engines || only) console.log('partial run (--engines/--only) or --no-report: BENCHMARKS-scale.md left as it was (use --report-from to write it)');
else await writeReport(results);
const broken = results.cases.filter((c) => c.status === 'failed' || c.status === 'wrong results');
const unavailable = results.cases.filter((c) => c.status === 'unavailable');
if (unavailable.length) console.log(`unavailable (the engine did not load here): ${[...new Set(unavailable.map((c) => c.engine))].join(', ')}`);
if (broken.length) console.log(`FAILED: ${broken.map((c) => `${c.engine} ${c.workload} N=${fmtN(c.n)}`).join(', ')}`);
process.exit(broken.length ? 1 : 0);
