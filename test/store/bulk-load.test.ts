// restore() builds the trees of a checkpoint bottom-up (sorted-btree's bulkLoad)
// when its keys come in order: the result must be exactly what loading the same
// entries one by one gives, and stay correct under the writes that follow.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, ValueCodec, type CheckpointChunk, type CheckpointEntry, type ChunkedEntries, type CommitOp, type CommitRecord } from '@epochdb/core';
import { CHECKPOINT_FORMAT_VERSION, decodeChunk, encodeChunk } from '@epochdb/persist';
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
    // A bulk-loaded store's head index fills lazily (its own test is below): its size is left out.
    stats: { ...store.stats(), valueCacheHits: 0, valueCacheMisses: 0, headIndexKeys: 0 },
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

describe('load() of a checkpoint and the records after it in one pass', () => {
  const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'ä', '😀');
  const opArbitrary = fc.oneof(
    fc.record({ kind: fc.constant('put' as const), key, n: fc.integer(), run: fc.option(fc.constantFrom('r1', 'r2'), { nil: undefined }), type: fc.option(fc.constantFrom('t1', 't2'), { nil: undefined }), ttl: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }) }),
    fc.record({ kind: fc.constantFrom('delete' as const, 'expire' as const), key }),
  );

  /** Checkpoint entries in chunks of `size` rows, as a checkpoint file reads back. */
  function chunked(entries: CheckpointEntry[], size: number): ChunkedEntries {
    const chunks: CheckpointChunk[] = [];
    for (let i = 0; i < entries.length; i += size) chunks.push(decodeChunk(encodeChunk(entries.slice(i, i + size)), CHECKPOINT_FORMAT_VERSION)!);
    return { [Symbol.iterator]: () => entries[Symbol.iterator](), chunks: () => chunks };
  }

  it('property: equals restore() plus applyRecord() of each record (puts, deletes and expiries of checkpoint keys and new ones), under later writes and expiry too', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(entryArbitrary, { selector: (e) => e.key, maxLength: 40 }),
        fc.array(fc.array(opArbitrary, { minLength: 1, maxLength: 5 }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 7 }),
        (raw, commits, chunkSize) => {
          const clock = new ManualClock(1000);
          const codec = new ValueCodec();
          const sorted = [...raw].sort((a, b) => (a.key < b.key ? -1 : 1));
          const entries: CheckpointEntry[] = sorted.map((e, i) => ({
            key: e.key,
            encoded: codec.prepare({ n: e.n, key: e.key }, 1 << 20, 'value').encoded,
            version: i + 1,
            run: e.run,
            type: e.type,
            expiresAt: e.ttl === undefined ? undefined : 1000 + e.ttl,
          }));
          const version = entries.length + 3;
          const records: CommitRecord[] = commits.map((ops, i) => {
            // A commit holds one op per key (its last write), as the commit path writes them.
            const byKey = new Map(ops.map((op) => [op.key, op]));
            return {
              version: version + 1 + i * 2,
              time: 1000,
              ops: [...byKey.values()].map((op): CommitOp =>
                op.kind === 'put'
                  ? { kind: 'put', key: op.key, encoded: codec.prepare([op.n], 1 << 20, 'value').encoded, ...(op.run === undefined ? {} : { run: op.run }), ...(op.type === undefined ? {} : { type: op.type }), ...(op.ttl === undefined ? {} : { expiresAt: 1000 + op.ttl }) }
                  : { kind: op.kind, key: op.key },
              ),
            };
          });
          const onePass = new MvccStore({ clock });
          onePass.load(chunked(entries, chunkSize), version, codec.table(), records);
          const stepwise = new MvccStore({ clock });
          stepwise.restore(entries, version, codec.table());
          for (const record of records) stepwise.applyRecord(record);
          onePass.checkInvariants();
          expect(onePass.version).toBe(stepwise.version);
          // Replaying record by record writes each superseded version into value memory and frees it (counted as
          // collected, its dead bytes left in a segment); one pass never writes them: only those counters differ.
          const same = (store: MvccStore): unknown => {
            const all = everything(store) as { stats: Record<string, unknown> };
            return { ...all, stats: { ...all.stats, collectedVersions: 0, valueMemoryBytes: 0, valueSegments: 0, valueUsedBytes: 0, valueUtilization: 0 } };
          };
          expect(same(onePass)).toEqual(same(stepwise));
          clock.advance(25);
          for (const store of [onePass, stepwise]) {
            void store.put('b', { later: true }, { run: 'r1' });
            void store.delete('c');
            store.reclaimExpired(1000);
            store.collectGarbage(1000);
            store.checkInvariants();
          }
          expect(same(onePass)).toEqual(same(stepwise));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('with a retention window the records replay one by one, so their history stays readable', () => {
    const codec = new ValueCodec();
    const entries: CheckpointEntry[] = [{ key: 'k', encoded: codec.prepare({ v: 0 }, 1 << 20, 'value').encoded, version: 1 }];
    const records: CommitRecord[] = [1, 2, 3].map((v) => ({ version: 1 + v, time: 0, ops: [{ kind: 'put', key: 'k', encoded: codec.prepare({ v }, 1 << 20, 'value').encoded }] }));
    const store = new MvccStore({ retainVersions: 10 });
    store.load(chunked(entries, 1), 1, codec.table(), records);
    expect(store.get('k')).toStrictEqual({ v: 3 });
    const past = store.snapshotAt(2);
    expect(past.get('k')).toStrictEqual({ v: 1 });
    past.release();
  });

  it('checkpoint rows out of key order (an older restore wrote such files) load key by key, the later row winning, with the records after them', () => {
    const codec = new ValueCodec();
    const value = (v: unknown): Uint8Array => codec.prepare(v, 1 << 20, 'value').encoded;
    const rows: CheckpointEntry[] = [
      { key: 'b', encoded: value('b1'), version: 1 },
      { key: 'c', encoded: value('c'), version: 2 },
      { key: 'a', encoded: value('a'), version: 3 },
      { key: 'b', encoded: value('b2'), version: 4 },
    ];
    const records: CommitRecord[] = [{ version: 5, time: 0, ops: [{ kind: 'put', key: 'd', encoded: value('d') }, { kind: 'delete', key: 'c' }] }];
    const store = new MvccStore();
    store.load(chunked(rows, 2), 4, codec.table(), records);
    store.checkInvariants();
    expect([...store.scan()].map((e) => [e.key, e.value])).toStrictEqual([['a', 'a'], ['b', 'b2'], ['d', 'd']]);
    expect(store.version).toBe(5);
    expect(store.stats().valueRecords, 'the records of the abandoned pass are freed').toBe(3);
  });
});

describe('the head index after a bulk load: partial, read-through, filled in slices', () => {
  it('property: reads and writes between fill slices see exactly what a store loaded key by key sees, and the fill completes it', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }).filter((k) => k.isWellFormed()), { minLength: 1, maxLength: 200 }),
        fc.array(fc.record({ key: fc.string({ minLength: 1, maxLength: 4 }).filter((k) => k.isWellFormed()), action: fc.constantFrom('get', 'put', 'delete', 'fill') }), { maxLength: 60 }),
        (raw, steps) => {
          const codec = new ValueCodec();
          const entries: CheckpointEntry[] = [...raw].sort().map((key, i) => ({ key, encoded: codec.prepare({ i }, 1 << 20, 'value').encoded, version: i + 1 }));
          const bulk = new MvccStore();
          bulk.restore(entries, entries.length, codec.table());
          expect(bulk.stats().headIndexKeys, 'nothing hashed by the load').toBe(0);
          const reference = new MvccStore();
          reference.restore([...entries].reverse(), entries.length, codec.table());
          for (const step of steps) {
            if (step.action === 'fill') bulk.fillHeadIndex(0);
            for (const store of [bulk, reference]) {
              if (step.action === 'put') void store.put(step.key, { put: step.key });
              if (step.action === 'delete') void store.delete(step.key);
            }
            expect(bulk.get(step.key)).toStrictEqual(reference.get(step.key));
            expect(bulk.getEntry(step.key)?.version).toBe(reference.getEntry(step.key)?.version);
            bulk.checkInvariants();
          }
          while (!bulk.fillHeadIndex(0));
          bulk.checkInvariants();
          expect(bulk.stats().headIndexKeys).toBe(bulk.stats().keys);
          for (const key of raw) expect(bulk.get(key)).toStrictEqual(reference.get(key));
        },
      ),
      { numRuns: 150 },
    );
  });
});
