// The scale chart (vega-lite): heap+external bytes per entry and event-loop delay p99
// against N, a line per engine, log-scaled N. Cases that died are drawn as crosses at
// the bottom of their panel, so a missing line says why it is missing.
import { SCALE_ENGINES, figure, fmtN, metricById } from './scale-report.mjs';

const PANELS = [
  { metric: 'heapOffHeap', title: 'heap + off-heap, bytes/entry (after load + full GC)', target: 200 },
  { metric: 'delayP99', title: 'event-loop delay p99, ms (overwrite churn)', target: 10 },
];

/** The N axis: a little wider than the sizes measured (log scale). */
const domainOf = (sizes) => [Math.min(...sizes) / 1.5, Math.max(...sizes) * 1.5];

/** The data points: { panel, engine, n, value }; for cases without a figure, { panel, engine, n, trouble }; per panel the target as a line from end 'low' to 'high' of the N axis. */
export function scaleChartValues(results) {
  const values = [];
  const [low, high] = domainOf(results.meta.sizes);
  for (const p of PANELS) {
    const metric = metricById(p.metric);
    values.push({ panel: p.title, engine: 'target', end: 'low', n: low, value: p.target }, { panel: p.title, engine: 'target', end: 'high', n: high, value: p.target });
    for (const engine of Object.keys(SCALE_ENGINES)) {
      for (const n of results.meta.sizes) {
        const f = figure(results, metric, engine, n);
        if (!f) continue;
        values.push({ panel: p.title, engine: SCALE_ENGINES[engine].label, n, nLabel: fmtN(n), ...(f.trouble ? { trouble: f.trouble, value: 0 } : { value: f.value }) });
      }
    }
  }
  return values;
}

/** The vega-lite spec of the chart. */
export function scaleChartSpec(results) {
  const values = scaleChartValues(results);
  const sizes = results.meta.sizes;
  const panel = (p) => ({
    title: p.title,
    width: 360,
    height: 240,
    encoding: {
      x: { field: 'n', type: 'quantitative', scale: { type: 'log', domain: domainOf(sizes) }, axis: { values: sizes, labelExpr: "datum.value >= 1e6 ? format(datum.value / 1e6, '~g') + 'M' : format(datum.value / 1e3, '~g') + 'k'" }, title: 'keys (N)' },
    },
    layer: [
      {
        transform: [{ filter: { field: 'panel', equal: p.title } }, { filter: "datum.trouble == null && datum.engine != 'target'" }],
        mark: { type: 'line', point: true },
        encoding: {
          y: { field: 'value', type: 'quantitative', scale: { zero: true }, title: null },
          color: { field: 'engine', type: 'nominal', title: 'engine', scale: { scheme: 'tableau10' } },
          tooltip: [{ field: 'engine' }, { field: 'nLabel', title: 'N' }, { field: 'value', format: '.1f' }],
        },
      },
      {
        transform: [{ filter: { field: 'panel', equal: p.title } }, { filter: "datum.engine == 'target'" }],
        mark: { type: 'line', strokeDash: [4, 4], color: '#888' },
        encoding: { y: { field: 'value', type: 'quantitative' } },
      },
      {
        transform: [{ filter: { field: 'panel', equal: p.title } }, { filter: "datum.engine == 'target' && datum.end == 'low'" }],
        mark: { type: 'text', align: 'left', baseline: 'bottom', dx: 4, dy: -2, color: '#666', fontSize: 10 },
        encoding: { y: { field: 'value', type: 'quantitative' }, text: { value: `target ≤ ${p.target}` } },
      },
      {
        transform: [{ filter: { field: 'panel', equal: p.title } }, { filter: 'datum.trouble != null' }],
        mark: { type: 'point', shape: 'cross', size: 120, filled: true },
        encoding: {
          y: { field: 'value', type: 'quantitative' },
          color: { field: 'engine', type: 'nominal' },
          tooltip: [{ field: 'engine' }, { field: 'nLabel', title: 'N' }, { field: 'trouble' }],
        },
      },
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `EpochDB at scale (${results.meta.date.slice(0, 10)})`, subtitle: 'a cross at 0: that case died or did not finish; dashed: the issue 11 target', anchor: 'start', offset: 16 },
    data: { values },
    hconcat: PANELS.map(panel),
    spacing: 60,
    bounds: 'flush',
    config: { font: 'DejaVu Sans, sans-serif', legend: { labelLimit: 320 } },
  };
}
