import { describe, expect, it } from 'vitest';
import { ManualClock, type CommitRecord } from '@epochdb/core';
import { MvccStore } from '@epochdb/store';

function setup(): { clock: ManualClock; store: MvccStore; records: CommitRecord[] } {
  const clock = new ManualClock(10_000);
  const store = new MvccStore({ clock });
  const records: CommitRecord[] = [];
  store.onCommit((r) => void records.push(r));
  return { clock, store, records };
}

describe('TTL', () => {
  it('an expired entry is invisible to every read path from the moment it expires', async () => {
    const { clock, store } = setup();
    await store.put('k', 'v', { ttl: 50, run: 'r', type: 't' });
    await store.put('abs', 'v', { expiresAt: 10_050, run: 'r' });
    clock.advance(49);
    expect([store.get('k'), store.has('abs'), [...store.byRun('r')].length]).toEqual(['v', true, 2]);
    clock.advance(1);
    const snap = store.snapshot();
    const tx = store.begin();
    for (const reader of [store, snap, tx]) {
      expect(reader.get('k')).toBeUndefined();
      expect(reader.getEntry('abs')).toBeUndefined();
      expect(reader.has('k')).toBe(false);
      expect([...reader.scan()]).toEqual([]);
      expect([...reader.byRun('r')]).toEqual([]);
      expect([...reader.byType('t')]).toEqual([]);
    }
    tx.abort();
    // Lazy expiry: still stored until the cleaner reclaims it.
    expect(store.stats()).toMatchObject({ keys: 2, ttlEntries: 2 });
    // An expired key does not exist for conditional writes.
    await expect(store.put('k', 'again', { ifVersion: 0 })).resolves.toBeGreaterThan(0);
  });

  it('reclaimExpired commits one versioned expire per expired key, in one commit, and fixes every index', async () => {
    const { clock, store, records } = setup();
    for (let i = 0; i < 10; i++) await store.put(`k${i}`, i, { ttl: 100 + i * 10, run: 'r', type: 't' });
    await store.put('forever', 1, { run: 'r' });
    clock.advance(145); // k0..k4 expired (100..140), k5 at 150 not yet
    const version = store.version;
    expect(store.hasExpired()).toBe(true);
    expect(store.reclaimExpired(100)).toBe(5);
    expect(store.version).toBe(version + 1);
    expect(records.at(-1)).toMatchObject({ version: version + 1, ops: [0, 1, 2, 3, 4].map((i) => ({ kind: 'expire', key: `k${i}` })) });
    expect(store.stats()).toMatchObject({ keys: 6, ttlEntries: 5, reclaimedExpired: 5 });
    expect(store.hasExpired()).toBe(false);
    expect(store.reclaimExpired(100)).toBe(0);
    expect(store.version).toBe(version + 1);
    store.checkInvariants();
  });

  it('never deletes a key re-written after it expired: the expire checks the version it saw', async () => {
    const { clock, store } = setup();
    await store.put('k', 'old', { ttl: 10 });
    clock.advance(20);
    const seen = store.getEntry('k');
    expect(seen).toBeUndefined();
    await store.put('k', 'fresh');
    expect(store.reclaimExpired(100)).toBe(0);
    expect(store.get('k')).toBe('fresh');
    // The same check inside the commit step: an expire naming a stale version is dropped.
    const { record } = store.commitWrites([{ kind: 'expire', key: 'k', seenVersion: 1 }]);
    expect(record.ops).toEqual([]);
    expect(store.get('k')).toBe('fresh');
    store.checkInvariants();
  });

  it('an overwrite with a new TTL or none moves the TTL index entry', async () => {
    const { clock, store } = setup();
    await store.put('k', 1, { ttl: 10 });
    await store.put('k', 2, { ttl: 1000 });
    await store.put('j', 1, { ttl: 10 });
    await store.put('j', 2);
    clock.advance(500);
    expect(store.reclaimExpired(100)).toBe(0);
    expect([store.get('k'), store.get('j')]).toEqual([2, 2]);
    expect(store.stats().ttlEntries).toBe(1);
    store.checkInvariants();
  });

  it('a delete removes the TTL entry; an expiry in the past is stored but never visible', async () => {
    const { store } = setup();
    await store.put('k', 1, { ttl: 10 });
    await store.delete('k');
    await store.put('past', 1, { expiresAt: 5 });
    expect(store.get('past')).toBeUndefined();
    expect(store.stats().ttlEntries).toBe(1);
    expect(store.reclaimExpired(100)).toBe(1);
    expect(store.stats()).toMatchObject({ keys: 0, ttlEntries: 0 });
    store.checkInvariants();
  });

  it('cleaning is O(expired): with many live TTL entries, one slice touches only the expired ones', async () => {
    const { clock, store } = setup();
    await store.batch(Array.from({ length: 5000 }, (_, i) => ({ op: 'put' as const, key: `live${i}`, value: i, ttl: 1_000_000 })));
    await store.batch(Array.from({ length: 3 }, (_, i) => ({ op: 'put' as const, key: `soon${i}`, value: i, ttl: 5 })));
    clock.advance(10);
    expect(store.reclaimExpired(0)).toBe(3);
    expect(store.stats().ttlEntries).toBe(5000);
  });
});

describe('commit records', () => {
  it('one record per write, batch and transaction, in version order, carrying run/type/expiresAt', async () => {
    const { store, records } = setup();
    await store.put('a', { x: 1 }, { run: 'r', type: 't', ttl: 5 });
    await store.batch([{ op: 'put', key: 'b', value: 2 }, { op: 'delete', key: 'a' }]);
    await store.transaction((tx) => {
      tx.put('c', 3);
      tx.put('d', 4);
    });
    store.get('c');
    [...store.scan()];
    expect(records.map((r) => r.version)).toEqual([1, 2, 3]);
    expect(records[0]!.ops).toEqual([{ kind: 'put', key: 'a', encoded: expect.any(Uint8Array), run: 'r', type: 't', expiresAt: 10_005 }]);
    expect(records[1]!.ops.map((o) => [o.kind, o.key])).toEqual([['put', 'b'], ['delete', 'a']]);
    expect(records[2]!.ops.map((o) => o.key)).toEqual(['c', 'd']);
    expect(Object.isFrozen(records[0])).toBe(true);
  });

  it('a store rebuilt from the record stream equals the original', async () => {
    const { clock, store, records } = setup();
    await store.put('a', { nested: [1, 2] }, { run: 'r' });
    await store.put('m', new Map([[1, 'x']]), { type: 't', ttl: 100 });
    await store.put('b', 'b', { expiresAt: 10_010 });
    await store.batch([{ op: 'delete', key: 'a' }, { op: 'put', key: 'c', value: -0 }]);
    clock.advance(20);
    store.reclaimExpired(100);
    const copy = new MvccStore({ clock });
    for (const record of records) copy.applyRecord(record);
    expect(copy.version).toBe(store.version);
    expect([...copy.scan()]).toEqual([...store.scan()]);
    expect([...copy.byType('t')]).toEqual([...store.byType('t')]);
    expect(Object.is(copy.get('c'), -0)).toBe(true);
    expect(copy.stats()).toMatchObject({ keys: store.stats().keys, ttlEntries: store.stats().ttlEntries });
    copy.checkInvariants();
    expect(() => copy.applyRecord(records[0]!)).toThrow(/above/);
  });

  it('a listener promise holds the acknowledgement of the write until it settles, while the write is visible at once', async () => {
    const { store } = setup();
    let release!: () => void;
    store.onCommit(() => new Promise<void>((resolve) => (release = resolve)));
    let done = false;
    const write = store.put('k', 1).then((v) => ((done = true), v));
    await Promise.resolve();
    expect(store.get('k')).toBe(1); // visible at once
    expect(done).toBe(false); // not acknowledged yet
    release();
    await expect(write).resolves.toBe(1);
  });

  it('unsubscribing stops the records', async () => {
    const store = new MvccStore();
    const seen: number[] = [];
    const off = store.onCommit((r) => void seen.push(r.version));
    await store.put('a', 1);
    off();
    await store.put('a', 2);
    expect(seen).toEqual([1]);
  });
});
