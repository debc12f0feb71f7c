import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConflictError,
  EpochError,
  ManualClock,
  TransactionFinishedError,
  UNCOMMITTED_VERSION,
  VersionMismatchError,
  open,
  type Database,
  type Entry,
  type OpenOptions,
  type ScanOptions,
  type Transaction,
} from 'epochdb';

// ---------------------------------------------------------------- helpers

const opened: Database[] = [];

/** A database without background maintenance (tests that want it pass their own options). */
async function fresh(options: OpenOptions = {}): Promise<Database> {
  const db = await open({ maintenance: { intervalMs: 0 }, ...options });
  opened.push(db);
  return db;
}

afterEach(async () => {
  for (const db of opened.splice(0)) await db.close();
});

/** One full turn of the event loop. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The rejection reason of `promise` (fails the test if it fulfils). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it fulfilled');
}

/** The error `fn` throws synchronously (fails the test if it does not throw). */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw, but it returned');
}

function expectConflict(error: unknown, key: string): void {
  expect(error).toBeInstanceOf(ConflictError);
  expect(error).toBeInstanceOf(EpochError);
  expect((error as ConflictError).code).toBe('CONFLICT');
  expect((error as ConflictError).key).toBe(key);
  expect((error as ConflictError).name).toBe('ConflictError');
}

function expectFinished(error: unknown): void {
  expect(error).toBeInstanceOf(TransactionFinishedError);
  expect((error as TransactionFinishedError).code).toBe('TRANSACTION_FINISHED');
}

const keysOf = (entries: Iterable<Entry>): string[] => [...entries].map((e) => e.key);
const pairsOf = (entries: Iterable<Entry>): [string, unknown, number][] => [...entries].map((e) => [e.key, e.value, e.version]);

// ---------------------------------------------------------------- read your own writes

describe('read-your-own-writes: get / has / getEntry', () => {
  it('sees own puts over absent and existing keys, reported at UNCOMMITTED_VERSION, while the database does not', async () => {
    const db = await fresh();
    const v1 = await db.put('existing', 'old', { run: 'r0', type: 't0' });
    const tx = db.begin();

    tx.put('existing', { n: 1 }, { run: 'r1', type: 't1' });
    tx.put('fresh', 42, { expiresAt: Number.MAX_SAFE_INTEGER });

    expect(UNCOMMITTED_VERSION).toBe(-1);
    expect(tx.get('existing')).toEqual({ n: 1 });
    expect(tx.has('existing')).toBe(true);
    expect(tx.getEntry('existing')).toEqual({ key: 'existing', value: { n: 1 }, version: UNCOMMITTED_VERSION, run: 'r1', type: 't1' });
    expect(tx.get('fresh')).toBe(42);
    expect(tx.has('fresh')).toBe(true);
    expect(tx.getEntry('fresh')).toEqual({ key: 'fresh', value: 42, version: UNCOMMITTED_VERSION, expiresAt: Number.MAX_SAFE_INTEGER });
    expect(Object.isFrozen(tx.getEntry('fresh'))).toBe(true);

    // Nothing leaks out before the commit.
    expect(db.get('existing')).toBe('old');
    expect(db.getEntry('existing')?.version).toBe(v1);
    expect(db.has('fresh')).toBe(false);
    expect(db.version).toBe(v1);

    const v2 = await tx.commit();
    expect(v2).toBe(v1 + 1);
    expect(db.getEntry('existing')).toEqual({ key: 'existing', value: { n: 1 }, version: v2, run: 'r1', type: 't1' });
    expect(db.getEntry('fresh')?.version).toBe(v2);
  });

  it('own deletes hide committed values; the last own write of a key wins', async () => {
    const db = await fresh();
    await db.batch([
      { op: 'put', key: 'a', value: 1 },
      { op: 'put', key: 'b', value: 2 },
    ]);
    const tx = db.begin();

    tx.delete('a');
    expect(tx.get('a')).toBeUndefined();
    expect(tx.has('a')).toBe(false);
    expect(tx.getEntry('a')).toBeUndefined();
    expect(db.get('a')).toBe(1);

    tx.delete('b');
    tx.put('b', 'again');
    expect(tx.get('b')).toBe('again');
    expect(tx.getEntry('b')?.version).toBe(UNCOMMITTED_VERSION);

    tx.put('c', 'new');
    tx.delete('c');
    expect(tx.has('c')).toBe(false);

    // Deleting a key that never existed reads as absent too.
    tx.delete('never');
    expect(tx.get('never')).toBeUndefined();

    await tx.commit();
    expect(db.has('a')).toBe(false);
    expect(db.get('b')).toBe('again');
    expect(db.has('c')).toBe(false);
    expect(db.has('never')).toBe(false);
  });

  it('keeps a private copy of put values: mutating the argument later changes nothing', async () => {
    const db = await fresh();
    const tx = db.begin();
    const value = { list: [1, 2] };
    tx.put('k', value);
    value.list.push(3);
    expect(tx.get('k')).toEqual({ list: [1, 2] });
    await tx.commit();
    expect(db.get('k')).toEqual({ list: [1, 2] });
  });
});

// ---------------------------------------------------------------- scans merging own writes

describe('read-your-own-writes: scan / byRun / byType merge own writes with committed data', () => {
  async function seeded(): Promise<{ db: Database; tx: Transaction; base: number }> {
    const db = await fresh();
    const base = await db.batch([
      { op: 'put', key: 'a', value: 'A', run: 'r', type: 'x' },
      { op: 'put', key: 'c', value: 'C', run: 'r', type: 'y' },
      { op: 'put', key: 'e', value: 'E', run: 's', type: 'x' },
      { op: 'put', key: 'g', value: 'G', run: 'r', type: 'x' },
    ]);
    const tx = db.begin();
    tx.put('b', 'b!', { run: 'r', type: 'x' }); // new key inside everything
    tx.put('c', 'c!', { run: 's', type: 'x' }); // overwrite that moves c from run r to run s, type y to x
    tx.delete('e'); // hides a committed key
    tx.put('h', 'h!'); // new key without tags
    tx.put('e0', 'gone', { expiresAt: 1 }); // already expired: invisible
    return { db, tx, base };
  }

  it('scan: forward and reverse, with and without limits', async () => {
    const { tx, base } = await seeded();
    const U = UNCOMMITTED_VERSION;
    expect(pairsOf(tx.scan())).toEqual([
      ['a', 'A', base],
      ['b', 'b!', U],
      ['c', 'c!', U],
      ['g', 'G', base],
      ['h', 'h!', U],
    ]);
    expect(keysOf(tx.scan({ reverse: true }))).toEqual(['h', 'g', 'c', 'b', 'a']);
    expect(keysOf(tx.scan({ limit: 0 }))).toEqual([]);
    expect(keysOf(tx.scan({ limit: 2 }))).toEqual(['a', 'b']);
    expect(keysOf(tx.scan({ limit: 3 }))).toEqual(['a', 'b', 'c']);
    expect(keysOf(tx.scan({ limit: 4 }))).toEqual(['a', 'b', 'c', 'g']);
    expect(keysOf(tx.scan({ reverse: true, limit: 1 }))).toEqual(['h']);
    expect(keysOf(tx.scan({ reverse: true, limit: 3 }))).toEqual(['h', 'g', 'c']);
    expect(keysOf(tx.scan({ gt: 'a', lt: 'g' }))).toEqual(['b', 'c']);
    expect(keysOf(tx.scan({ gte: 'b', lte: 'h', reverse: true, limit: 2 }))).toEqual(['h', 'g']);
    expect(keysOf(tx.scan({ gt: 'c', reverse: true }))).toEqual(['h', 'g']);
    expect(keysOf(tx.scan({ prefix: 'e' }))).toEqual([]);
  });

  it('byRun and byType: own writes join, leave and replace index entries, both directions, with limits', async () => {
    const { tx, base } = await seeded();
    const U = UNCOMMITTED_VERSION;
    // run r: committed a, c, g; own b joins, own c moves away to s.
    expect(pairsOf(tx.byRun('r'))).toEqual([
      ['a', 'A', base],
      ['b', 'b!', U],
      ['g', 'G', base],
    ]);
    expect(keysOf(tx.byRun('r', { reverse: true }))).toEqual(['g', 'b', 'a']);
    expect(keysOf(tx.byRun('r', { limit: 2 }))).toEqual(['a', 'b']);
    expect(keysOf(tx.byRun('r', { reverse: true, limit: 2 }))).toEqual(['g', 'b']);
    // run s: committed e is deleted, own c joins.
    expect(pairsOf(tx.byRun('s'))).toEqual([['c', 'c!', U]]);
    // type x: committed a, e, g; own b and c join, e is deleted.
    expect(keysOf(tx.byType('x'))).toEqual(['a', 'b', 'c', 'g']);
    expect(keysOf(tx.byType('x', { reverse: true, limit: 3 }))).toEqual(['g', 'c', 'b']);
    expect(keysOf(tx.byType('x', { gt: 'a', limit: 1 }))).toEqual(['b']);
    // type y: committed c moved to x.
    expect(keysOf(tx.byType('y'))).toEqual([]);
    expect(keysOf(tx.byRun('nobody'))).toEqual([]);
  });

  it('own writes are taken as they are when scan() is called: later own writes do not disturb an open iterator', async () => {
    const db = await fresh();
    await db.batch([
      { op: 'put', key: 'b', value: 'B' },
      { op: 'put', key: 'd', value: 'D' },
    ]);
    const tx = db.begin();
    tx.put('a', 'own a');
    const iterator = tx.scan();
    const reverse = tx.scan({ reverse: true });
    tx.put('c', 'own c'); // after the scans started
    tx.delete('d');
    tx.put('a', 'changed');
    expect(pairsOf(iterator)).toEqual([
      ['a', 'own a', UNCOMMITTED_VERSION],
      ['b', 'B', 1],
      ['d', 'D', 1],
    ]);
    expect(keysOf(reverse)).toEqual(['d', 'b', 'a']);
    // A new scan sees the new own writes.
    expect(pairsOf(tx.scan())).toEqual([
      ['a', 'changed', UNCOMMITTED_VERSION],
      ['b', 'B', 1],
      ['c', 'own c', UNCOMMITTED_VERSION],
    ]);
    tx.abort();
  });

  it('property: tx scans equal a model of committed data plus own writes, and equal the database scan after commit', async () => {
    const KEYS = ['a', 'aa', 'ab', 'abc', 'b', 'ba', 'bb', 'c', 'ca', 'cab', 'd'];
    const key = fc.constantFrom(...KEYS);
    const tag = (prefix: string) => fc.option(fc.constantFrom(`${prefix}1`, `${prefix}2`), { nil: undefined });
    const put = fc.record({ op: fc.constant('put' as const), key, value: fc.integer({ min: 0, max: 99 }), run: tag('r'), type: tag('t') });
    const del = fc.record({ op: fc.constant('delete' as const), key });
    const bound = fc.option(fc.constantFrom(...KEYS, 'a0', 'bz'), { nil: undefined });
    const scanOptions = fc.record({
      prefix: fc.option(fc.constantFrom('', 'a', 'ab', 'b', 'c', 'z'), { nil: undefined }),
      low: bound,
      lowInclusive: fc.boolean(),
      high: bound,
      highInclusive: fc.boolean(),
      reverse: fc.boolean(),
      limit: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
    });
    const which = fc.constantFrom('scan', 'byRun', 'byType');

    await fc.assert(
      fc.asyncProperty(fc.array(put, { maxLength: 10 }), fc.array(fc.oneof(put, del), { maxLength: 10 }), scanOptions, which, async (committed, own, o, kind) => {
        const db = await open({ maintenance: { intervalMs: 0 } });
        try {
          if (committed.length > 0) await db.batch(committed.map(({ op, key, value, run, type }) => ({ op, key, value, ...(run ? { run } : {}), ...(type ? { type } : {}) })));
          type Row = { value: number; run?: string | undefined; type?: string | undefined; own: boolean };
          const model = new Map<string, Row>();
          for (const c of committed) model.set(c.key, { value: c.value, run: c.run, type: c.type, own: false });

          const tx = db.begin();
          for (const w of own) {
            if (w.op === 'put') {
              tx.put(w.key, w.value, { ...(w.run ? { run: w.run } : {}), ...(w.type ? { type: w.type } : {}) });
              model.set(w.key, { value: w.value, run: w.run, type: w.type, own: true });
            } else {
              tx.delete(w.key);
              model.delete(w.key);
            }
          }

          const options: { -readonly [K in keyof ScanOptions]: ScanOptions[K] } = { reverse: o.reverse };
          if (o.prefix !== undefined) options.prefix = o.prefix;
          if (o.low !== undefined) options[o.lowInclusive ? 'gte' : 'gt'] = o.low;
          if (o.high !== undefined) options[o.highInclusive ? 'lte' : 'lt'] = o.high;
          if (o.limit !== undefined) options.limit = o.limit;

          const inRange = (k: string): boolean =>
            k.startsWith(o.prefix ?? '') &&
            (o.low === undefined || (o.lowInclusive ? k >= o.low : k > o.low)) &&
            (o.high === undefined || (o.highInclusive ? k <= o.high : k < o.high));
          const tagOk = (row: Row): boolean => (kind === 'scan' ? true : kind === 'byRun' ? row.run === 'r1' : row.type === 't1');
          const expected = [...model.entries()]
            .filter(([k, row]) => inRange(k) && tagOk(row))
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
          if (o.reverse) expected.reverse();
          const limited = expected.slice(0, o.limit ?? Infinity).map(([k, row]) => [k, row.value, row.own ? UNCOMMITTED_VERSION : db.getEntry(k)!.version]);

          const read = (r: Transaction | Database): Entry[] =>
            kind === 'scan' ? [...r.scan(options)] : kind === 'byRun' ? [...r.byRun('r1', options)] : [...r.byType('t1', options)];
          const inTx = read(tx);
          expect(inTx.map((e) => [e.key, e.value, e.version])).toEqual(limited);

          await tx.commit();
          // After the commit the database itself must read exactly what the transaction previewed.
          expect(read(db).map((e) => [e.key, e.value])).toEqual(inTx.map((e) => [e.key, e.value]));
        } finally {
          await db.close();
        }
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------- repeatable reads

describe('repeatable reads', () => {
  it('a transaction keeps reading its start snapshot while others commit across awaits', async () => {
    const db = await fresh();
    const start = await db.batch([
      { op: 'put', key: 'k1', value: 1, run: 'r', type: 't' },
      { op: 'put', key: 'k2', value: 2, run: 'r', type: 't' },
      { op: 'put', key: 'k3', value: 3 },
    ]);
    const tx = db.begin();
    const first = { k1: tx.get('k1'), scan: pairsOf(tx.scan()), run: keysOf(tx.byRun('r')), type: keysOf(tx.byType('t')) };

    await db.put('k1', 100, { run: 'other' });
    await tick();
    await db.delete('k2');
    await Promise.resolve();
    await db.put('k0', 0, { run: 'r', type: 't' });
    await tick();
    await db.transaction((other) => {
      other.put('k3', 300);
      other.put('k4', 4, { run: 'r', type: 't' });
    });
    await tick();

    expect(db.get('k1')).toBe(100);
    expect(db.has('k2')).toBe(false);
    expect(db.version).toBe(start + 4);

    expect(tx.version).toBe(start);
    expect(tx.get('k1')).toBe(first.k1);
    expect(tx.get('k1')).toBe(1);
    expect(tx.has('k2')).toBe(true);
    expect(tx.getEntry('k2')).toEqual({ key: 'k2', value: 2, version: start, run: 'r', type: 't' });
    expect(tx.has('k0')).toBe(false);
    expect(tx.get('k4')).toBeUndefined();
    expect(pairsOf(tx.scan())).toEqual(first.scan);
    expect(keysOf(tx.byRun('r'))).toEqual(first.run);
    expect(keysOf(tx.byType('t'))).toEqual(first.type);
    expect(first.run).toEqual(['k1', 'k2']);
    tx.abort();
  });

  it('inside db.transaction() the callback reads the same values before and after awaits that let others commit', async () => {
    const db = await fresh();
    await db.put('x', 'before');
    const seen: unknown[] = [];
    await db.transaction(async (tx) => {
      seen.push(tx.get('x'));
      await db.put('x', 'after'); // a concurrent commit between two reads
      await tick();
      seen.push(tx.get('x'));
      seen.push(keysOf(tx.scan()).length);
    });
    expect(seen).toEqual(['before', 'before', 1]);
    expect(db.get('x')).toBe('after');
  });
});

// ---------------------------------------------------------------- first committer wins

describe("'snapshot' isolation: first committer wins", () => {
  it('the second of two transactions writing the same key fails with ConflictError and applies nothing', async () => {
    const db = await fresh();
    await db.put('k', 0);
    const t1 = db.begin();
    const t2 = db.begin({ isolation: 'snapshot' });
    t1.put('k', 'one');
    t2.put('k', 'two');
    t2.put('side', 'effect');

    const v1 = await t1.commit();
    const error = await rejectionOf(t2.commit());
    expectConflict(error, 'k');
    expect(t2.active).toBe(false);
    expect(t2.commitVersion).toBeUndefined();
    expect(db.get('k')).toBe('one');
    expect(db.has('side')).toBe(false);
    expect(db.version).toBe(v1);
    expect(db.stats().openTransactions).toBe(0);
  });

  it('plain put, delete and batch after the start also beat a transaction writing the key', async () => {
    const db = await fresh();
    await db.batch([
      { op: 'put', key: 'p', value: 0 },
      { op: 'put', key: 'd', value: 0 },
      { op: 'put', key: 'b', value: 0 },
    ]);
    const cases: [string, () => Promise<unknown>][] = [
      ['p', () => db.put('p', 1)],
      ['d', () => db.delete('d')],
      ['b', () => db.batch([{ op: 'put', key: 'b', value: 1 }])],
      ['new', () => db.put('new', 1)],
    ];
    for (const [key, competitor] of cases) {
      const tx = db.begin();
      tx.put(key, 'tx');
      await competitor();
      const before = db.version;
      expectConflict(await rejectionOf(tx.commit()), key);
      expect(db.get(key)).not.toBe('tx');
      expect(db.version).toBe(before);
    }
  });

  it('a conflict is reported for a delete too, and the key is the one that clashed', async () => {
    const db = await fresh();
    await db.batch([
      { op: 'put', key: 'a', value: 1 },
      { op: 'put', key: 'z', value: 1 },
    ]);
    const tx = db.begin();
    tx.put('a', 2); // no clash
    tx.delete('z'); // clashes
    await db.put('z', 2);
    expectConflict(await rejectionOf(tx.commit()), 'z');
    expect(db.get('a')).toBe(1);
    expect(db.get('z')).toBe(2);
  });

  it('no conflict for disjoint writes, for commits before the start, or (under snapshot) for read-only overlap', async () => {
    const db = await fresh();
    await db.put('k', 0);
    await db.put('k', 1); // before the transactions start
    const t1 = db.begin();
    const t2 = db.begin();
    t1.put('a', 1);
    t2.put('b', 2);
    expect(t2.get('k')).toBe(1); // read only
    t1.put('k', 2); // t2 read k, t1 writes it: fine under snapshot isolation
    const v1 = await t1.commit();
    const v2 = await t2.commit();
    expect(v2).toBe(v1 + 1);
    expect([db.get('a'), db.get('b'), db.get('k')]).toEqual([1, 2, 2]);
  });
});

// ---------------------------------------------------------------- retries

describe('transaction(): retries', () => {
  /** A callback that always loses: it writes `hot`, then lets a plain put of `hot` commit first. */
  function alwaysLoses(db: Database, counter: { attempts: number }) {
    return async (tx: Transaction): Promise<string> => {
      counter.attempts++;
      tx.put('hot', 'from tx');
      tx.put('cold', counter.attempts);
      await db.put('hot', `competitor ${counter.attempts}`);
      return 'never';
    };
  }

  for (const retries of [0, 1, 2, 5]) {
    it(`retries: ${retries} -> ConflictError after exactly ${retries + 1} attempts, nothing applied`, async () => {
      const db = await fresh();
      const counter = { attempts: 0 };
      const error = await rejectionOf(db.transaction(alwaysLoses(db, counter), { retries }));
      expectConflict(error, 'hot');
      expect(counter.attempts).toBe(retries + 1);
      expect(db.has('cold')).toBe(false);
      expect(db.get('hot')).toBe(`competitor ${retries + 1}`);
      expect(db.stats().openTransactions).toBe(0);
    });
  }

  it('the default is 3 retries (4 attempts), for both isolation levels', async () => {
    for (const isolation of ['snapshot', 'serializable'] as const) {
      const db = await fresh();
      const counter = { attempts: 0 };
      expectConflict(await rejectionOf(db.transaction(alwaysLoses(db, counter), { isolation })), 'hot');
      expect(counter.attempts).toBe(4);
    }
  });

  it('a retry gets a fresh transaction on a newer snapshot and its result is returned', async () => {
    const db = await fresh();
    await db.put('n', 0);
    const versions: number[] = [];
    const txs: Transaction[] = [];
    const result = await db.transaction(
      async (tx) => {
        txs.push(tx);
        versions.push(tx.version);
        const n = tx.get('n') as number;
        tx.put('n', n + 1);
        if (txs.length <= 2) await db.put('n', n + 10); // the first two attempts lose
        return `attempt ${txs.length} saw ${n}`;
      },
      { retries: 2 },
    );
    expect(txs.length).toBe(3);
    expect(new Set(txs).size).toBe(3);
    expect(versions[1]!).toBeGreaterThan(versions[0]!);
    expect(versions[2]!).toBeGreaterThan(versions[1]!);
    expect(result).toBe('attempt 3 saw 20');
    expect(db.get('n')).toBe(21);
    expect(txs.every((t) => !t.active)).toBe(true);
  });

  it('errors other than ConflictError are not retried', async () => {
    const db = await fresh();
    await db.put('k', 1);
    let attempts = 0;
    const error = await rejectionOf(
      db.transaction(
        (tx) => {
          attempts++;
          tx.put('k', 2, { ifVersion: 0 });
        },
        { retries: 5 },
      ),
    );
    expect(error).toBeInstanceOf(VersionMismatchError);
    expect(attempts).toBe(1);
  });

  it('rejects bad options', async () => {
    const db = await fresh();
    await expect(db.transaction(() => 1, { retries: -1 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(db.transaction(() => 1, { isolation: 'chaos' as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    expect(() => db.begin({ retries: 1.5 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });
});

// ---------------------------------------------------------------- throwing callbacks

describe('transaction(): a throwing callback', () => {
  for (const mode of ['sync', 'async after awaits'] as const) {
    it(`(${mode}) rethrows the very same error, applies nothing and is not retried`, async () => {
      const db = await fresh();
      await db.put('k', 'original');
      const before = db.version;
      const boom = new Error('boom');
      let attempts = 0;
      let captured: Transaction | undefined;
      const error = await rejectionOf(
        db.transaction(
          mode === 'sync'
            ? (tx) => {
                attempts++;
                captured = tx;
                tx.put('k', 'changed');
                tx.put('other', 1);
                throw boom;
              }
            : async (tx) => {
                attempts++;
                captured = tx;
                tx.put('k', 'changed');
                await tick();
                tx.delete('k');
                tx.put('other', 1);
                await Promise.resolve();
                throw boom;
              },
          { retries: 5 },
        ),
      );
      expect(error).toBe(boom);
      expect(attempts).toBe(1);
      expect(db.get('k')).toBe('original');
      expect(db.has('other')).toBe(false);
      expect(db.version).toBe(before);
      expect(captured!.active).toBe(false);
      expectFinished(thrownBy(() => captured!.get('k')));
      expect(db.stats().openTransactions).toBe(0);
    });
  }

  it('non-Error throwables are rethrown unchanged too', async () => {
    const db = await fresh();
    const thrown = { reason: 'plain object' };
    expect(await rejectionOf(db.transaction(() => Promise.reject(thrown)))).toBe(thrown);
  });
});

// ---------------------------------------------------------------- finished transactions

describe('a finished transaction refuses to be used', () => {
  function expectAllRefused(tx: Transaction): void {
    expect(tx.active).toBe(false);
    const uses: (() => unknown)[] = [
      () => tx.get('k'),
      () => tx.getEntry('k'),
      () => tx.has('k'),
      () => tx.scan(),
      () => tx.byRun('r'),
      () => tx.byType('t'),
      () => tx.put('k', 1),
      () => tx.delete('k'),
    ];
    for (const use of uses) expectFinished(thrownBy(use));
  }

  it('after commit: every call throws TransactionFinishedError, commit() rejects, abort() is a no-op', async () => {
    const db = await fresh();
    const tx = db.begin();
    tx.put('k', 'v');
    const v = await tx.commit();
    expect(tx.commitVersion).toBe(v);
    expectAllRefused(tx);
    expectFinished(await rejectionOf(tx.commit()));
    tx.abort();
    expect(db.get('k')).toBe('v');
    expect(db.version).toBe(v);
    expect(thrownBy(() => tx.put('k', 1))).toHaveProperty('message', expect.stringContaining('committed'));
  });

  it('after abort: every call throws, the writes are discarded, abort() is idempotent', async () => {
    const db = await fresh();
    const tx = db.begin();
    tx.put('k', 'v');
    tx.abort();
    tx.abort();
    expectAllRefused(tx);
    expectFinished(await rejectionOf(tx.commit()));
    expect(db.has('k')).toBe(false);
    expect(db.version).toBe(0);
    expect(db.stats().openTransactions).toBe(0);
    expect(thrownBy(() => tx.get('k'))).toHaveProperty('message', expect.stringContaining('aborted'));
  });

  it('after a failed commit (conflict) the transaction is finished', async () => {
    const db = await fresh();
    const tx = db.begin();
    tx.put('k', 'tx');
    await db.put('k', 'other');
    expectConflict(await rejectionOf(tx.commit()), 'k');
    expectAllRefused(tx);
  });

  it('the transaction handed to db.transaction() is finished once the call resolves', async () => {
    const db = await fresh();
    const tx = await db.transaction((t) => {
      t.put('k', 1);
      return t;
    });
    expectAllRefused(tx);
    expect(tx.commitVersion).toBe(db.version);
  });

  it('a scan iterator stops with TransactionFinishedError once the transaction has finished', async () => {
    const db = await fresh();
    await db.batch([
      { op: 'put', key: 'a', value: 1 },
      { op: 'put', key: 'b', value: 2 },
    ]);
    const tx = db.begin();
    const it = tx.scan();
    expect(it.next().value?.key).toBe('a');
    tx.abort();
    expectFinished(thrownBy(() => it.next()));
  });

  it('a scan iterator holding only own writes also stops once the transaction has finished (no discarded writes leak)', async () => {
    const db = await fresh();
    for (const finish of [(tx: Transaction) => tx.abort(), (tx: Transaction) => tx.commit()]) {
      const tx = db.begin();
      tx.put('own1', 'pending');
      tx.put('own2', 'pending');
      const iterator = tx.scan();
      const byRun = tx.byType('nothing');
      await finish(tx);
      expectFinished(thrownBy(() => iterator.next()));
      // An index scan with no entries at all may simply end, but must not yield anything.
      let yielded: unknown[] = [];
      try {
        yielded = [...byRun];
      } catch (error) {
        expectFinished(error);
      }
      expect(yielded).toEqual([]);
    }
  });
});

// ---------------------------------------------------------------- versions and atomic visibility

describe('commit versions', () => {
  it('a read-only commit takes no new version and resolves to the start version', async () => {
    const db = await fresh();
    await db.put('k', 1);
    const start = db.version;
    for (const isolation of ['snapshot', 'serializable'] as const) {
      const tx = db.begin({ isolation });
      expect(tx.get('k')).toBe(1);
      expect(keysOf(tx.scan())).toEqual(['k']);
      expect(await tx.commit()).toBe(start);
      expect(tx.commitVersion).toBe(start);
    }
    expect(await db.transaction((tx) => tx.get('k'))).toBe(1);
    const empty = db.begin();
    expect(await empty.commit()).toBe(start);
    expect(db.version).toBe(start);
  });

  it('a read-only commit still reports the start version when others committed meanwhile', async () => {
    const db = await fresh();
    const tx = db.begin();
    await db.put('x', 1);
    expect(await tx.commit()).toBe(0);
    expect(db.version).toBe(1);
  });

  it('all writes of a transaction share exactly one new version', async () => {
    const db = await fresh();
    await db.batch([
      { op: 'put', key: 'old1', value: 1 },
      { op: 'put', key: 'old2', value: 2 },
    ]);
    const before = db.version;
    const tx = db.begin();
    tx.put('a', 1);
    tx.put('b', 2);
    tx.put('old1', 'x');
    tx.put('a', 'again'); // same key twice: still one version
    tx.delete('old2');
    const v = await tx.commit();
    expect(v).toBe(before + 1);
    expect(db.version).toBe(v);
    expect(tx.commitVersion).toBe(v);
    for (const key of ['a', 'b', 'old1']) expect(db.getEntry(key)?.version).toBe(v);
    expect(db.get('a')).toBe('again');
    expect(db.has('old2')).toBe(false);
  });

  it('a transaction becomes visible atomically: no reader ever sees part of it', async () => {
    const db = await fresh({ retainVersions: 100 });
    const KEYS = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    await db.batch(KEYS.map((key) => ({ op: 'put' as const, key, value: 'old' })));
    const before = db.version;

    let done = false;
    const observations: number[] = [];
    const observer = (async () => {
      while (!done) {
        const fresh = KEYS.filter((k) => db.get(k) === 'new').length;
        const scanned = [...db.scan()].filter((e) => e.value === 'new').length;
        observations.push(fresh, scanned);
        // Alternate microtask and macrotask yields (microtasks alone would starve setImmediate).
        await (observations.length % 4 === 0 ? tick() : Promise.resolve());
      }
    })();

    const v = await db.transaction(async (tx) => {
      for (const key of KEYS) {
        tx.put(key, 'new');
        await Promise.resolve(); // let the observer run between every own write
        await tick();
      }
      return 'ok';
    });
    await tick();
    done = true;
    await observer;
    expect(v).toBe('ok');
    expect(observations.length).toBeGreaterThan(40);
    expect(observations.every((n) => n === 0 || n === KEYS.length)).toBe(true);
    expect(observations.at(-1)).toBe(KEYS.length);
    expect(observations[0]).toBe(0);

    const version = before + 1;
    expect(db.version).toBe(version);
    using atBefore = db.snapshotAt(before);
    using atCommit = db.snapshotAt(version);
    expect([...atBefore.scan()].every((e) => e.value === 'old')).toBe(true);
    expect([...atCommit.scan()].every((e) => e.value === 'new' && e.version === version)).toBe(true);
  });
});

// ---------------------------------------------------------------- ifVersion

describe('ifVersion inside a transaction is checked at commit', () => {
  it('a stale ifVersion is accepted by put() but fails the commit with VersionMismatchError, applying nothing', async () => {
    const db = await fresh();
    const v1 = await db.put('k', 'one');
    const v2 = await db.put('k', 'two');
    const tx = db.begin();
    tx.put('k', 'three', { ifVersion: v1 }); // no error yet
    tx.put('other', 'x');
    expect(tx.get('k')).toBe('three');

    const error = await rejectionOf(tx.commit());
    expect(error).toBeInstanceOf(VersionMismatchError);
    expect(error).toMatchObject({ code: 'VERSION_MISMATCH', key: 'k', expected: v1, actual: v2 });
    expect(tx.active).toBe(false);
    expect(db.get('k')).toBe('two');
    expect(db.has('other')).toBe(false);
    expect(db.version).toBe(v2);
    expect(db.stats().openTransactions).toBe(0);
  });

  it('ifVersion 0 / null on an existing key, and a delete with a wrong ifVersion, fail the same way', async () => {
    const db = await fresh();
    const v = await db.put('k', 1);
    for (const write of [
      (tx: Transaction) => tx.put('k', 2, { ifVersion: 0 }),
      (tx: Transaction) => tx.put('k', 2, { ifVersion: null }),
      (tx: Transaction) => tx.delete('k', { ifVersion: v + 7 }),
      (tx: Transaction) => tx.put('absent', 2, { ifVersion: v }),
    ]) {
      const tx = db.begin();
      tx.put('marker', true);
      write(tx);
      expect(await rejectionOf(tx.commit())).toBeInstanceOf(VersionMismatchError);
      expect(db.has('marker')).toBe(false);
      expect(db.get('k')).toBe(1);
      expect(db.version).toBe(v);
    }
  });

  it('matching ifVersions commit', async () => {
    const db = await fresh();
    const v = await db.put('k', 1);
    const tx = db.begin();
    tx.put('k', 2, { ifVersion: v });
    tx.put('new', 1, { ifVersion: 0 });
    tx.put('new2', 1, { ifVersion: null });
    const committed = await tx.commit();
    expect(committed).toBe(v + 1);
    expect([db.get('k'), db.get('new'), db.get('new2')]).toEqual([2, 1, 1]);
    const del = db.begin();
    del.delete('k', { ifVersion: committed });
    await del.commit();
    expect(db.has('k')).toBe(false);
  });

  it('the check sees the state at commit time: a key that expired after the start no longer has its version', async () => {
    const clock = new ManualClock(1_000);
    const db = await fresh({ clock });
    const v = await db.put('k', 1, { ttl: 100 });
    const tx = db.begin();
    expect(tx.get('k')).toBe(1);
    tx.put('k', 2, { ifVersion: v });
    clock.advance(500);
    const error = await rejectionOf(tx.commit());
    expect(error).toMatchObject({ code: 'VERSION_MISMATCH', key: 'k', expected: v, actual: 0 });
  });
});

// ---------------------------------------------------------------- TTL

describe('TTL inside a transaction is judged at its start time', () => {
  it('entries alive at the start stay visible inside the transaction after they expire outside it', async () => {
    const clock = new ManualClock(1_000);
    const db = await fresh({ clock });
    await db.put('short', 's', { ttl: 100, run: 'r', type: 't' }); // expires at 1100
    await db.put('long', 'l', { ttl: 10_000 });
    clock.set(1_050);
    const tx = db.begin();
    clock.set(1_200);

    expect(db.get('short')).toBeUndefined();
    expect(db.has('short')).toBe(false);
    expect(tx.get('short')).toBe('s');
    expect(tx.has('short')).toBe(true);
    expect(tx.getEntry('short')?.expiresAt).toBe(1_100);
    expect(keysOf(tx.scan())).toEqual(['long', 'short']);
    expect(keysOf(tx.byRun('r'))).toEqual(['short']);
    expect(keysOf(tx.byType('t'))).toEqual(['short']);

    // A transaction started after the expiry does not see it.
    const later = db.begin();
    expect(later.has('short')).toBe(false);
    expect(keysOf(later.scan())).toEqual(['long']);
    tx.abort();
    later.abort();
  });

  it("own writes with ttl / expiresAt are judged at the start too; the committed ttl counts from the commit", async () => {
    const clock = new ManualClock(10_000);
    const db = await fresh({ clock });
    const tx = db.begin(); // starts at 10_000
    tx.put('ttl', 1, { ttl: 50 });
    tx.put('future', 2, { expiresAt: 10_010 });
    tx.put('past', 3, { expiresAt: 9_999 });
    tx.put('now', 4, { expiresAt: 10_000 }); // expiry is exclusive: expired at exactly its time
    clock.set(20_000);

    expect(tx.get('ttl')).toBe(1);
    expect(tx.getEntry('ttl')?.expiresAt).toBe(10_050);
    expect(tx.has('future')).toBe(true);
    expect(tx.has('past')).toBe(false);
    expect(tx.get('past')).toBeUndefined();
    expect(tx.getEntry('now')).toBeUndefined();
    expect(keysOf(tx.scan())).toEqual(['future', 'ttl']);

    await tx.commit(); // at 20_000
    expect(db.getEntry('ttl')?.expiresAt).toBe(20_050);
    expect(db.get('ttl')).toBe(1);
    expect(db.has('future')).toBe(false); // expired by commit time
    expect(db.has('past')).toBe(false);
  });
});

describe('TTL reclamation by background maintenance vs open transactions', () => {
  /** Waits (in real time) until the maintenance timer has reclaimed `n` expired entries. */
  async function reclaimed(db: Database, n: number): Promise<void> {
    const deadline = Date.now() + 3_000;
    while (db.stats().reclaimedExpired < n) {
      if (Date.now() > deadline) throw new Error('the TTL cleaner did not run');
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  it('an entry alive at the start and reclaimed meanwhile stays readable inside the transaction', async () => {
    const clock = new ManualClock(1_000);
    const db = await fresh({ clock, maintenance: { intervalMs: 1 } });
    await db.put('k', 'v', { ttl: 10 });
    const tx = db.begin();
    clock.advance(100);
    await reclaimed(db, 1);
    expect(db.has('k')).toBe(false);
    expect(tx.get('k')).toBe('v');
    expect(keysOf(tx.scan())).toEqual(['k']);
    tx.put('other', 1);
    await tx.commit(); // snapshot isolation: it only read k
    expect(db.get('other')).toBe(1);
  });

  it('regression: writing a key that had already expired before the transaction began must not conflict with the cleaner reclaiming it', async () => {
    const clock = new ManualClock(1_000);
    const db = await fresh({ clock, maintenance: { intervalMs: 1 } });
    await db.put('k', 'old', { ttl: 10 });
    clock.advance(100); // k is expired (invisible to everyone) before the transaction starts
    const tx = db.begin();
    expect(tx.has('k')).toBe(false);
    tx.put('k', 'new');
    await reclaimed(db, 1); // the background cleaner commits an 'expire' delete of k
    // Nothing this transaction could see changed (k was absent and is still absent), and no other
    // transaction wrote k, so commit() succeeds (it used to reject with ConflictError { key: 'k' }).
    await tx.commit();
    expect(db.get('k')).toBe('new');
  });

  it("regression: a 'serializable' read of an already-expired key must not conflict with the cleaner reclaiming it", async () => {
    const clock = new ManualClock(1_000);
    const db = await fresh({ clock, maintenance: { intervalMs: 1 } });
    await db.put('gone', 'old', { ttl: 10 });
    clock.advance(100);
    const tx = db.begin({ isolation: 'serializable' });
    expect(tx.get('gone')).toBeUndefined();
    expect(keysOf(tx.scan())).toEqual([]);
    tx.put('result', 'nothing to see');
    await reclaimed(db, 1);
    // What it read ("gone" absent, empty scan) is exactly what a serial execution now would read,
    // so commit() succeeds (it used to reject with ConflictError { key: 'gone' }).
    await tx.commit();
    expect(db.get('result')).toBe('nothing to see');
  });
});

// ---------------------------------------------------------------- await using

describe('await using', () => {
  it('disposal aborts an unfinished transaction', async () => {
    const db = await fresh();
    let escaped: Transaction | undefined;
    {
      await using tx = db.begin();
      escaped = tx;
      tx.put('k', 'v');
      expect(db.stats().openTransactions).toBe(1);
    }
    expect(escaped.active).toBe(false);
    expectFinished(thrownBy(() => escaped!.get('k')));
    expect(db.has('k')).toBe(false);
    expect(db.version).toBe(0);
    expect(db.stats().openTransactions).toBe(0);
  });

  it('disposal aborts when the block is left by an exception', async () => {
    const db = await fresh();
    let escaped: Transaction | undefined;
    const boom = new Error('boom');
    const run = async (): Promise<void> => {
      await using tx = db.begin();
      escaped = tx;
      tx.put('k', 'v');
      throw boom;
    };
    expect(await rejectionOf(run())).toBe(boom);
    expect(escaped!.active).toBe(false);
    expect(db.has('k')).toBe(false);
  });

  it('disposal after a commit changes nothing', async () => {
    const db = await fresh();
    {
      await using tx = db.begin();
      tx.put('k', 'v');
      await tx.commit();
    }
    expect(db.get('k')).toBe('v');
    expect(db.version).toBe(1);
  });
});

// ---------------------------------------------------------------- serializable

describe("'serializable' isolation", () => {
  const reads: [string, (tx: Transaction) => unknown][] = [
    ['get', (tx) => tx.get('read')],
    ['has', (tx) => tx.has('read')],
    ['getEntry', (tx) => tx.getEntry('read')],
  ];

  for (const [name, read] of reads) {
    it(`a key read with ${name}() and changed by a concurrent commit -> ConflictError (not under 'snapshot')`, async () => {
      for (const change of [(db: Database) => db.put('read', 2), (db: Database) => db.delete('read')]) {
        const db = await fresh();
        await db.put('read', 1);
        const ser = db.begin({ isolation: 'serializable' });
        const snap = db.begin({ isolation: 'snapshot' });
        for (const tx of [ser, snap]) {
          read(tx);
          tx.put(`written-${tx.isolation}`, true);
        }
        await change(db);
        expectConflict(await rejectionOf(ser.commit()), 'read');
        expect(db.has('written-serializable')).toBe(false);
        await snap.commit();
        expect(db.get('written-snapshot')).toBe(true);
      }
    });
  }

  it('reading an absent key that a concurrent commit creates -> ConflictError', async () => {
    const db = await fresh();
    const tx = db.begin({ isolation: 'serializable' });
    expect(tx.has('ghost')).toBe(false);
    tx.put('w', 1);
    await db.put('ghost', 'boo');
    expectConflict(await rejectionOf(tx.commit()), 'ghost');
  });

  it('changes committed before the start, and changes to keys not read, do not conflict', async () => {
    const db = await fresh();
    await db.put('read', 1);
    await db.put('read', 2);
    const tx = db.begin({ isolation: 'serializable' });
    expect(tx.get('read')).toBe(2);
    tx.put('w', 1);
    await db.put('unrelated', 1);
    await db.delete('unrelated');
    expect(await tx.commit()).toBe(db.version);
    expect(db.get('w')).toBe(1);
  });

  it('keys the transaction wrote before reading are covered by the write-write check', async () => {
    const db = await fresh();
    const tx = db.begin({ isolation: 'serializable' });
    tx.put('k', 'mine');
    expect(tx.get('k')).toBe('mine');
    await db.put('k', 'theirs');
    expectConflict(await rejectionOf(tx.commit()), 'k');
  });

  describe('scanned ranges', () => {
    async function setup(): Promise<Database> {
      const db = await fresh();
      await db.batch([
        { op: 'put', key: 'a1', value: 1, run: 'r', type: 't' },
        { op: 'put', key: 'b1', value: 1, run: 'r', type: 't' },
        { op: 'put', key: 'b3', value: 1, run: 'r', type: 't' },
        { op: 'put', key: 'c1', value: 1, run: 'r', type: 't' },
      ]);
      return db;
    }

    type Case = { name: string; read: (tx: Transaction) => unknown; inside: (db: Database) => Promise<unknown>; key: string; outside: (db: Database) => Promise<unknown> };
    const cases: Case[] = [
      { name: 'scan prefix', read: (tx) => [...tx.scan({ prefix: 'b' })], inside: (db) => db.put('b2', 1), key: 'b2', outside: (db) => db.put('a2', 1) },
      { name: 'scan prefix (delete inside)', read: (tx) => [...tx.scan({ prefix: 'b' })], inside: (db) => db.delete('b3'), key: 'b3', outside: (db) => db.delete('c1') },
      { name: 'scan prefix (update inside)', read: (tx) => [...tx.scan({ prefix: 'b' })], inside: (db) => db.put('b1', 2), key: 'b1', outside: (db) => db.put('a1', 2) },
      { name: 'scan gt/lt', read: (tx) => [...tx.scan({ gt: 'a1', lt: 'c1' })], inside: (db) => db.put('b0', 1), key: 'b0', outside: (db) => db.put('c1', 2) },
      { name: 'scan exclusive lower bound', read: (tx) => [...tx.scan({ gt: 'b1', lte: 'b9' })], inside: (db) => db.put('b2', 1), key: 'b2', outside: (db) => db.put('b1', 2) },
      { name: 'scan reverse', read: (tx) => [...tx.scan({ gte: 'b', reverse: true })], inside: (db) => db.put('zz', 1), key: 'zz', outside: (db) => db.put('a0', 1) },
      { name: 'empty scan', read: (tx) => [...tx.scan({ prefix: 'q' })], inside: (db) => db.put('q1', 1), key: 'q1', outside: (db) => db.put('p1', 1) },
      {
        name: 'byRun',
        read: (tx) => [...tx.byRun('r', { prefix: 'b' })],
        inside: (db) => db.put('b2', 1, { run: 'r' }),
        key: 'b2',
        outside: (db) => db.batch([{ op: 'put', key: 'b2', value: 1, run: 'other' }, { op: 'put', key: 'a5', value: 1, run: 'r' }]),
      },
      { name: 'byRun (key leaves the run)', read: (tx) => [...tx.byRun('r')], inside: (db) => db.put('a1', 1, { run: 'gone' }), key: 'a1', outside: (db) => db.put('x', 1, { run: 'q' }) },
      {
        name: 'byType',
        read: (tx) => [...tx.byType('t', { gte: 'b', lt: 'c' })],
        inside: (db) => db.put('b2', 1, { type: 't' }),
        key: 'b2',
        outside: (db) => db.batch([{ op: 'put', key: 'b2', value: 1, type: 'u' }, { op: 'put', key: 'c5', value: 1, type: 't' }]),
      },
    ];

    for (const c of cases) {
      it(`${c.name}: a change inside the range -> ConflictError; a change outside does not conflict`, async () => {
        {
          const db = await setup();
          const tx = db.begin({ isolation: 'serializable' });
          c.read(tx);
          tx.put('result', 'inside');
          await c.inside(db);
          expectConflict(await rejectionOf(tx.commit()), c.key);
          expect(db.has('result')).toBe(false);
        }
        {
          const db = await setup();
          const tx = db.begin({ isolation: 'serializable' });
          c.read(tx);
          tx.put('result', 'outside');
          await c.outside(db);
          await tx.commit();
          expect(db.get('result')).toBe('outside');
        }
        {
          // Under 'snapshot' ranges are not validated at all.
          const db = await setup();
          const tx = db.begin({ isolation: 'snapshot' });
          c.read(tx);
          tx.put('result', 'snapshot');
          await c.inside(db);
          await tx.commit();
          expect(db.get('result')).toBe('snapshot');
        }
      });
    }

    it('a range conflict is retried by transaction() and the retry sees the insert', async () => {
      const db = await setup();
      let attempts = 0;
      const count = await db.transaction(
        async (tx) => {
          attempts++;
          const n = [...tx.scan({ prefix: 'b' })].length;
          if (attempts === 1) await db.put('b2', 1);
          tx.put('count', n);
          return n;
        },
        { isolation: 'serializable', retries: 1 },
      );
      expect(attempts).toBe(2);
      expect(count).toBe(3);
      expect(db.get('count')).toBe(3);
    });
  });

  it('read-only serializable transactions never conflict, however much changes underneath', async () => {
    const db = await fresh();
    await db.batch([
      { op: 'put', key: 'a', value: 1, run: 'r', type: 't' },
      { op: 'put', key: 'b', value: 2, run: 'r', type: 't' },
    ]);
    const start = db.version;
    const txs = Array.from({ length: 5 }, () => db.begin({ isolation: 'serializable' }));
    for (const tx of txs) {
      tx.get('a');
      tx.has('zzz');
      tx.getEntry('b');
      [...tx.scan()];
      [...tx.byRun('r')];
      [...tx.byType('t')];
    }
    await db.put('a', 10, { run: 'r', type: 't' });
    await db.delete('b');
    await db.put('zzz', 1, { run: 'r', type: 't' });
    for (const tx of txs) {
      expect(tx.get('a')).toBe(1);
      expect(await tx.commit()).toBe(start);
    }
    let attempts = 0;
    const sum = await db.transaction(
      async (tx) => {
        attempts++;
        const before = [...tx.scan()].reduce((s, e) => s + (e.value as number), 0);
        await db.put('a', 1000);
        await tick();
        return before;
      },
      { isolation: 'serializable', retries: 0 },
    );
    expect(attempts).toBe(1);
    expect(sum).toBe(11);
  });
});
