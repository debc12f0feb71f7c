// batch() validates plain-object ops without zod and inserts a commit's keys
// into the tree in key order. Both are shortcuts: every batch must end exactly
// as the schema path and key-by-key insertion would leave it (the same error
// code and message, all or nothing, the same entries, versions and stats).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '@epochdb/core';
import { MvccStore } from '@epochdb/store';

/** A prototype that is not `Object.prototype` (and has no enumerable keys): such ops skip the fast path. */
const SCHEMA_ONLY = Object.create(Object.prototype) as object;
const viaSchema = (op: unknown): unknown =>
  typeof op === 'object' && op !== null && !Array.isArray(op) && Object.getPrototypeOf(op) === Object.prototype ? Object.assign(Object.create(SCHEMA_ONLY) as object, op) : op;

function everything(store: MvccStore): unknown {
  store.checkInvariants();
  return {
    version: store.version,
    scan: [...store.scan()],
    runs: ['r1', 'r2'].map((r) => [...store.byRun(r)]),
    types: ['t1'].map((t) => [...store.byType(t)]),
    stats: { ...store.stats(), valueCacheHits: 0, valueCacheMisses: 0 },
  };
}

function withoutStructures(state: unknown): unknown {
  const { stats, ...rest } = state as { stats: Record<string, unknown> };
  const { structures: _structures, ...others } = stats;
  return { ...rest, stats: others };
}

async function outcome(store: MvccStore, ops: unknown, options?: unknown): Promise<unknown> {
  try {
    return { version: await store.batch(ops as never, options as never) };
  } catch (error) {
    return { code: (error as { code?: string }).code, name: (error as Error).name, message: (error as Error).message };
  }
}

const keyArb = fc.oneof({ weight: 8, arbitrary: fc.constantFrom('a', 'b', 'c', 'user:1', 'user:2', 'zz', '\u00e9') }, { weight: 1, arbitrary: fc.constantFrom<unknown>('', 5, null, 'lone\ud800', 'k'.repeat(2000)) });
const valueArb = fc.oneof(
  { weight: 8, arbitrary: fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.record({ id: fc.integer(), tags: fc.array(fc.string({ maxLength: 2 }), { maxLength: 2 }) })) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, -0, { a: -0 }, () => 1, new Map([[1, 2]]), new Date(5), 'lone\udc00', { ['__proto__']: 1 }) },
);
const optional = <T,>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 3 });
const tagArb = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('r1', 'r2', 't1') }, { weight: 1, arbitrary: fc.constantFrom<unknown>('', 'a\u0000b', 'x'.repeat(257), '\u{1F600}'.repeat(200), 7, 'lone\ud800') });
// Expiry times stay below 10^16 ms: the TTL index pads them to 16 digits (a ttl of 2^60 breaks its invariant on every path; left to the TTL index's owner).
const timeArb = fc.constantFrom<unknown>(1, 50, 0, -1, 1.5, NaN, Infinity, '5', null, 1e15);
const versionArb = fc.constantFrom<unknown>(0, 1, 2, 3, -1, 1.5, NaN, Infinity, '1', null, 2 ** 60);

/** One op as a user might write it: mostly valid, sometimes with a field the schema refuses or a key or value the store refuses. */
const opArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('put'), key: keyArb, value: valueArb, run: optional(tagArb), type: optional(tagArb), ttl: optional(timeArb), expiresAt: optional(timeArb), ifVersion: optional(versionArb) }, { requiredKeys: ['op', 'key', 'value'] }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete'), key: keyArb, ifVersion: optional(versionArb) }, { requiredKeys: ['op', 'key'] }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      { op: 'put', key: 'a' },
      { op: 'delete' },
      { op: 'put', key: 'a', value: 1, sync: 'none' },
      { op: 'put', key: 'a', value: 1, extra: true },
      { op: 'nope', key: 'a' },
      { op: 'put', key: 'a', value: undefined },
      { op: 'delete', key: 'a', value: 1 },
      null,
      'put',
      [],
    ),
  },
);

describe('batch(): the plain-object path and key-ordered tree inserts', () => {
  it('property: any batch ends as it does through the schema, and leaves the store unchanged when refused', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 8 }), fc.boolean(), async (batches, eager) => {
        const clock = new ManualClock(1000);
        const fast = new MvccStore({ clock, retainVersions: eager ? 0 : 5 });
        const schema = new MvccStore({ clock, retainVersions: eager ? 0 : 5 });
        for (const ops of batches) {
          const before = everything(fast);
          const a = await outcome(fast, ops);
          const b = await outcome(schema, ops.map(viaSchema));
          expect(a).toEqual(b);
          // Refused: nothing changes but the structure table (values are encoded, minting shapes, before the commit is checked; as before these paths).
          if ('code' in (a as object)) expect(withoutStructures(everything(fast))).toEqual(withoutStructures(before));
          expect(everything(fast)).toEqual(everything(schema));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('duplicate keys: the last op wins, in one version', async () => {
    const store = new MvccStore({ clock: new ManualClock(0) });
    const version = await store.batch([
      { op: 'put', key: 'b', value: 1 },
      { op: 'put', key: 'a', value: 2 },
      { op: 'put', key: 'b', value: 3 },
      { op: 'delete', key: 'a' },
      { op: 'put', key: 'c', value: 4, run: 'r1' },
      { op: 'put', key: 'c', value: 5 },
    ]);
    expect([...store.scan()].map((e) => [e.key, e.value, e.version])).toEqual([
      ['b', 3, version],
      ['c', 5, version],
    ]);
    expect([...store.byRun('r1')]).toEqual([]);
    store.checkInvariants();
  });

  it('an unsorted batch of puts and deletes over existing keys (empty tree, then not) matches key-by-key writes', async () => {
    const clock = new ManualClock(0);
    const batched = new MvccStore({ clock });
    const single = new MvccStore({ clock });
    const keys = Array.from({ length: 500 }, (_, i) => `k${(i * 7919) % 1000}`);
    await batched.batch(keys.map((key, i) => ({ op: 'put' as const, key, value: { i } })));
    for (const [i, key] of keys.entries()) await single.put(key, { i });
    const second = keys.map((key, i) => (i % 3 === 0 ? { op: 'delete' as const, key } : { op: 'put' as const, key: `${key}x`, value: i }));
    await batched.batch(second.reverse());
    for (const op of second) await (op.op === 'delete' ? single.delete(op.key) : single.put(op.key, op.value));
    expect([...batched.scan()].map((e) => [e.key, e.value])).toEqual([...single.scan()].map((e) => [e.key, e.value]));
    expect(batched.stats().liveKeys).toBe(single.stats().liveKeys);
    batched.checkInvariants();
  });

  it('a value that fails validation in the middle refuses the whole batch, naming the op', async () => {
    expect.assertions(4);
    const store = new MvccStore({ clock: new ManualClock(0) });
    await store.put('keep', 1);
    const ops = [
      { op: 'put' as const, key: 'a', value: 1 },
      { op: 'delete' as const, key: 'keep' },
      { op: 'put' as const, key: 'b', value: { bad: () => 1 } },
      { op: 'put' as const, key: 'c', value: 3 },
    ];
    try {
      await store.batch(ops);
    } catch (error) {
      expect((error as { code?: string }).code).toBe('INVALID_VALUE');
      expect((error as Error).message).toContain('batch(): ops[2]: value.bad is a function');
    }
    expect([...store.scan()].map((e) => [e.key, e.value])).toEqual([['keep', 1]]);
    expect(store.version).toBe(1);
  });
});
