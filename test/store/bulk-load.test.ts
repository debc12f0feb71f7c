// restore() builds the trees of a checkpoint bottom-up (sorted-btree's bulkLoad)
// when its keys come in order: the result must be exactly what loading the same
// entries one by one gives, and stay correct under the writes that follow.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, ValueCodec, type CheckpointEntry } from '@epochdb/core';
import { MvccStore } from '@epochdb/store';

const entryArbitrary = fc.record({
  key: fc.string({ minLength: 1, maxLength: 6 }).filter((k) => k.isWellFormed()),
  n: fc.integer(),
  run: fc.option(fc.constantFrom('r1', 'r2', 'r\u00ff'), { nil: undefined }),
  type: fc.option(fc.constantFrom('t1', 't2'), { nil: undefined }),
  ttl: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
});

function everything(store: MvccStore): unknown {
  return {
    scan: [...store.scan()],
    reverse: [...store.scan({ reverse: true, limit: 5 })],
    runs: ['r1', 'r2', 'r\u00ff'].map((r) => [...store.byRun(r)]),
    types: ['t1', 't2'].map((t) => [...store.byType(t)]),
    stats: { ...store.stats(), valueCacheHits: 0, valueCacheMisses: 0 },
  };
}

describe('restore() of a checkpoint in key order (bulk-built trees)', () => {
  it('property: equals the same entries loaded one by one, keeps every invariant, and stays equal under later writes and expiry', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(entryArbitrary, { selector: (e) => e.key, maxLength: 300 }),
        fc.array(fc.record({ key: fc.string({ minLength: 1, maxLength: 6 }).filter((k) => k.isWellFormed()), del: fc.boolean(), run: fc.option(fc.constantFrom('r1', 'r2'), { nil: undefined }) }), { maxLength: 30 }),
        (raw, later) => {
          const clock = new ManualClock(1000);
          const sorted = [...raw].sort((a, b) => (a.key < b.key ? -1 : 1));
          const codec = new ValueCodec();
          const entries: CheckpointEntry[] = sorted.map((e, i) => {
            const encoded = codec.prepare(i % 2 === 0 ? { n: e.n, key: e.key } : [e.n], 1 << 20, 'value').encoded;
            return { key: e.key, encoded, version: i + 1, run: e.run, type: e.type, expiresAt: e.ttl === undefined ? undefined : 1000 + e.ttl };
          });
          const version = entries.length + 5;
          const bulk = new MvccStore({ clock });
          bulk.restore(entries, version, codec.table());
          // One by one: the same entries shuffled (not ascending) take the key-by-key path.
          const incremental = new MvccStore({ clock });
          incremental.restore([...entries].reverse(), version, codec.table());
          bulk.checkInvariants();
          incremental.checkInvariants();
          expect(everything(bulk)).toEqual(everything(incremental));
          for (const w of later) {
            for (const store of [bulk, incremental]) {
              if (w.del) void store.delete(w.key);
              else void store.put(w.key, { later: true }, w.run === undefined ? {} : { run: w.run });
            }
          }
          clock.advance(25);
          for (const store of [bulk, incremental]) {
            store.reclaimExpired(1000);
            store.collectGarbage(1000);
            store.checkInvariants();
          }
          expect(everything(bulk)).toEqual(everything(incremental));
        },
      ),
      { numRuns: 150 },
    );
  });
});
