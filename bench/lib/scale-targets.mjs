// Issue 11's targets, then issues 18's and 19's (reads; writes, checkpoints and reopen), evaluated on a scale results object (pure). Each target checks
// one or more (engine, N) figures: an absolute limit, a ratio against another engine
// at the same N, or that every workload of an engine at an N ran to the end.
import { fmtNumber, fmtRatio } from './report.mjs';
import { SCALE_WORKLOADS, caseTrouble, figure, findCase, fmtN, metricById } from './scale-report.mjs';

const M = 1_000_000;
const EPOCHDB = ['epochdb', 'epochdb-persistent'];

/**
 * The targets. `at`: the sizes it is stated at ('all': every size measured).
 * kind 'abs': figure `op` limit; 'ratio': figure / figure of `vs` `op` limit;
 * 'works': every workload of the engine at that N finished ('ok'); 'elsewhere':
 * measured by another benchmark.
 */
export const SCALE_TARGETS = [
  { id: 'works-10m', text: '10M keys load and work, memory-only and persistent, default node flags', kind: 'works', engines: EPOCHDB, at: [10 * M] },
  { id: 'bytes-200k', text: 'heap+external ≤ 200 B/entry at 200k', kind: 'abs', metric: 'heapOffHeap', engines: ['epochdb'], at: [200_000], op: '<=', limit: 200, unit: 'B/entry', vs: 'btree' },
  { id: 'bytes-10m', text: 'heap+external ≤ 200 B/entry at 10M', kind: 'abs', metric: 'heapOffHeap', engines: ['epochdb'], at: [10 * M], op: '<=', limit: 200, unit: 'B/entry', vs: 'btree' },
  { id: 'heap-10m', text: 'V8 heap used at 10M ≤ 1 GiB', kind: 'abs', metric: 'heapUsed', engines: EPOCHDB, at: [10 * M], op: '<=', limit: 2 ** 30 },
  { id: 'gc-10m', text: 'forced full GC at 10M ≤ 1 s', kind: 'abs', metric: 'gc', engines: EPOCHDB, at: [10 * M], op: '<=', limit: 1000, unit: 'ms' },
  { id: 'delay-p99-10m', text: 'event-loop delay under the overwrite churn at 10M: p99 ≤ 10 ms', kind: 'abs', metric: 'delayP99', engines: EPOCHDB, at: [10 * M], op: '<=', limit: 10, unit: 'ms' },
  { id: 'delay-max-10m', text: 'event-loop delay under the overwrite churn at 10M: max ≤ 100 ms', kind: 'abs', metric: 'delayMax', engines: EPOCHDB, at: [10 * M], op: '<=', limit: 100, unit: 'ms' },
  { id: 'load-memory', text: 'memory-only load ≥ 0.6x the raw btree', kind: 'ratio', metric: 'load', engines: ['epochdb'], vs: 'btree', at: 'all', op: '>=', limit: 0.6 },
  { id: 'load-persistent', text: "persistent load (sync 'none', batches) ≥ lmdb-js", kind: 'ratio', metric: 'load', engines: ['epochdb-persistent'], vs: 'lmdb', at: 'all', op: '>=', limit: 1 },
  { id: 'durable-concurrent', text: "20,000 concurrent durable puts (sync 'always') ≥ lmdb-js and ≥ 0.5x the append+fdatasync loop", kind: 'elsewhere', where: 'measured by `pnpm bench` (workload durable-concurrent): see BENCHMARKS.md' },
  { id: 'get-200k', text: 'random get ≥ 1.5x lmdb-js at 200k', kind: 'ratio', metric: 'get', engines: ['epochdb'], vs: 'lmdb', at: [200_000], op: '>=', limit: 1.5 },
  { id: 'get-10m', text: 'random get ≥ 1.2x lmdb-js at 10M', kind: 'ratio', metric: 'get', engines: ['epochdb'], vs: 'lmdb', at: [10 * M], op: '>=', limit: 1.2 },
  { id: 'scan', text: 'scan100 ≥ 5x lmdb-js', kind: 'ratio', metric: 'scan', engines: ['epochdb'], vs: 'lmdb', at: 'all', op: '>=', limit: 5 },
  { id: 'reopen', text: 'reopen ≤ 2x reading and decoding the same records from one flat file, at 1M and 10M', kind: 'ratio', metric: 'reopen', engines: ['epochdb-persistent'], vs: 'flatfile', at: [M, 10 * M], op: '<=', limit: 2 },
  // Issue 18: reads faster than lmdb-js without giving back the memory won (get: get-200k, get-10m above).
  { id: 'i18-scan-200k', text: 'issue 18: scan100 ≥ 3x lmdb-js at 200k', kind: 'ratio', metric: 'scan', engines: ['epochdb'], vs: 'lmdb', at: [200_000], op: '>=', limit: 3 },
  { id: 'i18-scan-10m', text: 'issue 18: scan100 ≥ 1.5x lmdb-js at 10M', kind: 'ratio', metric: 'scan', engines: ['epochdb'], vs: 'lmdb', at: [10 * M], op: '>=', limit: 1.5 },
  { id: 'i18-bytes-10m', text: 'issue 18: heap + off-heap ≤ 160 B/entry at 10M, memory-only', kind: 'abs', metric: 'heapOffHeap', engines: ['epochdb'], at: [10 * M], op: '<=', limit: 160, unit: 'B/entry', vs: 'btree' },
  { id: 'i18-rss-10m', text: 'issue 18: RSS ≤ 250 B/entry at 10M, memory-only', kind: 'abs', metric: 'rss', engines: ['epochdb'], at: [10 * M], op: '<=', limit: 250, unit: 'B/entry' },
  { id: 'i18-bytes-200k', text: 'issue 18: heap + off-heap ≤ 0.75x the raw btree at 200k', kind: 'ratio', metric: 'heapOffHeap', engines: ['epochdb'], vs: 'btree', at: [200_000], op: '<=', limit: 0.75 },
  // Issue 19: writes, checkpoints and reopen at the speed of the disk (load-memory, gc/delay at 10M above).
  { id: 'i19-load-persistent-200k', text: "issue 19: persistent load (sync 'none', batches) ≥ 1x lmdb-js at 200k", kind: 'ratio', metric: 'load', engines: ['epochdb-persistent'], vs: 'lmdb', at: [200_000], op: '>=', limit: 1 },
  { id: 'i19-load-persistent-10m', text: "issue 19: persistent load (sync 'none', batches) ≥ 0.8x lmdb-js at 10M", kind: 'ratio', metric: 'load', engines: ['epochdb-persistent'], vs: 'lmdb', at: [10 * M], op: '>=', limit: 0.8 },
  { id: 'i19-reopen', text: 'issue 19: reopen ≤ 2x reading and decoding the same records from one flat file, at 200k and 10M', kind: 'ratio', metric: 'reopen', engines: ['epochdb-persistent'], vs: 'flatfile', at: [200_000, 10 * M], op: '<=', limit: 2 },
  { id: 'i19-reopen-10m', text: 'issue 19: reopen at 10M ≤ 20 s', kind: 'abs', metric: 'reopen', engines: ['epochdb-persistent'], at: [10 * M], op: '<=', limit: 20_000, unit: 'ms' },
  { id: 'i19-close-10m', text: 'issue 19: close() at 10M ≤ 10 s', kind: 'abs', metric: 'close', engines: ['epochdb-persistent'], at: [10 * M], op: '<=', limit: 10_000, unit: 'ms' },
];

const compare = (x, op, y) => (op === '>=' ? x >= y : op === '<=' ? x <= y : op === '<' ? x < y : x > y);
const short = (engine) => (engine === 'epochdb' ? 'memory' : engine === 'epochdb-persistent' ? 'persistent' : engine);

/** One (engine, N) check of a target: { outcome: 'pass' | 'fail' | 'missing', text }. */
function check(results, t, engine, n) {
  const where = `${t.engines.length > 1 ? `${short(engine)} ` : ''}@ ${fmtN(n)}`;
  if (t.kind === 'works') {
    const cases = SCALE_WORKLOADS.map((w) => findCase(results, w, engine, n)).filter(Boolean);
    if (cases.length === 0) return { outcome: 'missing', text: `${where}: not run` };
    const bad = cases.find((c) => c.status !== 'ok');
    if (bad) return { outcome: 'fail', text: `${where}: ${bad.workload} ${caseTrouble(bad)}` };
    return { outcome: 'pass', text: `${where}: ${cases.map((c) => c.workload).join(', ')} ok` };
  }
  const metric = metricById(t.metric);
  const fmt = metric.format ?? ((v) => `${fmtNumber(v)}${t.unit ? ` ${t.unit}` : ''}`);
  const a = figure(results, metric, engine, n);
  if (!a) return { outcome: 'missing', text: `${where}: not run` };
  if (a.trouble) return { outcome: 'fail', text: `${where}: ${a.trouble}` };
  const b = t.vs ? figure(results, metric, t.vs, n) : undefined;
  const vsText = b?.value ? ` (${fmtRatio(a.value / b.value)} ${t.vs})` : '';
  if (t.kind === 'abs') return { outcome: compare(a.value, t.op, t.limit) ? 'pass' : 'fail', text: `${where}: ${fmt(a.value)}${vsText}` };
  if (!b) return { outcome: 'missing', text: `${where}: ${fmt(a.value)}, ${t.vs} not run` };
  if (b.trouble) return { outcome: 'missing', text: `${where}: ${fmt(a.value)}, ${t.vs} ${b.trouble}` };
  const ratio = a.value / b.value;
  return { outcome: compare(ratio, t.op, t.limit) ? 'pass' : 'fail', text: `${where}: ${fmtRatio(ratio)} (${fmt(a.value)} vs ${fmt(b.value)})` };
}

/**
 * Evaluates every target: [{ id, text, status, figure }], status 'met' (every stated
 * size measured and met), 'not met' (any check failed, including an EpochDB case that
 * died), 'partial' (met where measured, some stated sizes not run) or 'n/a'.
 */
export function evaluateScaleTargets(results) {
  const sizes = results.meta.sizes;
  return SCALE_TARGETS.map((t) => {
    if (t.kind === 'elsewhere') return { id: t.id, text: t.text, status: 'n/a', figure: t.where };
    const at = t.at === 'all' ? sizes : t.at;
    const checks = at.flatMap((n) => t.engines.map((e) => check(results, t, e, n)));
    const measured = checks.filter((c) => c.outcome !== 'missing');
    const status = checks.some((c) => c.outcome === 'fail') ? 'not met'
      : measured.length === 0 ? 'n/a'
      : measured.length === checks.length ? 'met' : 'partial';
    return { id: t.id, text: t.text, status, figure: checks.map((c) => c.text).join('; ') };
  });
}

