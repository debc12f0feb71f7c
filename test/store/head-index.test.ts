// The head index is one Map until it holds its capacity, then spills into
// overflow maps by hash. With a tiny injected capacity the spill happens after
// a few keys: under any mix of sets and deletes (churn across the boundary,
// keys deleted from the first map and set again while others live in overflow)
// it must agree with a plain Map, and hold every key in exactly one place.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HEAD_MAP_CAPACITY, HeadIndex } from '../../packages/store/src/head-index.js';

type Step = { op: 'set'; key: string; id: number } | { op: 'delete'; key: string };

const keyArbitrary = fc.integer({ min: 0, max: 12 }).map((n) => `k${n}`);
const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), key: keyArbitrary, id: fc.integer({ min: 1, max: 1_000_000 }) }),
  fc.record({ op: fc.constant('delete' as const), key: keyArbitrary }),
);

function check(index: HeadIndex, model: Map<string, number>): void {
  expect(index.size).toBe(model.size);
  for (let n = 0; n <= 12; n++) expect(index.get(`k${n}`)).toBe(model.get(`k${n}`));
}

describe('HeadIndex', () => {
  it('property: with a small capacity (overflow maps in use) agrees with a Map under any sets and deletes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(stepArbitrary, { minLength: 20, maxLength: 300, size: 'max' }), (capacity, steps) => {
        const index = new HeadIndex(capacity);
        const model = new Map<string, number>();
        for (const step of steps) {
          if (step.op === 'set') {
            index.set(step.key, step.id);
            model.set(step.key, step.id);
          } else {
            index.delete(step.key);
            model.delete(step.key);
          }
          // size counts every map: a key held twice (first map and overflow) would show here.
          expect(index.size).toBe(model.size);
        }
        check(index, model);
      }),
      { numRuns: 300 },
    );
  });

  it('a key in an overflow map stays there when the first map gets room again (no second copy), and a delete removes it', () => {
    const index = new HeadIndex(2);
    index.set('a', 1);
    index.set('b', 2);
    index.set('c', 3); // first map full: c spills
    expect(index.maps).toBe(2);
    index.delete('a'); // room in the first map again
    index.set('c', 4); // must update c where it is
    expect(index.size).toBe(2);
    expect(index.get('c')).toBe(4);
    index.delete('c');
    expect(index.get('c')).toBeUndefined();
    expect(index.size).toBe(1);
    index.set('d', 5); // a new key takes the room in the first map
    expect(index.get('d')).toBe(5);
    expect(index.size).toBe(2);
  });

  it('keeps the first map within half of what V8 can address (so delete + set churn never makes it grow past 2^24)', () => {
    expect(HEAD_MAP_CAPACITY).toBeLessThanOrEqual(2 ** 23);
    const index = new HeadIndex(100);
    for (let i = 0; i < 1000; i++) index.set(`key${i}`, i + 1);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1000; i += 3) index.delete(`key${i}`);
      for (let i = 0; i < 1000; i += 3) index.set(`key${i}`, round * 1000 + i + 1);
    }
    expect(index.size).toBe(1000);
    expect(index.maps).toBeGreaterThan(2);
    for (let i = 0; i < 1000; i++) expect(index.get(`key${i}`)).toBe(i % 3 === 0 ? 4000 + i + 1 : i + 1);
  });
});
