// Helpers shared by the workloads.
import { keyAt, valueAt, makeKeys, prng, expectValue, check } from '../lib/data.mjs';

export { keyAt, valueAt, makeKeys, prng, expectValue, check };

/** Loads keys 0..n-1 (values at generation 0) in chunks, so no array of N values stays alive. */
export async function loadN(db, n, chunk = 50_000) {
  for (let i = 0; i < n; i += chunk) {
    const end = Math.min(n, i + chunk);
    const keys = [];
    const values = [];
    for (let j = i; j < end; j++) { keys.push(keyAt(j)); values.push(valueAt(j)); }
    await db.load(keys, values);
  }
}

/** Reads `count` random keys of 0..n-1 back and compares the whole value. */
export async function verifySample(db, n, { count = 500, gen = 0, what = 'read back', seed = 7 } = {}) {
  const rnd = prng(seed);
  for (let s = 0; s < count; s++) {
    const i = Math.floor(rnd() * n);
    let v = db.get(keyAt(i));
    if (db.asyncReads) v = await v;
    expectValue(v, i, gen, what);
  }
  return count;
}

export const gc = () => { if (typeof globalThis.gc === 'function') { globalThis.gc(); globalThis.gc(); } };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
