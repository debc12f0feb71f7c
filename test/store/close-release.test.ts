// A closed store lets its data go: nothing can read it any more (every read,
// snapshot and scan opened before refuses with CLOSED), so a handle kept after
// close() must not pin its keys and value memory.
import { describe, expect, it } from 'vitest';
import { DatabaseClosedError } from '@epochdb/core';
import { MvccStore } from '@epochdb/store';

describe('close() releases the data', () => {
  it('value memory and the trees are let go; reads, snapshots opened before and their scans refuse with CLOSED; stats still answer', async () => {
    const store = new MvccStore({ retainVersions: 5 });
    for (let i = 0; i < 2000; i++) await store.put(`k${i}`, { i, pad: 'x'.repeat(100) }, i % 2 === 0 ? { run: 'r' } : {});
    await store.put('k1', 'again');
    const snapshot = store.snapshot();
    const scan = snapshot.scan()[Symbol.iterator]();
    scan.next();
    expect(store.stats().valueMemoryBytes).toBeGreaterThan(0);
    store.close();
    expect(store.stats().valueMemoryBytes).toBe(0);
    expect(store.stats().valueSegments).toBe(0);
    expect(() => store.get('k1')).toThrow(DatabaseClosedError);
    expect(() => snapshot.get('k1')).toThrow(DatabaseClosedError);
    expect(() => scan.next()).toThrow(DatabaseClosedError);
    expect(() => snapshot.release()).not.toThrow();
  });
});
