// scale/load: load N keys (batches of 10,000), then bytes per entry after a forced full
// GC (heap used, off-heap, RSS; EpochDB's own stats().memoryBytes beside them) and the
// forced full GC pause itself.
import { fullGc, loadScale, memory, median, settle, verifyScale } from './scale-common.mjs';

export const title = 'load, bytes per entry, forced full GC';

export async function run({ n, create, engine, phase }) {
  phase('open');
  fullGc();
  const before = memory();
  const db = await create();
  const loadMs = await loadScale(db, n, phase);
  phase('settle');
  await settle(db, engine);
  phase('gc');
  fullGc();
  const after = memory();
  phase('gc pause');
  const pauses = [];
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    globalThis.gc();
    pauses.push(performance.now() - t0);
  }
  phase('verify');
  const verified = verifyScale(db.get, n, { what: 'after load' });
  const stats = engine === 'epochdb' ? db.db.stats() : undefined;
  phase('close');
  await db.close();
  const per = (field) => (after[field] - before[field]) / n;
  return {
    loadPerSec: (n / loadMs) * 1000,
    loadMs,
    heapPerEntry: per('heapUsed'),
    externalPerEntry: per('external'),
    arrayBuffersPerEntry: per('arrayBuffers'),
    offHeapPerEntry: per('offHeap'),
    heapOffHeapPerEntry: per('heapUsed') + per('offHeap'),
    rssPerEntry: per('rss'),
    heapUsed: after.heapUsed,
    external: after.external,
    arrayBuffers: after.arrayBuffers,
    rss: after.rss,
    heapLimit: after.heapLimit,
    gcPauseMs: median(pauses),
    gcPausesMs: pauses,
    verified,
    ...(stats ? { storeMemoryPerEntry: stats.memoryBytes / n, checkpoints: stats.checkpoints } : {}),
  };
}
