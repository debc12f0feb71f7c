// The scale benchmark's report logic: ratios within one N, cells for cases that died,
// the targets (a died EpochDB case is "not met", a died comparator is not
// counted, sizes not run leave a target partial), skipping after a death while
// loading, and merging runs of different sizes. (No benchmark runs here.)
import { describe, expect, it } from 'vitest';
import { medianMetrics, mergeResults, metricById, metricTable, skipReason } from '../../bench/lib/scale-report.mjs';
import { evaluateScaleTargets } from '../../bench/lib/scale-targets.mjs';
import { renderScaleMd } from '../../bench/lib/scale-markdown.mjs';
import { scaleChartValues } from '../../bench/lib/scale-chart.mjs';

type Case = { workload: string; engine: string; n: number; status: string; metrics?: Record<string, number>; phase?: string; error?: string };

const M = 1_000_000;
const ok = (workload: string, engine: string, n: number, metrics: Record<string, number>): Case => ({ workload, engine, n, status: 'ok', metrics });
const died = (workload: string, engine: string, n: number, phase: string): Case => ({ workload, engine, n, status: 'died', phase, error: 'V8 heap limit (out of memory)' });
const results = (sizes: number[], cases: Case[]) => ({
  meta: { date: '2026-12-04T00:00:00.000Z', sizes, command: 'pnpm bench:scale', cpu: 'cpu', cores: 2, memoryGiB: 24, os: 'linux', node: 'v20', time: 1000, seconds: 5, churnRate: 20_000 },
  cases,
});

const run = results([200_000, M, 10 * M], [
  ok('load', 'btree', 200_000, { loadPerSec: 1_000_000, heapOffHeapPerEntry: 268, heapUsed: 60e6, gcPauseMs: 50 }),
  ok('load', 'epochdb', 200_000, { loadPerSec: 700_000, heapOffHeapPerEntry: 150, heapUsed: 40e6, gcPauseMs: 20 }),
  ok('load', 'epochdb-persistent', 200_000, { loadPerSec: 300_000 }),
  ok('load', 'lmdb', 200_000, { loadPerSec: 360_000 }),
  ok('read', 'epochdb', 200_000, { getPerSec: 1_200_000, scanPerSec: 50_000 }),
  ok('read', 'lmdb', 200_000, { getPerSec: 1_000_000, scanPerSec: 10_000 }),
  ok('load', 'btree', M, { loadPerSec: 500_000 }),
  ok('load', 'epochdb', M, { loadPerSec: 400_000 }),
  ok('read', 'epochdb', M, { getPerSec: 900_000, scanPerSec: 60_000 }),
  ok('read', 'lmdb', M, { getPerSec: 800_000, scanPerSec: 10_000 }),
  ok('reopen', 'flatfile', M, { reopenMs: 1000 }),
  ok('reopen', 'epochdb-persistent', M, { reopenMs: 1500 }),
  died('load', 'btree', 10 * M, 'load 8000000/10000000'),
  died('load', 'epochdb', 10 * M, 'load 6000000/10000000'),
  ok('load', 'epochdb-persistent', 10 * M, { loadPerSec: 200_000, heapOffHeapPerEntry: 120, heapUsed: 0.9 * 2 ** 30, gcPauseMs: 400 }),
  ok('read', 'epochdb-persistent', 10 * M, { getPerSec: 500_000, scanPerSec: 40_000 }),
  { workload: 'churn', engine: 'epochdb', n: 10 * M, status: 'skipped', error: 'epochdb died loading 10M keys in load' },
]);

describe('scale report', () => {
  it('takes each ratio against the baseline at the same N and shows why a case has no figure', () => {
    const table = metricTable(run, metricById('load'));
    expect(table.headers).toEqual(['engine', 'N = 200k', 'N = 1M', 'N = 10M']);
    const row = (label: string) => table.rows.find((r: string[]) => r[0] === label);
    expect(row('epochdb (memory-only)')).toEqual(['epochdb (memory-only)', '700k (0.70x)', '400k (0.80x)', 'died in load 6M/10M (V8 heap limit (out of memory))']);
    expect(row('raw sorted-btree')?.[1]).toBe('1.00M (baseline)');
    // No baseline at 10M (the btree died): the figure without a ratio.
    expect(row("epochdb (persistent, sync 'none')")?.[3]).toBe('200k');
    expect(metricTable(run, metricById('get')).title).toContain('x lmdb-js (noSync), higher is better');
  });

  it('evaluates the targets: met, not met (also when EpochDB died), partial and n/a', () => {
    const t = Object.fromEntries(evaluateScaleTargets(run).map((x: { id: string }) => [x.id, x]));
    expect(t['bytes-200k'].status).toBe('met');
    expect(t['bytes-200k'].figure).toBe('@ 200k: 150 B/entry (0.56x btree)');
    expect(t['works-10m'].status).toBe('not met');
    expect(t['works-10m'].figure).toContain('memory @ 10M: load died in load 6M/10M');
    expect(t['works-10m'].figure).toContain('persistent @ 10M: load, read ok');
    expect(t['heap-10m'].status).toBe('not met'); // persistent is within 1 GiB, memory-only died
    expect(t['heap-10m'].figure).toContain('persistent @ 10M: 922 MiB');
    expect(t['get-200k'].status).toBe('not met'); // 1.2x < 1.5x
    expect(t['scan'].status).toBe('partial'); // 5x at 200k, 6x at 1M; not run at 10M
    expect(t['scan'].figure).toBe('@ 200k: 5.00x (50.0k vs 10.0k); @ 1M: 6.00x (60.0k vs 10.0k); @ 10M: not run');
    expect(t['load-memory'].status).toBe('not met'); // 0.7x, 0.8x, but it died at 10M
    expect(t['reopen'].status).toBe('partial'); // 1.5x at 1M; 10M not run
    expect(t['delay-p99-10m'].status).toBe('not met'); // memory-only's churn was skipped after its death
    expect(t['delay-p99-10m'].figure).toBe('memory @ 10M: skipped (epochdb died loading 10M keys in load); persistent @ 10M: not run');
    expect(t['durable-concurrent'].status).toBe('n/a');
    expect(t['get-10m'].status).toBe('n/a'); // not run at 10M
  });

  it('skips an engine at larger N once it died loading, not after a death in another phase', () => {
    const cases = [died('load', 'epochdb', 5 * M, 'load 4000000/5000000'), died('churn', 'lmdb', M, 'churn')];
    expect(skipReason(cases, 'epochdb', 10 * M)).toBe('epochdb died loading 5M keys in load');
    expect(skipReason(cases, 'epochdb', 2 * M)).toBeUndefined();
    expect(skipReason(cases, 'lmdb', 10 * M)).toBeUndefined();
  });

  it('merges runs of different sizes, a later run replacing the same case', () => {
    const a = results([200_000, M], [ok('load', 'epochdb', 200_000, { loadPerSec: 1 }), ok('load', 'epochdb', M, { loadPerSec: 2 })]);
    const b = { ...results([M, 10 * M], [ok('load', 'epochdb', M, { loadPerSec: 3 }), ok('load', 'epochdb', 10 * M, { loadPerSec: 4 })]), meta: { ...results([], []).meta, sizes: [M, 10 * M], date: 'b' } };
    const merged = mergeResults([a, b]);
    expect(merged.meta.sizes).toEqual([200_000, M, 10 * M]);
    expect(merged.cases.map((c: Case) => c.metrics?.loadPerSec).sort()).toEqual([1, 3, 4]);
    expect(merged.meta.merged).toEqual(['2026-12-04T00:00:00.000Z', 'b']);
    expect(mergeResults([a]).meta.merged).toBeUndefined(); // one file: not a merge
  });

  it('takes the median of every numeric metric over rounds', () => {
    const m = medianMetrics([{ getPerSec: 3, gcPausesMs: [1], scanPerSec: 10 }, { getPerSec: 1, gcPausesMs: [2], scanPerSec: 30 }, { getPerSec: 2, gcPausesMs: [3], scanPerSec: 20 }]);
    expect(m).toEqual({ getPerSec: 2, gcPausesMs: [1], scanPerSec: 20 });
    expect(medianMetrics([{ x: 5 }, { x: 1 }]).x).toBe(1); // the lower middle of an even count
  });

  it('renders the Markdown and the chart data, deaths included', () => {
    const md = renderScaleMd(run);
    expect(md).toContain('| heap+external ≤ 200 B/entry at 200k | ✅ met | @ 200k: 150 B/entry (0.56x btree) |');
    expect(md).toContain('**epochdb (memory-only), load, N = 10M**: died in load 6M/10M');
    const points = scaleChartValues(run).filter((p: { panel: string }) => p.panel.startsWith('heap'));
    expect(points.find((p: { engine: string; n: number }) => p.engine === 'epochdb (memory-only)' && p.n === 10 * M)).toMatchObject({ value: 0, trouble: expect.stringContaining('died') });
    expect(points.find((p: { engine: string; n: number }) => p.engine === 'epochdb (memory-only)' && p.n === 200_000)?.value).toBe(150);
  });
});
