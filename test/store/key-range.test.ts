import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IN_RANGE, KeyRange, PAST_END, SKIP } from '../../packages/store/src/key-range.js';
import { createStringTree, prefixEnd, type ScanOptions } from '@epochdb/store';

/** The oracle: filter a sorted array, then order and cut it. */
function expected(keys: readonly string[], options: ScanOptions): string[] {
  const range = new KeyRange(options);
  const inRange = [...new Set(keys)].sort().filter((k) => range.includes(k));
  if (options.reverse === true) inRange.reverse();
  return inRange.slice(0, options.limit ?? Infinity);
}

/** Walks a tree the way the read view does: cursor + classify, within `partition`. */
function walk(keys: readonly string[], options: ScanOptions, partition: string, others: readonly string[]): string[] {
  const tree = createStringTree<true>();
  for (const k of keys) tree.set(partition + k, true);
  // Neighbouring partitions must never leak into the results.
  for (const k of others) {
    tree.set(`a\u0000${k}`, true);
    tree.set(`z\u0000${k}`, true);
  }
  const range = new KeyRange(options);
  const out: string[] = [];
  for (const [composite] of range.cursor(tree, partition, [])) {
    if (out.length >= range.limit) break;
    const verdict = range.classify(composite, partition);
    if (verdict === PAST_END) break;
    if (verdict === SKIP) continue;
    expect(verdict).toBe(IN_RANGE);
    out.push(composite.slice(partition.length));
  }
  return out;
}

const alphabet = fc.constantFrom('', 'a', 'b', 'ab', 'b\uffff', '\uffff', '\u0000', 'abc', 'ba');
const key = fc.array(fc.constantFrom('a', 'b', 'c', '\uffff', '\u0000', 'é'), { minLength: 1, maxLength: 4 }).map((cs) => cs.join(''));
const options: fc.Arbitrary<ScanOptions> = fc.record(
  {
    prefix: alphabet,
    gt: key,
    gte: key,
    lt: key,
    lte: key,
    reverse: fc.boolean(),
    limit: fc.nat(6),
  },
  { requiredKeys: [] },
).filter((o) => !(o.gt !== undefined && o.gte !== undefined) && !(o.lt !== undefined && o.lte !== undefined));

describe('KeyRange', () => {
  it('walks exactly the oracle range, in order, in the primary tree and inside an index partition', () => {
    fc.assert(
      fc.property(fc.array(key, { maxLength: 30 }), options, fc.array(key, { maxLength: 5 }), (keys, opts, others) => {
        expect(walk(keys, opts, '', [])).toEqual(expected(keys, opts));
        expect(walk(keys, opts, 'm\u0000', others)).toEqual(expected(keys, opts));
      }),
      { numRuns: 400 },
    );
  });

  it('regression: a reverse prefix scan skips keys sorting just past the prefix block', () => {
    // 'ac' is prefixEnd('ab'); 'ab\uffff' is the last key inside the block.
    expect(walk(['aa', 'ab', 'ab\uffff', 'ac', 'ad'], { prefix: 'ab', reverse: true }, '', [])).toEqual(['ab\uffff', 'ab']);
  });

  it('prefixEnd is the smallest string above every string with the prefix', () => {
    expect(prefixEnd('ab')).toBe('ac');
    expect(prefixEnd('a\uffff')).toBe('b');
    expect(prefixEnd('\uffff\uffff')).toBeUndefined();
    expect(prefixEnd('')).toBeUndefined();
    fc.assert(
      fc.property(key, key, (prefix, suffix) => {
        const end = prefixEnd(prefix);
        if (end !== undefined) expect(prefix + suffix < end).toBe(true);
      }),
    );
  });

  it('withoutLimit keeps the bounds and drops only the limit', () => {
    const range = new KeyRange({ gte: 'b', lt: 'd', reverse: true, limit: 1 });
    const unlimited = range.withoutLimit();
    expect(unlimited.limit).toBe(Infinity);
    expect([unlimited.low, unlimited.high, unlimited.reverse]).toEqual(['b', 'd', true]);
    expect(unlimited.withoutLimit()).toBe(unlimited);
  });
});

describe('KeyRange.classify', () => {
  it('regression: a reverse index scan with an upper bound ends at the neighbouring partition instead of skipping through it', () => {
    // Found in review: the bound was checked on a key sliced as if it belonged to the
    // partition, so keys of the next-lower tag were SKIPped one by one (O(n) per query).
    const range = new KeyRange({ reverse: true, lt: 'c' });
    expect(range.classify('a\u0000zzz', 'b\u0000')).toBe(PAST_END);
    expect(range.classify('b\u0000bb', 'b\u0000')).toBe(IN_RANGE);
    expect(range.classify('b\u0000d', 'b\u0000')).toBe(SKIP);
  });
});
