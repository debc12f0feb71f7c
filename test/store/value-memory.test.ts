import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, encodeValue, gatherRanges as copyRecords } from '@epochdb/core';
import { MvccStore, RECORD_HEADER_BYTES, ValueMemory, recordSize } from '@epochdb/store';

/** One step against value memory and its model. */
type MemoryStep =
  | { readonly kind: 'append'; readonly length: number; readonly fill: number }
  | { readonly kind: 'free'; readonly pick: number }
  | { readonly kind: 'setPrev'; readonly pick: number; readonly to: number }
  | { readonly kind: 'compact'; readonly freeDuringCopy: number; readonly relinkDuringCopy: number };

const memoryStep: fc.Arbitrary<MemoryStep> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), length: fc.integer({ min: 0, max: 700 }), fill: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('setPrev' as const), pick: fc.nat(), to: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), freeDuringCopy: fc.nat({ max: 5 }), relinkDuringCopy: fc.nat({ max: 5 }) }) },
);

describe('value memory', () => {
  it('property: every live record reads back its bytes, version, tags and link through appends, frees and compactions (records freed or relinked while a copy is under way included); the accounts match', () => {
    fc.assert(
      fc.property(fc.array(memoryStep, { maxLength: 150 }), (steps) => {
        const memory = new ValueMemory(4096);
        const model = new Map<number, { bytes: Uint8Array; version: number; prev: number }>();
        let version = 0;
        const live = (): number[] => [...model.keys()];
        const check = (): void => {
          let bytes = 0;
          for (const [id, record] of model) {
            expect(memory.exists(id)).toBe(true);
            expect(memory.valueCopy(id)).toEqual(record.bytes);
            expect(memory.version(id)).toBe(record.version);
            expect(memory.prev(id)).toBe(record.prev);
            expect(memory.runId(id)).toBe(record.version % 7);
            expect(memory.typeId(id)).toBe(record.version % 5);
            expect(memory.expiresAt(id)).toBe(record.version % 3 === 0 ? record.version * 1.5 : undefined);
            bytes += recordSize(record.bytes.byteLength, { expiry: record.version % 3 === 0, tags: record.version % 7 !== 0 || record.version % 5 !== 0 });
          }
          const stats = memory.stats();
          expect(stats.valueRecords).toBe(model.size);
          expect(stats.valueLiveBytes).toBe(bytes);
          expect(stats.valueUsedBytes).toBeGreaterThanOrEqual(bytes);
          // Every segment but the head holds a live record (empty ones are let go at once).
          expect(stats.valueSegments * 4096).toBeLessThanOrEqual(Math.max(stats.valueMemoryBytes, 4096));
          expect(memory.utilization).toBeCloseTo(stats.valueUsedBytes === 0 ? 1 : bytes / stats.valueUsedBytes, 10);
        };
        for (const step of steps) {
          if (step.kind === 'append') {
            const bytes = new Uint8Array(step.length).fill(step.fill);
            version++;
            const id = memory.append(version, 0, version % 3 === 0 ? version * 1.5 : undefined, 0, version % 7, version % 5, bytes);
            expect(model.has(id)).toBe(false);
            model.set(id, { bytes, version, prev: 0 });
          } else if (step.kind === 'free') {
            const ids = live();
            if (ids.length === 0) continue;
            const id = ids[step.pick % ids.length]!;
            memory.free(id);
            model.delete(id);
            expect(memory.exists(id)).toBe(false);
          } else if (step.kind === 'setPrev') {
            const ids = live();
            if (ids.length === 0) continue;
            const id = ids[step.pick % ids.length]!;
            memory.setPrev(id, step.to);
            model.get(id)!.prev = step.to;
          } else {
            const plan = memory.planCompaction(1.01, 4096);
            if (plan === undefined) continue;
            const target = memory.allocateTarget(plan.targetBytes);
            copyRecords(plan.sources, target);
            // The main thread goes on while a worker copies: records freed or relinked meanwhile.
            for (let i = 0; i < step.freeDuringCopy && model.size > 0; i++) {
              const id = live()[0]!;
              memory.free(id);
              model.delete(id);
            }
            for (let i = 0; i < step.relinkDuringCopy && model.size > 0; i++) {
              const ids = live();
              const id = ids[i % ids.length]!;
              memory.setPrev(id, 1000 + i);
              model.get(id)!.prev = 1000 + i;
            }
            memory.installCompaction(plan, target);
          }
          check();
        }
      }),
      { numRuns: 150 },
    );
  });

  it('a compaction packs the live records of sparse segments into one and lets the sparse ones go; utilisation returns to 1', () => {
    const memory = new ValueMemory(4096);
    const ids: number[] = [];
    for (let i = 0; i < 200; i++) ids.push(memory.append(i + 1, 0, undefined, 0, 0, 0, new Uint8Array(60).fill(i)));
    const before = memory.stats();
    expect(before.valueSegments).toBeGreaterThan(4);
    // Free three of every four records: every sealed segment is a quarter live.
    for (let i = 0; i < ids.length; i++) if (i % 4 !== 0) memory.free(ids[i]!);
    expect(memory.utilization).toBeLessThan(0.3);
    for (let round = 0; round < 10; round++) {
      const plan = memory.planCompaction(0.8);
      if (plan === undefined) break;
      const target = memory.allocateTarget(plan.targetBytes);
      expect(copyRecords(plan.sources, target)).toBe(plan.sources.reduce((n, s) => n + s.records.length, 0) * recordSize(60));
      memory.installCompaction(plan, target);
    }
    const after = memory.stats();
    expect(after.valueSegments).toBeLessThan(before.valueSegments);
    expect(after.valueUtilization).toBeGreaterThan(0.8);
    expect(after.recordsMoved).toBeGreaterThan(0);
    for (let i = 0; i < ids.length; i += 4) expect(memory.valueCopy(ids[i]!)).toEqual(new Uint8Array(60).fill(i));
  });

  it('a source segment released while its copy may be under way is not reused until the plan is installed (a worker would copy what the new owner writes)', () => {
    const memory = new ValueMemory(4096);
    const ids: number[] = [];
    for (let i = 0; i < 120; i++) ids.push(memory.append(i + 1, 0, undefined, 0, 0, 0, new Uint8Array(100).fill(i % 250)));
    for (let i = 0; i < ids.length; i++) if (i % 3 !== 0) memory.free(ids[i]!);
    const plan = memory.planCompaction(0.8, 1)!;
    expect(plan.sources).toHaveLength(1);
    const source = plan.sources[0]!;
    const asPlanned = Uint8Array.from(new Uint8Array(source.buffer));
    const target = memory.allocateTarget(plan.targetBytes);
    // Before the worker copies: every planned record dies (the segment is released) and new records arrive.
    for (let i = 0; i < ids.length; i += 3) if (memory.exists(ids[i]!)) memory.free(ids[i]!);
    const fresh: number[] = [];
    for (let i = 0; i < 200; i++) fresh.push(memory.append(1000 + i, 0, undefined, 0, 0, 0, new Uint8Array(50).fill(200)));
    expect(new Uint8Array(source.buffer)).toEqual(asPlanned);
    copyRecords(plan.sources, target);
    memory.installCompaction(plan, target);
    for (const id of fresh) expect(memory.valueCopy(id)).toEqual(new Uint8Array(50).fill(200));
    expect(memory.stats().valueRecords).toBe(fresh.length);
  });

  it('the fixed record header is 24 bytes, an expiry and tags add 8 each, and records are 8-byte aligned', () => {
    expect(RECORD_HEADER_BYTES).toBe(24);
    expect(recordSize(0)).toBe(24);
    expect(recordSize(1)).toBe(32);
    expect(recordSize(8)).toBe(32);
    expect(recordSize(9)).toBe(40);
    expect(recordSize(83)).toBe(112);
    expect(recordSize(83, { expiry: true })).toBe(120);
    expect(recordSize(83, { expiry: true, tags: true })).toBe(128);
    const memory = new ValueMemory(4096);
    const tagged = memory.append(1, 0, 1234.5, 0, 3, 0, new Uint8Array(83));
    const plain = memory.append(2, 0, undefined, 0, 0, 0, new Uint8Array(83));
    expect(memory.recordBytes(tagged)).toBe(128);
    expect(memory.recordBytes(plain)).toBe(112);
    expect([memory.expiresAt(tagged), memory.runId(tagged), memory.typeId(tagged)]).toEqual([1234.5, 3, 0]);
    expect([memory.expiresAt(plain), memory.runId(plain), memory.typeId(plain)]).toEqual([undefined, 0, 0]);
  });
});

describe('the store over value memory', () => {
  it('the bytes handed to commit listeners are not the bytes the store reads', async () => {
    const store = new MvccStore();
    store.onCommit((record) => {
      for (const op of record.ops) if (op.kind === 'put') op.encoded.fill(0);
    });
    await store.put('k', new Map([['k', 'original']]));
    await store.put('p', { plain: 'original' });
    expect(store.get('k')).toEqual(new Map([['k', 'original']]));
    expect(store.get('p')).toEqual({ plain: 'original' });
  });

  it('a commit whose value memory cannot be allocated (the machine is out of memory) is refused whole with LIMIT_EXCEEDED: nothing of it is applied or logged, and the store goes on', async () => {
    let failing = false;
    const store = new MvccStore({
      segmentBytes: 4096,
      allocateSegment: (bytes) => {
        if (failing) throw new RangeError('Array buffer allocation failed');
        return new SharedArrayBuffer(bytes);
      },
    });
    const records: number[] = [];
    store.onCommit((record) => void records.push(record.version));
    await store.batch(Array.from({ length: 10 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: 'x'.repeat(100) })));
    failing = true;
    // Far more than the head segment's free space: the commit needs new segments.
    const big = Array.from({ length: 200 }, (_, i) => ({ op: 'put' as const, key: `n${i}`, value: 'y'.repeat(100) }));
    await expect(store.batch(big)).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxMemoryBytes', message: expect.stringContaining('Array buffer allocation failed') });
    expect(store.version).toBe(1);
    expect(records).toEqual([1]);
    expect(store.has('n0')).toBe(false);
    expect(store.stats().keys).toBe(10);
    store.checkInvariants();
    failing = false;
    await store.batch(big);
    expect(store.stats().keys).toBe(210);
    expect(store.get('n199')).toBe('y'.repeat(100));
    store.checkInvariants();
  });

  it('applyRecord and restore copy the bytes they are given (a reused read buffer cannot change a stored value)', () => {
    const bytes = Uint8Array.from(encodeValue({ s: 'original' }));
    const store = new MvccStore();
    store.restore([{ key: 'a', encoded: bytes, version: 1 }], 1);
    store.applyRecord({ version: 2, time: 0, ops: [{ kind: 'put', key: 'b', encoded: bytes }] });
    bytes.fill(0);
    expect(store.get('a')).toEqual({ s: 'original' });
    expect(store.get('b')).toEqual({ s: 'original' });
    store.checkInvariants();
  });

  it('with a read cache a hot value read twice is the same frozen object and an overwrite reads as a new one; by default every read decodes an equal, distinct frozen copy', async () => {
    const cached = new MvccStore({ valueCacheEntries: 100 });
    await cached.put('k', { n: 1, list: [1, 2] });
    const first = cached.get('k');
    expect(cached.get('k')).toBe(first);
    expect(cached.getEntry('k')!.value).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    await cached.put('k', { n: 2, list: [1, 2] });
    expect(cached.get('k')).toEqual({ n: 2, list: [1, 2] });
    expect(cached.get('k')).not.toBe(first);
    expect(cached.stats().valueCacheHits).toBeGreaterThan(0);
    const uncached = new MvccStore();
    await uncached.put('k', { n: 1, list: [1, 2] });
    const a = uncached.get('k');
    const b = uncached.get('k');
    expect(a).toEqual(b);
    expect(a).not.toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
    expect(uncached.stats().valueCacheEntries).toBe(0);
  });

  it('a live scan part way through keeps reading its version while keys are overwritten, deleted, collected and compacted; finishing it unpins the version', async () => {
    const store = new MvccStore({ segmentBytes: 4096 });
    await store.batch(Array.from({ length: 100 }, (_, i) => ({ op: 'put' as const, key: `k${String(i).padStart(3, '0')}`, value: { i, pad: 'x'.repeat(50) } })));
    const scan = store.scan();
    expect(scan.next().value).toMatchObject({ key: 'k000', value: { i: 0 } });
    for (let i = 0; i < 100; i++) await store.put(`k${String(i).padStart(3, '0')}`, { i: -i });
    for (let i = 0; i < 100; i += 2) await store.delete(`k${String(i).padStart(3, '0')}`);
    expect(store.oldestVersion).toBe(1);
    store.collectGarbage(1000);
    store.compaction.compactInline(1000);
    store.checkInvariants();
    const rest = [...scan];
    expect(rest).toHaveLength(99);
    rest.forEach((entry, i) => expect(entry.value).toEqual({ i: i + 1, pad: 'x'.repeat(50) }));
    expect(store.oldestVersion).toBe(store.version);
    store.collectGarbage(1000);
    store.compaction.compactInline(1000);
    store.checkInvariants();
    expect(store.stats().storedVersions).toBe(50);
    // The sealed segments the scan held were compacted away; what is left is the head segment (and its copy).
    expect(store.stats().valueSegments).toBeLessThanOrEqual(2);
  });

  it('a live scan abandoned part way is let go when its lease runs out, and using it afterwards throws LEASE_EXPIRED', async () => {
    const clock = new ManualClock(1000);
    const store = new MvccStore({ clock, snapshotLeaseMs: 100 });
    await store.batch([{ op: 'put', key: 'a', value: 1 }, { op: 'put', key: 'b', value: 2 }]);
    const abandoned = store.scan();
    abandoned.next();
    await store.put('a', 3);
    expect(store.oldestVersion).toBe(1);
    clock.advance(100);
    expect(store.expireLeases()).toBe(1);
    expect(store.oldestVersion).toBe(2);
    store.collectGarbage(1000);
    store.checkInvariants();
    expect(store.stats().storedVersions).toBe(2);
    // The versions it would read next may be gone: it refuses to go on.
    expect(() => abandoned.next()).toThrow(expect.objectContaining({ code: 'LEASE_EXPIRED' }));
    // One that outlives its lease without the sweep is ended by its next step.
    const late = store.byRun('nothing');
    clock.advance(100);
    expect(() => late.next()).toThrow(expect.objectContaining({ code: 'LEASE_EXPIRED' }));
    expect(store.stats().leasesExpired).toBe(2);
  });

  it('property: under random overwrites, deletes, snapshots and cleaning on small segments, every reader matches the model and the invariants hold', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('put' as const), key: fc.integer({ min: 0, max: 30 }), size: fc.integer({ min: 0, max: 400 }) }),
            fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 30 }) }),
            fc.record({ kind: fc.constant('snapshot' as const) }),
            fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
            fc.record({ kind: fc.constant('clean' as const) }),
          ),
          { minLength: 20, maxLength: 120 },
        ),
        async (steps) => {
          const store = new MvccStore({ segmentBytes: 4096 });
          const model = new Map<string, string>();
          const snapshots: { snapshot: ReturnType<MvccStore['snapshot']>; state: Map<string, string> }[] = [];
          for (const step of steps) {
            if (step.kind === 'put') {
              const value = `${step.key}:`.padEnd(step.size, 'v');
              await store.put(`k${step.key}`, value);
              model.set(`k${step.key}`, value);
            } else if (step.kind === 'delete') {
              await store.delete(`k${step.key}`);
              model.delete(`k${step.key}`);
            } else if (step.kind === 'snapshot') {
              snapshots.push({ snapshot: store.snapshot(), state: new Map(model) });
            } else if (step.kind === 'release') {
              if (snapshots.length === 0) continue;
              snapshots.splice(step.pick % snapshots.length, 1)[0]!.snapshot.release();
            } else {
              store.collectGarbage(1000);
              store.compaction.compactInline(1000);
            }
            store.checkInvariants();
            expect(Object.fromEntries([...store.scan()].map((e) => [e.key, e.value]))).toEqual(Object.fromEntries([...model].sort()));
            for (const { snapshot, state } of snapshots) {
              expect(Object.fromEntries([...snapshot.scan()].map((e) => [e.key, e.value]))).toEqual(Object.fromEntries([...state].sort()));
            }
          }
          for (const { snapshot } of snapshots) snapshot.release();
          store.collectGarbage(1000);
          store.compaction.compactInline(1000);
          store.checkInvariants();
          expect(store.stats().storedVersions).toBe(model.size);
          if (model.size > 20) expect(store.stats().valueUtilization).toBeGreaterThanOrEqual(0.5);
        },
      ),
      { numRuns: 60 },
    );
  });
});
