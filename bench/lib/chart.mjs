// The chart of every row's ratio against its workload's baseline, drawn by vega-lite
// (compiled to a vega spec and rendered to SVG headlessly), plus a PNG via resvg when
// that optional dependency loads.
import * as vl from 'vega-lite';
import * as vega from 'vega';
import { fmtRatio } from './report.mjs';

export function chartSpec(results) {
  const values = [];
  for (const w of results.workloads) {
    if (w.skipped) continue;
    for (const c of w.cases) {
      if (c.status !== 'ok' || c.name === w.baseline) continue;
      for (const r of c.rows) {
        if (!r.ratio || !Number.isFinite(r.ratio)) continue;
        values.push({
          workload: `${w.id} (vs ${w.baseline}${w.better === 'lower' ? '; lower is better' : ''})`,
          row: r.group ? `${c.name} @ ${r.group}` : c.name,
          engine: c.engine,
          ratio: r.ratio,
          label: fmtRatio(r.ratio),
        });
      }
    }
  }
  const ratios = values.map((v) => v.ratio);
  const lo = 10 ** Math.floor(Math.log10(Math.min(0.1, ...ratios)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(10, ...ratios)));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `EpochDB side by side: ratio to each workload's baseline (N = ${results.meta.n.toLocaleString('en-US')}${results.meta.quick ? ', quick run' : ''})`, anchor: 'start' },
    data: { values },
    facet: { row: { field: 'workload', type: 'nominal', sort: results.workloads.map((w) => w.id), header: { labelAngle: 0, labelOrient: 'top', labelAnchor: 'start', labelFontWeight: 'bold', labelFontSize: 12, title: null } } },
    spec: {
      width: 520,
      layer: [
        {
          mark: { type: 'bar', height: { band: 0.8 } },
          encoding: {
            y: { field: 'row', type: 'nominal', sort: null, title: null, axis: { labelLimit: 340 } },
            x: { field: 'ratio', type: 'quantitative', scale: { type: 'log', domain: [lo, hi] }, title: 'x baseline (log scale)' },
            x2: { datum: 1 },
            color: { field: 'engine', type: 'nominal', title: 'engine', scale: { scheme: 'tableau10' } },
          },
        },
        {
          mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 },
          encoding: {
            y: { field: 'row', type: 'nominal', sort: null },
            x: { field: 'ratio', type: 'quantitative' },
            text: { field: 'label' },
          },
        },
        { mark: { type: 'rule', color: '#333' }, encoding: { x: { datum: 1 } } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
    config: { font: 'DejaVu Sans, sans-serif', view: { stroke: null } },
  };
}

export async function renderChart(results) {
  return renderVegaLite(chartSpec(results));
}

/** Renders a vega-lite spec headlessly to SVG, and to PNG when @resvg/resvg-js loads. */
export async function renderVegaLite(vlSpec) {
  const spec = vl.compile(vlSpec, { logger: vega.logger(vega.None) }).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  let png;
  try {
    const { Resvg } = await import('@resvg/resvg-js');
    png = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 1.5 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
  } catch {
    png = undefined; // optional: the SVG is the chart
  }
  return { svg, png };
}
