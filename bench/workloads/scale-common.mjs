// Helpers shared by the scale workloads (bench/scale.mjs): issue 11's data loaded in
// batches of 10,000 with progress phases, memory figures, samples of random keys.
import { getHeapStatistics } from 'node:v8';
import { keyAt, prng, scaleValueAt, expectScaleValue, check } from '../lib/data.mjs';

export { keyAt, prng, scaleValueAt, expectScaleValue, check };

/** Puts per load batch (issue 11: "loaded with db.batch in batches of 10,000"). */
export const LOAD_BATCH = 10_000;

/** Distinct random keys read by get, scan100 and the churn's checks (a sample, so the harness holds no N-sized array). */
export const SAMPLE = 65_536;

/** A full, forced garbage collection (twice: the second one frees what the first one's finalizers released). */
export function fullGc() {
  if (typeof globalThis.gc !== 'function') throw new Error('run the scale workloads with --expose-gc');
  globalThis.gc();
  globalThis.gc();
}

/**
 * process.memoryUsage() plus V8's heap limit and `offHeap`: memory outside the V8 heap
 * that this thread allocated. In Node 20 an ArrayBuffer (and a Buffer) counts in both
 * `external` and `arrayBuffers`, a SharedArrayBuffer only in `arrayBuffers`, so their
 * sum would count ArrayBuffers twice; the larger of the two is exact for ArrayBuffer
 * segments and misses only non-buffer externals beside SharedArrayBuffer segments.
 * (Buffers allocated by worker threads show in neither: only in RSS.)
 */
export function memory() {
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, offHeap: Math.max(m.external, m.arrayBuffers), rss: m.rss, heapLimit: getHeapStatistics().heap_size_limit };
}

/**
 * Loads keys 0..n-1 (values at generation 0) in shuffled order, in batches of
 * {@link LOAD_BATCH}, generating each batch outside the timing: returns the time spent
 * in the engine's load calls only. Reports progress as a phase about every 10%.
 */
export async function loadScale(db, n, phase) {
  let engineMs = 0;
  const step = Math.max(LOAD_BATCH, Math.ceil(n / 10 / LOAD_BATCH) * LOAD_BATCH);
  phase(`load 0/${n}`);
  for (let i = 0; i < n; i += LOAD_BATCH) {
    const end = Math.min(n, i + LOAD_BATCH);
    const keys = new Array(end - i);
    const values = new Array(end - i);
    for (let j = i; j < end; j++) { keys[j - i] = keyAt(j); values[j - i] = scaleValueAt(j); }
    const t0 = performance.now();
    await db.load(keys, values);
    engineMs += performance.now() - t0;
    if (end % step === 0 && end < n) phase(`load ${end}/${n}`);
  }
  return engineMs;
}

/** `count` random indexes of 0..n-1 and their keys (seeded: every engine reads the same keys). */
export function sampleKeys(n, seed, count = Math.min(n, SAMPLE)) {
  const rnd = prng(seed);
  const index = new Int32Array(count);
  const keys = new Array(count);
  for (let s = 0; s < count; s++) { index[s] = Math.floor(rnd() * n); keys[s] = keyAt(index[s]); }
  return { index, keys };
}

/** Reads `count` random keys and checks each value: generation `gen`, or (`anyGen`) only its id and name. */
export function verifyScale(read, n, { seed = 7, count = 500, gen = 0, anyGen = false, what = 'read back' } = {}) {
  const rnd = prng(seed);
  for (let s = 0; s < count; s++) {
    const i = Math.floor(rnd() * n);
    expectScaleValue(read(keyAt(i)), i, anyGen ? undefined : gen, what);
  }
  return count;
}

/** Waits (at most `limitMs`) until an EpochDB database has no checkpoint in flight and no version GC queued. */
export async function settle(adapter, engine, limitMs = 120_000) {
  if (engine !== 'epochdb') return;
  const until = performance.now() + limitMs;
  for (;;) {
    const s = adapter.db.stats();
    // Written so that a stats() without these fields does not wait.
    if ((!s.checkpointing && !(s.pendingGc > 0)) || performance.now() > until) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
