import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, ManualClock } from 'epochdb';
import { EpochKeyv, enableKeyvIterator } from 'epochdb/keyv';
import { useDatabases } from '../support/databases.js';

const { openDb } = useDatabases({ workers: 0 });

/** Resolves once `condition` holds, checking on every turn of the event loop. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('EpochKeyv', () => {
  it('maps Keyv ttl onto EpochDB TTL: the entry carries expiresAt, vanishes when the clock passes it, and the cleaner reclaims it', async () => {
    const clock = new ManualClock(1_000_000);
    const db = await openDb({ clock, maintenance: { intervalMs: 10 } });
    const keyv = new Keyv({ store: new EpochKeyv(db), namespace: 'cache' });
    await keyv.set('a', { n: 1 }, 5_000);
    await keyv.set('forever', 'x');
    const entry = db.getEntry('cache:a');
    expect(entry?.expiresAt).toBe(1_005_000);
    expect(entry?.type).toBe('keyv');
    expect(db.getEntry('cache:forever')?.expiresAt).toBeUndefined();
    clock.advance(5_001);
    expect(db.get('cache:a')).toBeUndefined();
    await waitFor(() => db.stats().reclaimedExpired === 1, 'the TTL cleaner to reclaim the expired entry');
    expect(db.stats().ttlEntries).toBe(0);
    expect(await keyv.get('forever')).toBe('x');
  });

  it('clear() deletes only its namespace and only entries with its type tag', async () => {
    const db = await openDb();
    await db.put('cache:not-keyv', 'other data');
    const one = new Keyv({ store: new EpochKeyv(db), namespace: 'cache' });
    const two = new Keyv({ store: new EpochKeyv(db), namespace: 'other' });
    await one.set('a', 1);
    await two.set('a', 2);
    await one.clear();
    expect(await one.get('a')).toBeUndefined();
    expect(await two.get('a')).toBe(2);
    expect(db.get('cache:not-keyv')).toBe('other data');
  });

  it('clear() keeps an entry rewritten after it started, and works across chunks', async () => {
    const db = await openDb();
    const store = new EpochKeyv(db, { prefix: 'kv/' });
    store.namespace = 'ns';
    await store.setMany(Array.from({ length: 2500 }, (_, i) => ({ key: `ns:${String(i).padStart(4, '0')}`, value: i })));
    expect(db.get('kv/ns:0001')).toBe(1);
    const cleared = store.clear();
    await store.set('ns:2499', 'rewritten');
    await cleared;
    const left = [];
    for await (const [key, value] of store.iterator('ns')) left.push([key, value]);
    expect(left).toEqual([['ns:2499', 'rewritten']]);
  });

  it('delete() and deleteMany() say whether anything existed; has/hasMany/getMany read the live state', async () => {
    const db = await openDb();
    const store = new EpochKeyv(db);
    expect(await store.delete('missing')).toBe(false);
    await store.setMany([
      { key: 'a', value: 'A' },
      { key: 'b', value: 'B', ttl: 60_000 },
    ]);
    expect(await store.getMany(['a', 'x', 'b'])).toEqual(['A', undefined, 'B']);
    expect(await store.hasMany(['a', 'x'])).toEqual([true, false]);
    expect(await store.deleteMany(['x', 'a'])).toBe(true);
    expect(await store.deleteMany(['x', 'a'])).toBe(false);
    expect(await store.has('b')).toBe(true);
  });

  it('keyv.iterator() over the adapter, once enabled, yields one namespace without its prefix', async () => {
    const db = await openDb();
    const keyv = enableKeyvIterator(new Keyv({ store: new EpochKeyv(db), namespace: 'users' }));
    const others = new Keyv({ store: new EpochKeyv(db), namespace: 'posts' });
    await keyv.set('ada', { name: 'Ada' });
    await others.set('p1', 'post');
    const seen = [];
    for await (const [key, value] of keyv.iterator!()) seen.push([key, value]);
    expect(seen).toEqual([['ada', { name: 'Ada' }]]);
  });

  it('disconnect() closes the database only when asked to', async () => {
    const db = await openDb();
    await new EpochKeyv(db).disconnect();
    expect(db.closed).toBe(false);
    await new EpochKeyv(db, { closeOnDisconnect: true }).disconnect();
    expect(db.closed).toBe(true);
  });

  it('rejects what is not a database, a bad type tag, and a Keyv without an EpochKeyv store', () => {
    expect(() => new EpochKeyv({} as never)).toThrow(InvalidOptionError);
    expect(() => new EpochKeyv(undefined as never, { type: '' })).toThrow(/open Database/);
    expect(() => enableKeyvIterator(new Keyv())).toThrow(/EpochKeyv store/);
  });

  it('rejects an empty type tag and a non-string prefix', async () => {
    const db = await openDb();
    expect(() => new EpochKeyv(db, { type: '' })).toThrow(/options.type/);
    expect(() => new EpochKeyv(db, { prefix: 1 as never })).toThrow(/options.prefix/);
  });
});
