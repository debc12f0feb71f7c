// Pure helpers: ratios against the baseline, target evaluation, number formatting and
// table rendering (console and Markdown). No I/O here.

export function fmtNumber(x) {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  if (typeof x !== 'number') return String(x);
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(a >= 1e8 ? 0 : 2)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(2);
}

export const fmtRatio = (r) => (r === undefined || !Number.isFinite(r) ? '–' : `${r >= 10 ? r.toFixed(1) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}x`);

/** Adds `ratio` (value / the baseline's value for the same group) to every row. */
export function withRatios(workload) {
  const base = workload.cases.find((c) => c.name === workload.baseline);
  for (const c of workload.cases) {
    if (c.status !== 'ok') continue;
    for (const row of c.rows) {
      const b = base?.status === 'ok' ? base.rows.find((r) => r.group === row.group) : undefined;
      row.ratio = b && b.value ? row.value / b.value : undefined;
    }
  }
  return workload;
}

/** Table model of one workload: headers + string cells. */
export function workloadTable(workload) {
  const extras = [];
  for (const c of workload.cases) for (const r of c.rows ?? []) for (const k of Object.keys(r.extra ?? {})) if (!extras.includes(k)) extras.push(k);
  const hasGroup = workload.cases.some((c) => (c.rows ?? []).some((r) => r.group !== undefined));
  const hasLatency = workload.cases.some((c) => (c.rows ?? []).some((r) => r.p50 !== undefined));
  const headers = ['engine', ...(hasGroup ? ['at'] : []), workload.metric, `x ${workload.baseline}`, ...(hasLatency ? ['p50 ms', 'p99 ms'] : []), ...extras];
  const rows = [];
  const groups = hasGroup ? [...new Set(workload.cases.flatMap((c) => (c.rows ?? []).map((r) => r.group)))] : [undefined];
  for (const g of groups) {
    for (const c of workload.cases) {
      if (c.status !== 'ok') {
        if (g === groups[0]) rows.push([c.name, ...(hasGroup ? [''] : []), c.status, '', ...(hasLatency ? ['', ''] : []), ...extras.map(() => '')]);
        continue;
      }
      for (const r of c.rows.filter((x) => x.group === g)) {
        rows.push([
          c.name,
          ...(hasGroup ? [g] : []),
          fmtNumber(r.value),
          c.name === workload.baseline ? '1.00x (baseline)' : fmtRatio(r.ratio),
          ...(hasLatency ? [fmtNumber(r.p50), fmtNumber(r.p99)] : []),
          ...extras.map((k) => fmtNumber(r.extra?.[k])),
        ]);
      }
    }
  }
  return { headers, rows };
}

export function renderText({ headers, rows, align }) {
  const widths = headers.map((h, i) => Math.max(String(h).length, ...rows.map((r) => String(r[i] ?? '').length)));
  const left = (i) => (align ? align[i] === 'l' : i === 0);
  const line = (cells) => cells.map((c, i) => (left(i) ? String(c ?? '').padEnd(widths[i]) : String(c ?? '').padStart(widths[i]))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const mdCell = (c) => String(c ?? '').replaceAll('|', '\\|');
export function renderMarkdown({ headers, rows, align }) {
  const left = (i) => (align ? align[i] === 'l' : i === 0);
  return [
    `| ${headers.map(mdCell).join(' | ')} |`,
    `|${headers.map((_, i) => (left(i) ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
  ].join('\n');
}

/**
 * The issue's targets. Each compares EpochDB's row with another row of the same run
 * (`ratio`), or checks an absolute figure (`abs`).
 */
export const TARGETS = [
  { id: 'get-lmdb', text: 'get ≥ 1.5x lmdb', workload: 'get', a: ['epochdb'], b: ['lmdb'], op: '>=', limit: 1.5 },
  { id: 'get-btree', text: 'get ≥ 0.8x raw btree', workload: 'get', a: ['epochdb'], b: ['btree'], op: '>=', limit: 0.8 },
  { id: 'scan-lmdb', text: 'scan100 ≥ 5x lmdb', workload: 'scan100', a: ['epochdb'], b: ['lmdb'], op: '>=', limit: 5 },
  { id: 'scan-btree', text: 'scan100 ≥ 0.7x raw btree', workload: 'scan100', a: ['epochdb'], b: ['btree'], op: '>=', limit: 0.7 },
  { id: 'load-memory', text: 'load (memory-only) ≥ 0.6x raw btree', workload: 'load', a: ['epochdb (memory)'], b: ['btree'], op: '>=', limit: 0.6 },
  { id: 'load-always', text: "load (persistent, sync 'always', batched) ≥ lmdb", workload: 'load', a: ["epochdb sync='always'"], b: ['lmdb'], op: '>=', limit: 1 },
  { id: 'snapshot-abs', text: 'snapshot open < 5 µs at the largest size (1M keys in the full run)', workload: 'snapshot', a: ['epochdb', 'LARGEST'], op: '<', abs: 5, unit: 'µs' },
  { id: 'snapshot-flat', text: 'snapshot open at the largest size within 2x of 1k keys', workload: 'snapshot', a: ['epochdb', 'LARGEST'], b: ['epochdb', '1k keys'], op: '<=', limit: 2 },
  { id: 'durable-seq', text: "durable-seq (sync 'always') ≥ 0.85x rawfs", workload: 'durable-seq', a: ["epochdb sync='always'"], b: ['rawfs'], op: '>=', limit: 0.85 },
  { id: 'durable-conc-lmdb', text: "durable-concurrent (sync 'always') ≥ lmdb", workload: 'durable-concurrent', a: ["epochdb sync='always'"], b: ['lmdb'], op: '>=', limit: 1 },
  { id: 'durable-conc-raw', text: "durable-concurrent (sync 'always') ≥ 0.5x rawfs", workload: 'durable-concurrent', a: ["epochdb sync='always'"], b: ['rawfs'], op: '>=', limit: 0.5 },
  { id: 'memory', text: 'memory ≤ 1.5x raw btree bytes/entry (no retained history, after GC)', workload: 'memory', a: ['epochdb', 'after load + GC'], b: ['btree', 'after load + GC'], op: '<=', limit: 1.5 },
  { id: 'reopen-ckpt', text: 'reopen (fresh checkpoint) within 2x of msgpack-decode (target stated at 1M keys)', workload: 'reopen', a: ['epochdb (checkpoint)'], b: ['msgpack-decode'], op: '<=', limit: 2 },
  { id: 'reopen-wal', text: 'reopen (long WAL tail) within 2x of msgpack-decode (target stated at 1M keys)', workload: 'reopen', a: ['epochdb (WAL tail)'], b: ['msgpack-decode'], op: '<=', limit: 2 },
];

function rowOf(results, workloadId, [caseName, group]) {
  const w = results.workloads.find((x) => x.id === workloadId);
  if (!w) return { missing: `${workloadId} not run` };
  const c = w.cases.find((x) => x.name === caseName);
  if (!c) return { missing: `${caseName} not run` };
  if (c.status !== 'ok') return { missing: `${caseName}: ${c.status}` };
  if (group === 'LARGEST') group = c.rows.filter((r) => r.group?.endsWith(' keys')).at(-1)?.group;
  const row = c.rows.find((r) => group === undefined || r.group === group);
  return row ? { row, group } : { missing: `${caseName} ${group ?? ''}: no row` };
}

const compare = (x, op, y) => (op === '>=' ? x >= y : op === '<=' ? x <= y : op === '<' ? x < y : x > y);

/** [{ id, text, status: 'met' | 'not met' | 'n/a', figure }] */
export function evaluateTargets(results) {
  const n = results.meta?.n;
  return TARGETS.map((t) => {
    const a = rowOf(results, t.workload, t.a);
    if (a.missing) return { id: t.id, text: t.text, status: 'n/a', figure: a.missing };
    const suffix = t.workload === 'reopen' && n !== undefined && n !== 1_000_000 ? ` (measured at ${fmtNumber(n)} keys)` : '';
    if (t.abs !== undefined) {
      const met = compare(a.row.value, t.op, t.abs);
      return { id: t.id, text: t.text, status: met ? 'met' : 'not met', figure: `${fmtNumber(a.row.value)} ${t.unit} at ${a.group}` };
    }
    const b = rowOf(results, t.workload, t.b);
    if (b.missing) return { id: t.id, text: t.text, status: 'n/a', figure: b.missing };
    const ratio = a.row.value / b.row.value;
    const met = compare(ratio, t.op, t.limit);
    const what = (x, r) => `${x[0]}${r.group && r.group !== undefined ? ` @ ${r.group}` : ''} ${fmtNumber(r.row.value)}`;
    return { id: t.id, text: t.text, status: met ? 'met' : 'not met', ratio, figure: `${fmtRatio(ratio)} (${what(t.a, a)} vs ${what(t.b, b)})${suffix}` };
  });
}
