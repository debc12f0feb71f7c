// The data every engine gets: N distinct `user:<9 digits>` keys in a shuffled order
// (a multiplicative permutation of 0..1e9-1, so key i is computed, not stored) and
// ~100-byte object values whose `id` names the key, so a read can be checked.
import { isDeepStrictEqual } from 'node:util';
import { prng as seededPrng } from '../../test/support/prng.mjs';

const MOD = 1_000_000_000;
const MUL = 738_219_941; // odd and not a multiple of 5: a bijection mod 1e9

/** The i-th key in insertion order (distinct for i < 1e9, in no sorted order). */
export function keyAt(i) {
  return `user:${String(Number((BigInt(i) * BigInt(MUL) + 12_345n) % BigInt(MOD))).padStart(9, '0')}`;
}

/** The value stored under keyAt(i) at generation `gen` (0 on load; overwrites bump it). */
export function valueAt(i, gen = 0) {
  return { id: i, name: `user ${i}`, email: `user${i}@example.com`, score: (i + gen) % 100, active: i % 2 === 0, gen, tags: ['a', 'b'] };
}

/** Keys 0..n-1 in insertion order. */
export function makeKeys(n) {
  const keys = new Array(n);
  for (let i = 0; i < n; i++) keys[i] = keyAt(i);
  return keys;
}

/**
 * A deterministic PRNG so every engine sees the same sequence: the tests' mulberry32
 * (test/support/prng.mjs, the one copy in the repository), with the benchmarks' seed.
 */
export function prng(seed = 0x9e3779b9) {
  return seededPrng(seed);
}

/** Indexes of the keys in sorted order, and each key's position in it: the oracle for scans. */
export function sortedOrder(keys) {
  const order = keys.map((_, i) => i).sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
  return order;
}

export class VerifyError extends Error {}

export function expectValue(actual, i, gen = 0, what = '') {
  const expected = valueAt(i, gen);
  if (!isDeepStrictEqual(plain(actual), expected)) {
    throw new VerifyError(`${what}: read ${JSON.stringify(actual)} for ${keyAt(i)}, expected ${JSON.stringify(expected)}`);
  }
}

/** Deep copy without prototypes/frozenness, for comparison. */
function plain(v) {
  return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

export function check(cond, message) {
  if (!cond) throw new VerifyError(message);
}

/**
 * The value of issue 11's scale benchmark stored under keyAt(i): 83 bytes as plain
 * msgpack for i >= 65,536 (smaller ids encode shorter). `gen` (0 on load) moves the
 * score, so an overwrite is a different value with the same id and name.
 */
export function scaleValueAt(i, gen = 0) {
  return { id: i, name: `user ${String(i).padStart(9, '0')}`, score: ((i + gen * 37) % 10_000) / 100 + 0.005, tags: ['a', 'b', 'c'], active: i % 2 === 0, created: 1_700_000_000_000 + i * 1000 };
}

/** Checks a value read under keyAt(i) against scaleValueAt(i, gen) (any gen when `gen` is undefined: id and name only). */
export function expectScaleValue(actual, i, gen, what = '') {
  const expected = scaleValueAt(i, gen ?? 0);
  const ok = actual !== undefined && actual !== null && actual.id === i && actual.name === expected.name && (gen === undefined || isDeepStrictEqual(plain(actual), expected));
  if (!ok) throw new VerifyError(`${what}: read ${JSON.stringify(actual)} for ${keyAt(i)}, expected ${gen === undefined ? `id ${i}` : JSON.stringify(expected)}`);
}
