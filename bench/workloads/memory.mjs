// memory: bytes per entry after loading N keys, before and after a full GC, and the
// cost of retained versions.
import { keyAt, valueAt, loadN, verifySample, check, gc, expectValue } from './common.mjs';

export const title = 'memory: bytes per entry';
export const metric = 'bytes/entry (heap + external)';
export const better = 'lower';
export const baseline = 'btree';
export const notes = 'Measured in a fresh child with `--expose-gc`: `process.memoryUsage()` before creating the store and after loading N keys (keys and values generated on the fly, so only the store holds them), before and after a full GC. "overwrite all" rewrites every key once: plain EpochDB drops the old versions, `retainVersions` keeps them as history, and an open snapshot pins them. The RSS column is the growth of the resident set per entry.';

export const cases = () => [
  { name: 'btree', engine: 'btree' },
  { name: 'map', engine: 'map' },
  { name: 'epochdb', engine: 'epochdb' },
  { name: 'epochdb retainVersions', engine: 'epochdb', params: { retainVersions: 1e12, history: 'retain' } },
  { name: 'epochdb open snapshot', engine: 'epochdb', params: { history: 'snapshot' } },
];

const usage = () => { const m = process.memoryUsage(); return { heap: m.heapUsed + m.external, rss: m.rss }; };

export async function run({ n, create, engine, params }) {
  const { history, ...openParams } = params ?? {};
  gc();
  const before = usage();
  const db = await create(openParams);
  await loadN(db, n, 10_000);
  const loaded = usage();
  gc();
  const settled = usage();
  const per = (m) => ({ value: (m.heap - before.heap) / n, rss: (m.rss - before.rss) / n });
  const rows = [
    { group: 'after load', ...per(loaded) },
    { group: 'after load + GC', ...per(settled) },
  ];
  await verifySample(db, n, { what: 'memory' });
  let snap;
  if (history === 'snapshot') snap = db.db.snapshot();
  for (let i = 0; i < n; i += 10_000) {
    const keys = [];
    const values = [];
    for (let j = i; j < Math.min(n, i + 10_000); j++) { keys.push(keyAt(j)); values.push(valueAt(j, 1)); }
    await db.load(keys, values);
  }
  // Let EpochDB's incremental version GC run its course before measuring.
  if (engine === 'epochdb') for (let k = 0; k < 200 && db.db.stats().pendingGc > 0; k++) await new Promise((r) => setTimeout(r, 20));
  gc();
  const overwritten = usage();
  rows.push({ group: 'overwrite all + GC', ...per(overwritten), extra: engine === 'epochdb' ? { storedVersions: db.db.stats().storedVersions } : {} });
  await verifySample(db, n, { what: 'memory (after overwrite)', gen: 1 });
  if (snap) {
    for (let s = 0; s < 100; s++) expectValue(snap.get(keyAt(s)), s, 0, 'memory: snapshot');
    snap.release();
  }
  check(true, '');
  await db.close();
  return rows.map((r) => ({ group: r.group, value: r.value, extra: { 'RSS bytes/entry': r.rss, ...(r.extra ?? {}) } }));
}
