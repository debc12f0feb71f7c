import { describe, expect, it } from 'vitest';
import { MvccStore } from '@epochdb/store';

describe('store regressions found in review', () => {
  // With a change listener registered, a commit that overwrote a loaded value that does not
  // decode threw CORRUPTION halfway through applying: earlier keys stayed applied, the version
  // was not taken, and the next commit reused it.
  it('regression: a commit over a loaded value that does not decode applies whole (listeners get tags, not old values)', async () => {
    const store = new MvccStore();
    store.applyRecord({ version: 1, time: 0, ops: [{ kind: 'put', key: 'bad', encoded: new Uint8Array([0xc1]), type: 't' }] });
    const seen: unknown[] = [];
    store.onApply((version, _time, changes) => seen.push(...changes.map((c) => ({ version, key: c.key, before: c.before }))));
    const version = await store.batch([
      { op: 'put', key: 'ok', value: 1 },
      { op: 'put', key: 'bad', value: 2 },
    ]);
    expect(version).toBe(2);
    expect([store.get('ok'), store.get('bad')]).toStrictEqual([1, 2]);
    expect(seen).toStrictEqual([
      { version: 2, key: 'ok', before: undefined },
      { version: 2, key: 'bad', before: { type: 't' } },
    ]);
    store.checkInvariants();
  });
});
