// The bench suite's pure helpers: ratios against the baseline, target evaluation and
// table rendering. (No benchmark runs here.)
import { describe, expect, it } from 'vitest';
import { evaluateTargets, fmtNumber, renderMarkdown, renderText, withRatios, workloadTable } from '../../bench/lib/report.mjs';

const workload = (id: string, baseline: string, cases: Array<[string, number | null, string?]>) =>
  withRatios({
    id, title: id, metric: 'ops/s', better: 'higher', baseline,
    cases: cases.map(([name, value, group]) => (value === null
      ? { name, engine: name, status: 'unavailable', error: 'no binary', rows: [] }
      : { name, engine: name, status: 'ok', rows: [{ value, ...(group ? { group } : {}) }] })),
  });

describe('bench report helpers', () => {
  it('computes ratios against the baseline of the same group', () => {
    const w = workload('get', 'btree', [['btree', 1000], ['epochdb', 900], ['lmdb', 500]]);
    expect(w.cases[1].rows[0].ratio).toBeCloseTo(0.9);
    expect(w.cases[2].rows[0].ratio).toBeCloseTo(0.5);
  });

  it('evaluates targets as met / not met / n/a', () => {
    const results = { meta: { n: 1_000_000 }, workloads: [workload('get', 'btree', [['btree', 1000], ['epochdb', 900], ['lmdb', 500]]), workload('scan100', 'btree', [['btree', 1000], ['epochdb', 500], ['lmdb', null]])] };
    const byId = Object.fromEntries(evaluateTargets(results).map((t: { id: string }) => [t.id, t]));
    expect(byId['get-lmdb'].status).toBe('met');          // 1.8x >= 1.5x
    expect(byId['get-btree'].status).toBe('met');         // 0.9x >= 0.8x
    expect(byId['scan-btree'].status).toBe('not met');    // 0.5x < 0.7x
    expect(byId['scan-lmdb'].status).toBe('n/a');         // lmdb unavailable
    expect(byId['load-memory'].status).toBe('n/a');       // not run
    expect(byId['get-lmdb'].figure).toContain('1.80x');
  });

  it('renders text and Markdown tables', () => {
    const table = workloadTable(workload('get', 'btree', [['btree', 2_000_000], ['epochdb', 1_500_000], ['level', null]]));
    expect(table.headers.slice(0, 3)).toEqual(['engine', 'ops/s', 'x btree']);
    expect(table.rows[1]).toEqual(['epochdb', '1.50M', '0.75x']);
    expect(table.rows[2][1]).toBe('unavailable');
    const md = renderMarkdown(table);
    expect(md.split('\n')[1]).toBe('|---|---:|---:|');
    expect(md).toContain('| btree | 2.00M | 1.00x (baseline) |');
    expect(renderText(table).split('\n')).toHaveLength(5);
    expect(fmtNumber(1234)).toBe('1234');
    expect(fmtNumber(0.5)).toBe('0.50');
  });
});
