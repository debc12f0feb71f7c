// Pure helpers of the scale benchmark (bench/scale.mjs): the engines and workloads it
// runs, the metrics it reports, per-metric tables (engines x N, ratios against the
// metric's baseline at the same N), merging result files and when to skip a case
// after its engine died. No I/O here.
import { fmtNumber, fmtRatio } from './report.mjs';

/** The scale workloads, in the order they run (module bench/workloads/scale-<id>.mjs). */
export const SCALE_WORKLOADS = ['load', 'read', 'churn', 'reopen'];

/**
 * The engines: adapter (bench/adapters/<adapter>.mjs), its parameters, a label and the
 * workloads it runs. `baseline: true` ones always run (other rows are compared to them).
 */
export const SCALE_ENGINES = {
  epochdb: { adapter: 'epochdb', params: { loadChunk: 10_000 }, label: 'epochdb (memory-only)', workloads: ['load', 'read', 'churn'] },
  'epochdb-persistent': { adapter: 'epochdb', params: { persistent: true, sync: 'none', loadChunk: 10_000 }, label: "epochdb (persistent, sync 'none')", workloads: ['load', 'read', 'churn', 'reopen'] },
  lmdb: { adapter: 'lmdb', params: { durable: false, loadChunk: 10_000 }, label: 'lmdb-js (noSync)', workloads: ['load', 'read', 'churn', 'reopen'] },
  btree: { adapter: 'btree', params: {}, label: 'raw sorted-btree', workloads: ['load', 'read', 'churn'], baseline: true },
  flatfile: { adapter: 'msgpack', params: {}, label: 'flat file (read + msgpack-decode)', workloads: ['reopen'], baseline: true },
};

const GiB = 2 ** 30;
/** Bytes as GiB or MiB. */
export const fmtBytes = (b) => (b === undefined || !Number.isFinite(b) ? '–' : b >= GiB ? `${(b / GiB).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(0)} MiB`);

/** N as 200k, 1M, 2.5M. */
export const fmtN = (n) => (n >= 1e6 ? `${+(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : String(n));

/** What is reported: one table each (engines x N). `baseline` is the engine each ratio is taken against (null: no ratio). */
export const SCALE_METRICS = [
  { id: 'load', workload: 'load', field: 'loadPerSec', title: 'load: puts/s (batches of 10,000)', better: 'higher', baseline: 'btree' },
  { id: 'heapOffHeap', workload: 'load', field: 'heapOffHeapPerEntry', title: 'heap used + off-heap, bytes/entry (after load + forced full GC; off-heap: the larger of external and arrayBuffers)', better: 'lower', baseline: 'btree' },
  { id: 'heap', workload: 'load', field: 'heapPerEntry', title: 'V8 heap used, bytes/entry', better: 'lower', baseline: 'btree' },
  // No ratio: the btree's off-heap memory is about 0.
  { id: 'offHeap', workload: 'load', field: 'offHeapPerEntry', title: 'off-heap (the larger of external and arrayBuffers), bytes/entry', better: 'lower', baseline: null },
  { id: 'external', workload: 'load', field: 'externalPerEntry', title: 'external, bytes/entry', better: 'lower', baseline: null },
  { id: 'arrayBuffers', workload: 'load', field: 'arrayBuffersPerEntry', title: 'arrayBuffers (ArrayBuffers, Buffers and SharedArrayBuffers), bytes/entry', better: 'lower', baseline: null },
  { id: 'rss', workload: 'load', field: 'rssPerEntry', title: 'RSS growth, bytes/entry', better: 'lower', baseline: 'btree' },
  { id: 'storeMemory', workload: 'load', field: 'storeMemoryPerEntry', title: "EpochDB's own estimate, stats().memoryBytes / N", better: 'lower', baseline: null },
  { id: 'heapUsed', workload: 'load', field: 'heapUsed', title: 'V8 heap used in all (after load + forced full GC)', better: 'lower', baseline: 'btree', format: fmtBytes },
  { id: 'gc', workload: 'load', field: 'gcPauseMs', title: 'forced full GC pause, ms (median of 3)', better: 'lower', baseline: 'btree' },
  { id: 'get', workload: 'read', field: 'getPerSec', title: 'random get: gets/s', better: 'higher', baseline: 'lmdb' },
  { id: 'scan', workload: 'read', field: 'scanPerSec', title: 'scan100 from a random start: scans/s', better: 'higher', baseline: 'lmdb' },
  { id: 'delayP99', workload: 'churn', field: 'delayP99Ms', title: 'event-loop delay p99, ms (paced overwrite churn, a snapshot held)', better: 'lower', baseline: 'btree' },
  { id: 'delayMax', workload: 'churn', field: 'delayMaxMs', title: 'event-loop delay max, ms (same churn)', better: 'lower', baseline: 'btree' },
  { id: 'reopen', workload: 'reopen', field: 'reopenMs', title: 'reopen: close, then open + first get, ms', better: 'lower', baseline: 'flatfile' },
  { id: 'close', workload: 'reopen', field: 'closeMs', title: 'close() of the loaded store (its closing checkpoint, if it writes one), ms', better: 'lower', baseline: null },
];

export const metricById = (id) => SCALE_METRICS.find((m) => m.id === id);

/** The case of (workload, engine, n), if it was run. */
export const findCase = (results, workload, engine, n) => results.cases.find((c) => c.workload === workload && c.engine === engine && c.n === n);

/** A short description of a case that produced no figures: "died in load 600k/1M (V8 heap limit)". */
export function caseTrouble(c) {
  if (c.status === 'skipped') return `skipped (${c.error})`;
  const where = c.phase ? ` in ${c.phase.replace(/(\d+)\/(\d+)/, (_, a, b) => `${fmtN(Number(a))}/${fmtN(Number(b))}`)}` : '';
  return `${c.status}${where}${c.error ? ` (${String(c.error).split('\n')[0].slice(0, 120)})` : ''}`;
}

/**
 * The figure of `metric` for (engine, n): `{ value }`, or `{ trouble }` when the case
 * did not produce it, or undefined when it was not run.
 */
export function figure(results, metric, engine, n) {
  const c = findCase(results, metric.workload, engine, n);
  if (!c) return undefined;
  if (c.status !== 'ok') return { trouble: caseTrouble(c) };
  const value = c.metrics?.[metric.field];
  return typeof value === 'number' && Number.isFinite(value) ? { value } : { trouble: `no ${metric.field}` };
}

/** value / the baseline's value at the same N, or undefined. */
export function ratioOf(results, metric, engine, n, vs = metric.baseline) {
  const a = figure(results, metric, engine, n);
  const b = figure(results, metric, vs, n);
  return a?.value !== undefined && b?.value ? a.value / b.value : undefined;
}

/** Table model of one metric: a row per engine that ran its workload, a column per N. */
export function metricTable(results, metric) {
  const sizes = results.meta.sizes;
  const fmt = metric.format ?? fmtNumber;
  const engines = Object.keys(SCALE_ENGINES).filter((e) => sizes.some((n) => findCase(results, metric.workload, e, n)));
  const rows = engines.map((engine) => [
    SCALE_ENGINES[engine]?.label ?? engine,
    ...sizes.map((n) => {
      const f = figure(results, metric, engine, n);
      if (!f) return '';
      if (f.trouble) return f.trouble;
      if (!metric.baseline) return fmt(f.value);
      if (engine === metric.baseline) return `${fmt(f.value)} (baseline)`;
      const r = ratioOf(results, metric, engine, n);
      return r === undefined ? fmt(f.value) : `${fmt(f.value)} (${fmtRatio(r)})`;
    }),
  ]);
  const base = SCALE_ENGINES[metric.baseline]?.label ?? metric.baseline;
  const better = metric.better === 'lower' ? 'lower is better' : 'higher is better';
  return { title: `${metric.title}; ${metric.baseline ? `ratio: x ${base}, ` : ''}${better}`, headers: ['engine', ...sizes.map((n) => `N = ${fmtN(n)}`)], rows, align: ['l', ...sizes.map(() => 'r')] };
}

/**
 * Why (engine, n) should not be run, given the cases so far: its engine already died
 * or timed out while loading (phase open/load) at this N or a smaller one, so it
 * cannot hold that many keys and another try would only spend the same minutes.
 */
export function skipReason(cases, engine, n) {
  const dead = cases.find((c) => c.engine === engine && c.n <= n && (c.status === 'died' || c.status === 'timed out') && /^(open|load|starting)/.test(c.phase ?? ''));
  return dead ? `${engine} ${dead.status} loading ${fmtN(dead.n)} keys in ${dead.workload}` : undefined;
}

/**
 * Merges result files (e.g. sizes run separately): cases of the same (workload,
 * engine, N) in a later file replace earlier ones; sizes are the union, ascending.
 * Ratios stay within one N, so each is still measured in one run.
 */
export function mergeResults(list) {
  const cases = new Map();
  for (const r of list) for (const c of r.cases) cases.set(`${c.workload}|${c.engine}|${c.n}`, c);
  const sizes = [...new Set(list.flatMap((r) => r.meta.sizes))].sort((a, b) => a - b);
  const last = list.at(-1);
  return { ...last, meta: { ...last.meta, sizes, ...(list.length > 1 ? { merged: list.map((r) => r.meta.date) } : {}) }, cases: [...cases.values()] };
}

/**
 * One case's metrics from several rounds: the median of every numeric field (the
 * lower middle for an even count), other fields from the first round.
 */
export function medianMetrics(rounds) {
  const out = { ...rounds[0] };
  for (const [key, value] of Object.entries(rounds[0])) {
    if (typeof value !== 'number') continue;
    const sorted = rounds.map((r) => r[key]).filter((x) => typeof x === 'number').sort((a, b) => a - b);
    out[key] = sorted[Math.floor((sorted.length - 1) / 2)];
  }
  return out;
}
