import { describe, expect, it } from 'vitest';
import { ManualClock, VersionUnavailableError } from '@epochdb/core';
import { MvccStore } from '@epochdb/store';

const keysOf = (entries: Iterable<{ key: string }>): string[] => [...entries].map((e) => e.key);

describe('snapshots', () => {
  it('snapshot_reads_the_state_at_its_version_while_writes_continue', async () => {
    const store = new MvccStore();
    await store.put('a', 1, { run: 'r', type: 't' });
    await store.put('b', 2, { run: 'r' });
    const snap = store.snapshot();
    await store.put('a', 10, { run: 'other' });
    await store.delete('b');
    await store.put('c', 3, { run: 'r' });
    expect([snap.get('a'), snap.get('b'), snap.get('c')]).toEqual([1, 2, undefined]);
    expect(keysOf(snap.scan())).toEqual(['a', 'b']);
    expect(keysOf(snap.byRun('r'))).toEqual(['a', 'b']);
    expect(keysOf(snap.byType('t'))).toEqual(['a']);
    expect(keysOf(store.byRun('r'))).toEqual(['c']);
    expect(snap.getEntry('a')).toMatchObject({ key: 'a', value: 1, version: 1, run: 'r', type: 't' });
    expect(snap.version).toBe(2);
    snap.release();
    store.checkInvariants();
  });

  it('snapshot_scan_is_not_disturbed_by_writes_between_steps', async () => {
    const store = new MvccStore();
    for (const k of ['a', 'b', 'c', 'd']) await store.put(k, k);
    const iterator = store.scan();
    const seen = [iterator.next().value?.key];
    await store.delete('b');
    await store.put('bb', 'new');
    await store.put('e', 'e');
    for (const entry of { [Symbol.iterator]: () => iterator }) seen.push(entry.key);
    expect(seen).toEqual(['a', 'b', 'c', 'd']);
  });

  it('snapshots_at_the_same_version_share_one_clone_and_stay_independent', async () => {
    const store = new MvccStore();
    await store.put('k', 1);
    const s1 = store.snapshot();
    const s2 = store.snapshot();
    await store.put('k', 2);
    const s3 = store.snapshot();
    expect([s1.get('k'), s2.get('k'), s3.get('k'), store.get('k')]).toEqual([1, 1, 2, 2]);
    s1.release();
    expect(s2.get('k')).toBe(1);
    expect(store.stats().openSnapshots).toBe(2);
  });

  it('snapshotAt_reads_the_past_back_to_the_oldest_pinned_version', async () => {
    const store = new MvccStore();
    await store.put('k', 'v1'); // 1
    const pin = store.snapshot(); // pins 1
    await store.put('k', 'v2', { type: 't' }); // 2
    await store.delete('k'); // 3
    await store.put('k', 'v4'); // 4
    expect(store.oldestVersion).toBe(1);
    const at = (v: number): unknown => {
      using s = store.snapshotAt(v);
      return [s.get('k'), keysOf(s.byType('t'))];
    };
    expect([at(1), at(2), at(3), at(4)]).toEqual([['v1', []], ['v2', ['k']], [undefined, []], ['v4', []]]);
    expect(() => store.snapshotAt(0)).toThrow(VersionUnavailableError);
    expect(() => store.snapshotAt(5)).toThrow(/newer than the database/);
    pin.release();
    store.collectGarbage(100);
    expect(store.oldestVersion).toBe(4);
    expect(() => store.snapshotAt(3)).toThrow(/older than the oldest retained version 4/);
    expect(store.stats().storedVersions).toBe(1);
    store.checkInvariants();
  });

  it('retainVersions keeps a window of history without any snapshot', async () => {
    const store = new MvccStore({ retainVersions: 2 });
    for (let i = 1; i <= 5; i++) await store.put('k', i);
    store.collectGarbage(100);
    expect(store.oldestVersion).toBe(3);
    expect([3, 4, 5].map((v) => {
      using s = store.snapshotAt(v);
      return s.get('k');
    })).toEqual([3, 4, 5]);
    expect(() => store.snapshotAt(2)).toThrow(VersionUnavailableError);
    expect(store.stats().storedVersions).toBe(3);
    store.checkInvariants();
  });
});

describe('version GC', () => {
  it('never reclaims a version an open snapshot can read, and reclaims all of it once released', async () => {
    const store = new MvccStore();
    await store.put('a', 0, { run: 'r0' });
    const snaps = [];
    for (let i = 1; i <= 20; i++) {
      snaps.push(store.snapshot());
      await store.put('a', i, { run: `r${i % 3}` });
      await store.put(`k${i}`, i);
      if (i % 4 === 0) await store.delete(`k${i - 1}`);
    }
    // Release from the newest down: the horizon only moves once the oldest goes.
    for (const snap of snaps.slice(1).reverse()) snap.release();
    store.collectGarbage(1000);
    store.checkInvariants();
    expect(snaps[0]!.get('a')).toBe(0);
    expect(keysOf(snaps[0]!.byRun('r0'))).toEqual(['a']);
    {
      using past = store.snapshotAt(1);
      expect(past.get('a')).toBe(0);
    }
    const before = store.stats();
    expect(before.storedVersions).toBeGreaterThan(before.keys);
    snaps[0]!.release();
    const collected = store.collectGarbage(1000);
    const after = store.stats();
    expect(collected).toBeGreaterThan(0);
    // Only the newest version of each live key is left; tombstones are gone.
    expect(after.storedVersions).toBe(after.keys);
    expect(after.pendingGc).toBe(0);
    expect(keysOf(store.byRun('r0'))).toEqual([]);
    store.checkInvariants();
  });

  it('eagerly drops superseded versions when nothing pins them', async () => {
    const store = new MvccStore();
    for (let i = 0; i < 10; i++) await store.put('k', i, { run: `r${i}` });
    await store.put('gone', 1);
    await store.delete('gone');
    expect(store.stats()).toMatchObject({ keys: 1, storedVersions: 1, pendingGc: 0 });
    expect(keysOf(store.byRun('r0'))).toEqual([]);
    store.checkInvariants();
  });

  it('gc works in bounded slices: a zero budget still makes progress, later calls finish the rest', async () => {
    const store = new MvccStore();
    const snap = store.snapshot();
    for (let i = 0; i < 500; i++) await store.put(`k${i % 50}`, i);
    snap.release();
    let total = 0;
    let passes = 0;
    while (store.hasGarbage()) {
      total += store.collectGarbage(0);
      passes++;
    }
    expect(passes).toBeGreaterThan(1);
    expect(total).toBe(450);
    expect(store.stats().storedVersions).toBe(50);
    store.checkInvariants();
  });
});

describe('TTL visibility inside snapshots', () => {
  it('a snapshot judges expiry at its creation time, so repeated reads agree', async () => {
    const clock = new ManualClock(1000);
    const store = new MvccStore({ clock });
    await store.put('k', 'v', { ttl: 100 });
    const snap = store.snapshot();
    clock.advance(100);
    expect(store.get('k')).toBeUndefined();
    expect(snap.get('k')).toBe('v');
    expect(keysOf(snap.scan())).toEqual(['k']);
    expect(snap.getEntry('k')?.expiresAt).toBe(1100);
  });
});
