import { afterEach, describe, expect, test } from 'vitest';
import * as core from '@epochdb/core';
import {
  ConflictError,
  DatabaseClosedError,
  ERROR_CODES,
  EpochError,
  InvalidKeyError,
  InvalidOptionError,
  InvalidValueError,
  ManualClock,
  SnapshotReleasedError,
  TransactionFinishedError,
  VersionMismatchError,
  VersionUnavailableError,
  open,
  type Database,
  type Entry,
  type ErrorCode,
  type OpenOptions,
} from 'epochdb';

// ---------------------------------------------------------------- helpers

const T0 = 1_700_000_000_000;
const dbs: Database[] = [];

async function fresh(options: OpenOptions = {}): Promise<Database> {
  const db = await open({ clock: new ManualClock(T0), maintenance: { intervalMs: 0 }, ...options });
  dbs.push(db);
  return db;
}

afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close();
});

/** A database with plain, copy-on-read, tagged, TTL'd and deleted entries (version 6). */
async function seeded(options: OpenOptions = {}): Promise<Database> {
  const db = await fresh(options);
  await db.put('a', { n: 1, list: [1, 2] }, { run: 'r1', type: 't1' });
  await db.put('b', [1, 'two', null], { type: 't1' });
  await db.put('c', new Map<unknown, unknown>([['k', new Date(5)]]), { run: 'r2' });
  await db.put('d', 'gone', { run: 'r1' });
  await db.delete('d');
  await db.put('e', 5n, { ttl: 60_000, type: 't2' });
  expect(db.version).toBe(6);
  return db;
}

const plain = (e: Entry): Record<string, unknown> => ({ key: e.key, value: e.value, version: e.version, run: e.run, type: e.type, expiresAt: e.expiresAt });

/** Everything observable about the database, to compare before and after a failed call. */
function state(db: Database): unknown {
  const stats = db.stats();
  return {
    version: db.version,
    oldestVersion: db.oldestVersion,
    entries: [...db.scan()].map(plain),
    reversed: [...db.scan({ reverse: true })].map((e) => e.key),
    byRun: ['r1', 'r2'].map((run) => [...db.byRun(run)].map((e) => e.key)),
    byType: ['t1', 't2'].map((type) => [...db.byType(type)].map((e) => e.key)),
    stats: { keys: stats.keys, storedVersions: stats.storedVersions, openSnapshots: stats.openSnapshots, openTransactions: stats.openTransactions, ttlEntries: stats.ttlEntries },
  };
}

/** Expects `fn` to throw synchronously an EpochError with `code`. */
function expectThrowsCode(fn: () => unknown, code: ErrorCode): EpochError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(EpochError);
  expect(error).toMatchObject({ code });
  return error as EpochError;
}

/** Expects `make` to return (not throw) a promise that rejects with an EpochError with `code`. */
async function expectRejectsCode(make: () => Promise<unknown>, code: ErrorCode): Promise<void> {
  let promise: Promise<unknown> | undefined;
  expect(() => {
    promise = make();
  }).not.toThrow();
  expect(promise).toBeInstanceOf(Promise);
  await expect(promise).rejects.toBeInstanceOf(EpochError);
  await expect(promise).rejects.toMatchObject({ code });
}

const BAD_KEYS: readonly [string, unknown][] = [
  ['a number', 1],
  ['null', null],
  ['undefined', undefined],
  ['an object', { key: 'a' }],
  ['a symbol', Symbol('k')],
  ['empty', ''],
  ['a lone surrogate', 'a\uD800'],
  ['over maxKeyBytes', 'x'.repeat(1025)],
  ['over maxKeyBytes in UTF-8 only', '€'.repeat(342)],
];

// ---------------------------------------------------------------- the public surface

test('the error classes exported by epochdb are the ones the core throws', () => {
  expect(EpochError).toBe(core.EpochError);
  expect(InvalidKeyError).toBe(core.InvalidKeyError);
  expect(InvalidValueError).toBe(core.InvalidValueError);
  expect(InvalidOptionError).toBe(core.InvalidOptionError);
  expect(DatabaseClosedError).toBe(core.DatabaseClosedError);
  expect(SnapshotReleasedError).toBe(core.SnapshotReleasedError);
  expect(TransactionFinishedError).toBe(core.TransactionFinishedError);
  expect(ConflictError).toBe(core.ConflictError);
  expect(VersionMismatchError).toBe(core.VersionMismatchError);
  expect(VersionUnavailableError).toBe(core.VersionUnavailableError);
  expect(ERROR_CODES).toBe(core.ERROR_CODES);
});

describe('open() with bad options rejects (never throws) with INVALID_OPTION', () => {
  test.each<[string, unknown]>([
    ['null', null],
    ['a string', '/tmp/db'],
    ['an unknown name', { directory: '/tmp/db' }],
    ['maxKeyBytes 0', { maxKeyBytes: 0 }],
    ['maxKeyBytes too large', { maxKeyBytes: 65_536 }],
    ['maxValueBytes fractional', { maxValueBytes: 1.5 }],
    ['retainVersions negative', { retainVersions: -1 }],
    ['a clock without now()', { clock: {} }],
    ['a clock whose now is not a function', { clock: { now: 5 } }],
    ['maintenance.intervalMs negative', { maintenance: { intervalMs: -1 } }],
    ['maintenance.sliceMs 0', { maintenance: { sliceMs: 0 } }],
    ['an unknown maintenance name', { maintenance: { everyMs: 5 } }],
  ])('%s', async (_label, options) => {
    expect.assertions(5);
    await expectRejectsCode(() => open(options as OpenOptions), 'INVALID_OPTION');
    await expect(open(options as OpenOptions)).rejects.toBeInstanceOf(InvalidOptionError);
  });

  test('the message names the unknown option', async () => {
    await expect(open({ bogusOption: 1 } as OpenOptions)).rejects.toThrow(/"bogusOption"/);
  });
});

// ---------------------------------------------------------------- reads

describe('reads with bad input throw the typed error and change nothing', () => {
  test.each(BAD_KEYS)('get / getEntry / has with a key that is %s: INVALID_KEY', async (_label, key) => {
    const db = await seeded();
    const before = state(db);
    for (const read of [() => db.get(key as string), () => db.getEntry(key as string), () => db.has(key as string)]) {
      expect(expectThrowsCode(read, 'INVALID_KEY')).toBeInstanceOf(InvalidKeyError);
    }
    expect(state(db)).toStrictEqual(before);
  });

  test('a key exactly at maxKeyBytes is fine, one byte over is INVALID_KEY', async () => {
    const db = await fresh({ maxKeyBytes: 10 });
    await db.put('€€€a', 1); // 3 + 3 + 3 + 1 = 10 bytes
    expect(db.get('€€€a')).toBe(1);
    const before = state(db);
    expectThrowsCode(() => db.get('€€€ab'), 'INVALID_KEY');
    await expectRejectsCode(() => db.put('€€€€', 1), 'INVALID_KEY');
    expect(state(db)).toStrictEqual(before);
  });

  test.each<[string, unknown]>([
    ['negative limit', { limit: -1 }],
    ['fractional limit', { limit: 1.5 }],
    ['NaN limit', { limit: NaN }],
    ['gt with gte', { gt: 'a', gte: 'a' }],
    ['lt with lte', { lt: 'z', lte: 'z' }],
    ['an unknown name', { from: 'a' }],
    ['a non-boolean reverse', { reverse: 'yes' }],
    ['a non-string prefix', { prefix: 1 }],
    ['null', null],
    ['a string', 'a'],
  ])('scan / byRun / byType with %s: INVALID_OPTION', async (_label, options) => {
    const db = await seeded();
    const before = state(db);
    expectThrowsCode(() => db.scan(options as object), 'INVALID_OPTION');
    expectThrowsCode(() => db.byRun('r1', options as object), 'INVALID_OPTION');
    expectThrowsCode(() => db.byType('t1', options as object), 'INVALID_OPTION');
    expect(state(db)).toStrictEqual(before);
  });

  test.each<[string, unknown]>([
    ['empty', ''],
    ['with U+0000', 'r\u0000'],
    ['too long', 'r'.repeat(257)],
    ['a lone surrogate', '\uDC00'],
    ['a number', 1],
    ['undefined', undefined],
  ])('byRun / byType with a tag that is %s: INVALID_OPTION', async (_label, tag) => {
    const db = await seeded();
    const before = state(db);
    expectThrowsCode(() => db.byRun(tag as string), 'INVALID_OPTION');
    expectThrowsCode(() => db.byType(tag as string), 'INVALID_OPTION');
    expect(state(db)).toStrictEqual(before);
  });

  test('bad scan options throw at the call, not lazily at the first next()', async () => {
    const db = await seeded();
    expect.assertions(7); // 1 in seeded(), 2 per expectThrowsCode
    expectThrowsCode(() => db.scan({ limit: -1 }), 'INVALID_OPTION');
    expectThrowsCode(() => db.byRun('', {}), 'INVALID_OPTION');
    expectThrowsCode(() => db.byType('t1', { gt: 'a', gte: 'b' }), 'INVALID_OPTION');
  });
});

// ---------------------------------------------------------------- writes

describe('writes with bad input return a rejected promise and change nothing', () => {
  test.each(BAD_KEYS)('put / delete with a key that is %s: INVALID_KEY', async (_label, key) => {
    const db = await seeded();
    const before = state(db);
    await expectRejectsCode(() => db.put(key as string, 1), 'INVALID_KEY');
    await expectRejectsCode(() => db.delete(key as string), 'INVALID_KEY');
    await expectRejectsCode(() => db.batch([{ op: 'put', key: key as string, value: 1 }]), 'INVALID_KEY');
    await expectRejectsCode(() => db.batch([{ op: 'delete', key: key as string }]), 'INVALID_KEY');
    expect(state(db)).toStrictEqual(before);
  });

  const cyclic = (): unknown => {
    const o: Record<string, unknown> = {};
    o['self'] = o;
    return o;
  };

  test.each<[string, () => unknown, string]>([
    ['undefined', () => undefined, 'put(): value must not be undefined'],
    ['a function', () => () => 1, 'put(): value is a function'],
    ['a nested function', () => ({ a: [0, 1, () => 1] }), 'put(): value.a[2] is a function'],
    ['a symbol', () => Symbol('v'), 'put(): value is a symbol'],
    ['a cyclic object', cyclic, 'put(): value.self is a cyclic reference'],
    ['a lone surrogate string', () => ['ok', '\uD800'], 'put(): value[1] is a string with a lone surrogate'],
    ['an own __proto__ key', () => JSON.parse('{"__proto__":{"polluted":true}}') as unknown, '"__proto__"'],
    ['a class instance', () => new (class Widget {})(), 'instance of Widget'],
    ['a RegExp', () => /x/, 'instance of RegExp'],
    ['a Promise', () => Promise.resolve(1), 'instance of Promise'],
  ])('put with a value that is %s: INVALID_VALUE naming the path', async (_label, make, message) => {
    const db = await seeded();
    const before = state(db);
    await expectRejectsCode(() => db.put('a', make()), 'INVALID_VALUE');
    await expect(db.put('new', make())).rejects.toThrow(message);
    expect(state(db)).toStrictEqual(before);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  test('put over maxValueBytes: INVALID_VALUE; exactly at the limit is fine', async () => {
    const db = await fresh({ maxValueBytes: 64 });
    const before = state(db);
    await expectRejectsCode(() => db.put('big', 'x'.repeat(100)), 'INVALID_VALUE');
    await expect(db.put('big', new Uint8Array(100))).rejects.toThrow(/maxValueBytes/);
    expect(state(db)).toStrictEqual(before);
    const fits = 'x'.repeat(61); // msgpack str8: 2 header bytes + 61 = 63
    await expect(db.put('ok', fits)).resolves.toBe(1);
  });

  test.each<[string, unknown]>([
    ['an unknown name', { tll: 5 }],
    ['ttl 0', { ttl: 0 }],
    ['negative ttl', { ttl: -5 }],
    ['NaN ttl', { ttl: NaN }],
    ['Infinity ttl', { ttl: Infinity }],
    ['ttl and expiresAt', { ttl: 5, expiresAt: T0 + 5 }],
    ['non-finite expiresAt', { expiresAt: Infinity }],
    ['negative ifVersion', { ifVersion: -1 }],
    ['fractional ifVersion', { ifVersion: 1.5 }],
    ['string ifVersion', { ifVersion: '1' }],
    ['empty run', { run: '' }],
    ['type with U+0000', { type: 'a\u0000b' }],
    ['too long run', { run: 'r'.repeat(257) }],
    ['null options', null],
  ])('put with %s: INVALID_OPTION', async (_label, options) => {
    const db = await seeded();
    const before = state(db);
    await expectRejectsCode(() => db.put('a', 2, options as object), 'INVALID_OPTION');
    await expectRejectsCode(() => db.put('fresh', 2, options as object), 'INVALID_OPTION');
    expect(state(db)).toStrictEqual(before);
  });

  test('the INVALID_OPTION message names the unknown option', async () => {
    const db = await fresh();
    await expect(db.put('a', 1, { tll: 5 } as object)).rejects.toThrow(/"tll"/);
    await expect(db.delete('a', { force: true } as object)).rejects.toThrow(/"force"/);
  });

  test.each<[string, unknown]>([
    ['a ttl', { ttl: 5 }],
    ['an unknown name', { force: true }],
    ['negative ifVersion', { ifVersion: -1 }],
    ['fractional ifVersion', { ifVersion: 0.5 }],
    ['a string', 'a'],
  ])('delete with %s: INVALID_OPTION', async (_label, options) => {
    const db = await seeded();
    const before = state(db);
    await expectRejectsCode(() => db.delete('a', options as object), 'INVALID_OPTION');
    expect(state(db)).toStrictEqual(before);
    expect(db.has('a')).toBe(true);
  });

  test('ifVersion mismatches: VERSION_MISMATCH with details, nothing written', async () => {
    const db = await seeded();
    const before = state(db);
    const versionOfA = db.getEntry('a')!.version;
    await expectRejectsCode(() => db.put('a', 'x', { ifVersion: versionOfA + 1 }), 'VERSION_MISMATCH');
    await expectRejectsCode(() => db.put('a', 'x', { ifVersion: 0 }), 'VERSION_MISMATCH');
    await expectRejectsCode(() => db.put('a', 'x', { ifVersion: null }), 'VERSION_MISMATCH');
    await expectRejectsCode(() => db.put('zzz', 'x', { ifVersion: 1 }), 'VERSION_MISMATCH');
    await expectRejectsCode(() => db.delete('a', { ifVersion: 99 }), 'VERSION_MISMATCH');
    await expectRejectsCode(() => db.delete('d', { ifVersion: 4 }), 'VERSION_MISMATCH'); // deleted at 5
    await expect(db.put('a', 'x', { ifVersion: 99 })).rejects.toMatchObject({ key: 'a', expected: 99, actual: versionOfA });
    expect(state(db)).toStrictEqual(before);
  });

  test.each<[string, unknown]>([
    ['an object', { 0: { op: 'put', key: 'x', value: 1 } }],
    ['null', null],
    ['undefined', undefined],
    ['a string', 'put x 1'],
  ])('batch with %s instead of an array: INVALID_OPTION', async (_label, ops) => {
    const db = await seeded();
    const before = state(db);
    await expectRejectsCode(() => db.batch(ops as never), 'INVALID_OPTION');
    expect(state(db)).toStrictEqual(before);
  });

  test.each<[string, unknown, ErrorCode]>([
    ['a bad key', { op: 'put', key: '', value: 1 }, 'INVALID_KEY'],
    ['a non-string key', { op: 'delete', key: 7 }, 'INVALID_KEY'],
    ['a missing key', { op: 'put', value: 1 }, 'INVALID_OPTION'],
    ['a function value', { op: 'put', key: 'm', value: () => 1 }, 'INVALID_VALUE'],
    ['an undefined value', { op: 'put', key: 'm', value: undefined }, 'INVALID_VALUE'],
    ['a cyclic value', { op: 'put', key: 'm', value: cyclic() }, 'INVALID_VALUE'],
    ['an unknown op', { op: 'upsert', key: 'm', value: 1 }, 'INVALID_OPTION'],
    ['an unknown option', { op: 'put', key: 'm', value: 1, tll: 5 }, 'INVALID_OPTION'],
    ['a bad ttl', { op: 'put', key: 'm', value: 1, ttl: -1 }, 'INVALID_OPTION'],
    ['ttl with expiresAt', { op: 'put', key: 'm', value: 1, ttl: 1, expiresAt: T0 }, 'INVALID_OPTION'],
    ['a bad run', { op: 'put', key: 'm', value: 1, run: '' }, 'INVALID_OPTION'],
    ['a value on delete', { op: 'delete', key: 'a', value: 1 }, 'INVALID_OPTION'],
    ['null', null, 'INVALID_OPTION'],
    ['an ifVersion mismatch', { op: 'delete', key: 'a', ifVersion: 99 }, 'VERSION_MISMATCH'],
    ['an ifVersion on a missing key', { op: 'put', key: 'nope', value: 1, ifVersion: 3 }, 'VERSION_MISMATCH'],
  ])('a batch with %s in the middle applies nothing', async (_label, bad, code) => {
    const db = await seeded();
    const before = state(db);
    const ops = [
      { op: 'put', key: 'first', value: 1 },
      { op: 'delete', key: 'a' },
      { op: 'put', key: 'b', value: 'changed', run: 'r2' },
      bad,
      { op: 'put', key: 'last', value: 2, type: 't2' },
      { op: 'delete', key: 'c' },
    ];
    await expectRejectsCode(() => db.batch(ops as never), code);
    expect(state(db)).toStrictEqual(before);
    expect(db.has('first')).toBe(false);
    expect(db.has('last')).toBe(false);
    expect(db.get('b')).toStrictEqual([1, 'two', null]);
  });

  test('the error of a bad batch op names its index', async () => {
    const db = await fresh();
    await expect(db.batch([{ op: 'put', key: 'a', value: 1 }, { op: 'put', key: 'b', value: () => 1 }])).rejects.toThrow('batch(): ops[1]');
    await expect(db.batch([{ op: 'put', key: 'a', value: 1 }, { op: 'put', key: '', value: 1 }])).rejects.toThrow('batch(): ops[1]');
  });
});

// ---------------------------------------------------------------- snapshots

describe('snapshots', () => {
  test.each<[string, (db: Database) => number, ErrorCode]>([
    ['fractional', () => 1.5, 'INVALID_OPTION'],
    ['negative', () => -1, 'INVALID_OPTION'],
    ['NaN', () => NaN, 'INVALID_OPTION'],
    ['Infinity', () => Infinity, 'INVALID_OPTION'],
    ['a numeric string', () => '3' as unknown as number, 'INVALID_OPTION'],
    ['missing', () => undefined as unknown as number, 'INVALID_OPTION'],
    ['beyond the safe integers', () => 2 ** 53, 'INVALID_OPTION'],
    ['in the future', (db) => db.version + 1, 'VERSION_UNAVAILABLE'],
    ['far in the future', () => 1_000_000, 'VERSION_UNAVAILABLE'],
    ['garbage-collected (below oldestVersion)', (db) => db.oldestVersion - 1, 'VERSION_UNAVAILABLE'],
    ['0 on a database with history gone', () => 0, 'VERSION_UNAVAILABLE'],
  ])('snapshotAt of a version that is %s', async (_label, version, code) => {
    const db = await seeded();
    const before = state(db);
    expect(db.oldestVersion).toBe(db.version); // nothing retained, nothing pinned
    expectThrowsCode(() => db.snapshotAt(version(db)), code);
    expect(state(db)).toStrictEqual(before);
  });

  test('snapshotAt respects retainVersions and pins: the horizon moves when the pin goes', async () => {
    const db = await seeded({ retainVersions: 2 });
    expect(db.oldestVersion).toBe(4);
    db.snapshotAt(4).release();
    expectThrowsCode(() => db.snapshotAt(3), 'VERSION_UNAVAILABLE');
    const pin = db.snapshotAt(5);
    await db.put('x', 1);
    await db.put('x', 2);
    await db.put('x', 3);
    expect(db.oldestVersion).toBe(5);
    db.snapshotAt(5).release();
    pin.release();
    expect(db.oldestVersion).toBe(db.version - 2);
    expectThrowsCode(() => db.snapshotAt(5), 'VERSION_UNAVAILABLE');
    expect(db.stats().openSnapshots).toBe(0);
  });

  test('snapshot methods with bad input throw the typed error', async () => {
    const db = await seeded();
    const snap = db.snapshot();
    const before = state(db);
    for (const [, key] of BAD_KEYS) {
      expectThrowsCode(() => snap.get(key as string), 'INVALID_KEY');
      expectThrowsCode(() => snap.getEntry(key as string), 'INVALID_KEY');
      expectThrowsCode(() => snap.has(key as string), 'INVALID_KEY');
    }
    expectThrowsCode(() => snap.scan({ limit: -1 }), 'INVALID_OPTION');
    expectThrowsCode(() => snap.scan({ gt: 'a', gte: 'a' }), 'INVALID_OPTION');
    expectThrowsCode(() => snap.scan({ bogus: 1 } as object), 'INVALID_OPTION');
    expectThrowsCode(() => snap.byRun(''), 'INVALID_OPTION');
    expectThrowsCode(() => snap.byRun('r1', { limit: 0.5 }), 'INVALID_OPTION');
    expectThrowsCode(() => snap.byType('t\u0000'), 'INVALID_OPTION');
    expect(state(db)).toStrictEqual(before);
    // The snapshot still works after all that.
    expect(snap.get('a')).toStrictEqual({ n: 1, list: [1, 2] });
    snap.release();
  });

  test('use after release: SNAPSHOT_RELEASED from every method, also mid-iteration; release is idempotent', async () => {
    const db = await seeded();
    const snap = db.snapshot();
    const scan = snap.scan();
    const byRun = snap.byRun('r1');
    const byType = snap.byType('t1');
    expect(scan.next().value?.key).toBe('a');
    snap.release();
    expect(snap.released).toBe(true);
    expect(db.stats().openSnapshots).toBe(0);
    for (const use of [
      () => snap.get('a'),
      () => snap.getEntry('a'),
      () => snap.has('a'),
      () => snap.scan(),
      () => snap.byRun('r1'),
      () => snap.byType('t1'),
      () => scan.next(),
      () => byRun.next(),
      () => byType.next(),
      () => [...snap.scan({ limit: 1 })],
    ]) {
      expect(expectThrowsCode(use, 'SNAPSHOT_RELEASED')).toBeInstanceOf(SnapshotReleasedError);
    }
    // Even with bad input, the released state is reported (the snapshot is unusable either way).
    expect(() => snap.get(1 as unknown as string)).toThrow(EpochError);
    snap.release();
    snap[Symbol.dispose]();
    expect(db.stats().openSnapshots).toBe(0);
  });
});

// ---------------------------------------------------------------- transactions

describe('transactions', () => {
  test.each<[string, unknown]>([
    ['an unknown isolation', { isolation: 'read-committed' }],
    ['negative retries', { retries: -1 }],
    ['too many retries', { retries: 1001 }],
    ['an unknown name', { timeout: 5 }],
    ['null', null],
  ])('begin / transaction with %s: INVALID_OPTION, no transaction left open', async (_label, options) => {
    const db = await seeded();
    const before = state(db);
    expectThrowsCode(() => db.begin(options as object), 'INVALID_OPTION');
    let ran = false;
    await expectRejectsCode(
      () =>
        db.transaction((tx) => {
          ran = true;
          tx.put('x', 1);
        }, options as object),
      'INVALID_OPTION',
    );
    expect(ran).toBe(false);
    expect(state(db)).toStrictEqual(before);
  });

  test.each<[string, unknown]>([
    ['undefined', undefined],
    ['a string', 'tx => tx'],
    ['an object', { call: () => 1 }],
  ])('transaction with fn = %s: rejected INVALID_OPTION', async (_label, fn) => {
    const db = await seeded();
    const before = state(db);
    await expectRejectsCode(() => db.transaction(fn as never), 'INVALID_OPTION');
    expect(state(db)).toStrictEqual(before);
  });

  test('tx methods with bad input throw the typed error; the transaction stays usable and commits only good writes', async () => {
    const db = await seeded();
    const tx = db.begin();
    const before = state(db);
    tx.put('good', 1);
    for (const [, key] of BAD_KEYS) {
      expectThrowsCode(() => tx.get(key as string), 'INVALID_KEY');
      expectThrowsCode(() => tx.getEntry(key as string), 'INVALID_KEY');
      expectThrowsCode(() => tx.has(key as string), 'INVALID_KEY');
      expectThrowsCode(() => tx.put(key as string, 1), 'INVALID_KEY');
      expectThrowsCode(() => tx.delete(key as string), 'INVALID_KEY');
    }
    expectThrowsCode(() => tx.put('bad', () => 1), 'INVALID_VALUE');
    expectThrowsCode(() => tx.put('bad', undefined), 'INVALID_VALUE');
    expectThrowsCode(() => tx.put('a', { nested: [Symbol('s')] }), 'INVALID_VALUE');
    expectThrowsCode(() => tx.put('bad', 1, { ttl: 0 }), 'INVALID_OPTION');
    expectThrowsCode(() => tx.put('bad', 1, { bogus: 1 } as object), 'INVALID_OPTION');
    expectThrowsCode(() => tx.delete('a', { ttl: 1 } as object), 'INVALID_OPTION');
    expectThrowsCode(() => tx.scan({ limit: -1 }), 'INVALID_OPTION');
    expectThrowsCode(() => tx.byRun(''), 'INVALID_OPTION');
    expectThrowsCode(() => tx.byType('t1', { lt: 'a', lte: 'a' }), 'INVALID_OPTION');
    expect(tx.active).toBe(true);
    expect(tx.has('bad')).toBe(false);
    expect(tx.get('a')).toStrictEqual({ n: 1, list: [1, 2] }); // the failed put of 'a' left no trace
    expect(state(db)).toStrictEqual(before);
    const version = await tx.commit();
    expect(version).toBe(7);
    expect(db.version).toBe(7);
    expect(db.stats().openTransactions).toBe(0);
    expect(db.get('good')).toBe(1);
    expect(db.has('bad')).toBe(false);
    expect(db.get('a')).toStrictEqual({ n: 1, list: [1, 2] });
  });

  test('a transaction whose callback hits bad input rejects with that error and applies nothing', async () => {
    const db = await seeded();
    const before = state(db);
    expect.assertions(7); // 1 in seeded()
    await expect(
      db.transaction((tx) => {
        tx.put('x', 1);
        tx.delete('a');
        tx.put('y', () => 'no');
      }),
    ).rejects.toMatchObject({ code: 'INVALID_VALUE' });
    await expect(
      db.transaction(async (tx) => {
        tx.put('x', 1);
        await Promise.resolve();
        tx.get(42 as unknown as string);
      }),
    ).rejects.toBeInstanceOf(InvalidKeyError);
    expect(state(db)).toStrictEqual(before);
    expect(db.has('x')).toBe(false);
    expect(db.has('a')).toBe(true);
    expect(db.stats().openTransactions).toBe(0);
  });

  test('an ifVersion mismatch at commit rejects VERSION_MISMATCH, applies nothing and finishes the transaction', async () => {
    const db = await seeded();
    const before = state(db);
    const tx = db.begin();
    tx.put('x', 1);
    tx.put('a', 2, { ifVersion: 99 });
    await expectRejectsCode(() => tx.commit(), 'VERSION_MISMATCH');
    expect(tx.active).toBe(false);
    expect(state(db)).toStrictEqual(before);
    expectThrowsCode(() => tx.get('a'), 'TRANSACTION_FINISHED');
    await expectRejectsCode(() => tx.commit(), 'TRANSACTION_FINISHED');
  });

  test('use after commit or abort: TRANSACTION_FINISHED from every method', async () => {
    const db = await seeded();
    const committed = db.begin();
    committed.put('x', 1);
    await committed.commit();
    const aborted = db.begin();
    aborted.put('y', 1);
    aborted.abort();
    const before = state(db);
    for (const tx of [committed, aborted]) {
      expect(tx.active).toBe(false);
      for (const use of [
        () => tx.get('a'),
        () => tx.getEntry('a'),
        () => tx.has('a'),
        () => tx.scan(),
        () => tx.byRun('r1'),
        () => tx.byType('t1'),
        () => tx.put('z', 1),
        () => tx.delete('a'),
      ]) {
        expect(expectThrowsCode(use, 'TRANSACTION_FINISHED')).toBeInstanceOf(TransactionFinishedError);
      }
      await expectRejectsCode(() => tx.commit(), 'TRANSACTION_FINISHED');
      tx.abort(); // a no-op, not an error
    }
    expect(state(db)).toStrictEqual(before);
    expect(db.has('y')).toBe(false);
  });
});

// ---------------------------------------------------------------- close

describe('after close()', () => {
  test('every database method: CLOSED (reads throw, writes reject), whatever the input', async () => {
    const db = await seeded();
    const version = db.version;
    await db.close();
    expect(db.closed).toBe(true);
    expect(db.version).toBe(version);
    for (const use of [
      () => db.get('a'),
      () => db.getEntry('a'),
      () => db.has('a'),
      () => db.scan(),
      () => db.byRun('r1'),
      () => db.byType('t1'),
      () => db.snapshot(),
      () => db.snapshotAt(version),
      () => db.begin(),
      () => db.get(5 as unknown as string),
      () => db.scan({ limit: -1 }),
    ]) {
      expect(expectThrowsCode(use, 'CLOSED')).toBeInstanceOf(DatabaseClosedError);
    }
    await expectRejectsCode(() => db.put('a', 1), 'CLOSED');
    await expectRejectsCode(() => db.put('', () => 1), 'CLOSED');
    await expectRejectsCode(() => db.delete('a'), 'CLOSED');
    await expectRejectsCode(() => db.batch([{ op: 'put', key: 'x', value: 1 }]), 'CLOSED');
    await expectRejectsCode(() => db.transaction(() => 1), 'CLOSED');
    await expect(db.close()).resolves.toBeUndefined(); // idempotent
    expect(db.version).toBe(version);
  });

  test('snapshots opened before close: CLOSED from every method and from iterating a scan started before close', async () => {
    const db = await seeded();
    const snap = db.snapshot();
    const past = db.snapshotAt(db.version);
    const scan = snap.scan();
    const byRun = snap.byRun('r1');
    const byType = past.byType('t1');
    expect(scan.next().value?.key).toBe('a');
    await db.close();
    for (const s of [snap, past]) {
      for (const use of [() => s.get('a'), () => s.getEntry('a'), () => s.has('a'), () => s.scan(), () => s.byRun('r1'), () => s.byType('t1')]) {
        expectThrowsCode(use, 'CLOSED');
      }
    }
    expectThrowsCode(() => scan.next(), 'CLOSED');
    expectThrowsCode(() => byRun.next(), 'CLOSED');
    expectThrowsCode(() => byType.next(), 'CLOSED');
    expect(() => snap.release()).not.toThrow();
  });

  test('transactions opened before close: CLOSED from every method, commit rejects, nothing applied', async () => {
    const db = await seeded();
    const tx = db.begin({ isolation: 'serializable' });
    tx.put('x', 1);
    const scan = tx.scan();
    let callbackFinished = false;
    const running = db.transaction(async (t) => {
      t.put('y', 1);
      await new Promise((resolve) => setTimeout(resolve, 5));
      callbackFinished = true;
      return 'done';
    });
    const outcome = running.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    await db.close();
    for (const use of [
      () => tx.get('a'),
      () => tx.getEntry('a'),
      () => tx.has('a'),
      () => tx.scan(),
      () => tx.byRun('r1'),
      () => tx.byType('t1'),
      () => tx.put('z', 1),
      () => tx.delete('a'),
      () => scan.next(),
    ]) {
      expectThrowsCode(use, 'CLOSED');
    }
    await expectRejectsCode(() => tx.commit(), 'CLOSED');
    // A transaction() whose callback was still running when the database closed rejects CLOSED at commit.
    const result = await outcome;
    expect(callbackFinished).toBe(true);
    expect(result).toStrictEqual({ error: expect.objectContaining({ code: 'CLOSED' }) });
    expect(db.version).toBe(6);
  });
});

// ---------------------------------------------------------------- immutability

describe('returned values are frozen; stored values are independent of the caller', () => {
  test('get / getEntry / scan / byRun / byType / snapshot / tx reads of plain values are deep-frozen', async () => {
    const db = await seeded();
    const value = db.get('a') as { n: number; list: number[] };
    expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(value.list)).toBe(true);
    expect(() => {
      value.n = 2;
    }).toThrow(TypeError);
    expect(() => value.list.push(3)).toThrow(TypeError);
    const entry = db.getEntry('a')!;
    expect(Object.isFrozen(entry)).toBe(true);
    expect(() => {
      (entry as { version: number }).version = 99;
    }).toThrow(TypeError);
    expect(() => {
      (entry as { value: unknown }).value = 'hijacked';
    }).toThrow(TypeError);
    const snap = db.snapshot();
    const tx = db.begin();
    tx.put('own', { mine: [1] });
    const reads: unknown[] = [
      ...[...db.scan()].flatMap((e) => [e, e.value]),
      ...[...db.byRun('r1')].flatMap((e) => [e, e.value]),
      ...[...db.byType('t1')].flatMap((e) => [e, e.value]),
      snap.get('a'),
      snap.getEntry('b'),
      ...[...snap.scan()],
      tx.get('a'),
      tx.get('own'),
      tx.getEntry('own'),
      ...[...tx.scan()],
    ];
    for (const read of reads) if (read !== null && typeof read === 'object' && !(read instanceof Map)) expect(Object.isFrozen(read)).toBe(true);
    expect(Object.isFrozen((tx.get('own') as { mine: number[] }).mine)).toBe(true);
    snap.release();
    tx.abort();
    expect(db.get('a')).toStrictEqual({ n: 1, list: [1, 2] });
  });

  test('copy-on-read values (Map, Date, typed arrays) come fresh on every read: mutating one changes nothing', async () => {
    const db = await seeded();
    const first = db.get('c') as Map<string, Date>;
    expect(first).toStrictEqual(new Map([['k', new Date(5)]]));
    first.set('k', new Date(999));
    first.get('k')?.setTime(1);
    first.set('extra', new Date(0));
    expect(db.get('c')).toStrictEqual(new Map([['k', new Date(5)]]));
    expect(db.get('c')).not.toBe(db.get('c'));
    const entryValue = db.getEntry('c')!.value as Map<string, Date>;
    entryValue.clear();
    expect([...db.scan({ prefix: 'c' })][0]!.value).toStrictEqual(new Map([['k', new Date(5)]]));
    await db.put('bytes', new Uint8Array([1, 2, 3]));
    (db.get('bytes') as Uint8Array).fill(0);
    expect(db.get('bytes')).toStrictEqual(new Uint8Array([1, 2, 3]));
  });

  test('mutating the caller\'s object after put / batch / tx.put changes nothing stored', async () => {
    const db = await fresh();
    const viaPut = { name: 'Ada', tags: ['x'], when: new Date(1) };
    const viaBatch = { list: [1, 2] };
    const viaTx = new Map([['k', { deep: true }]]);
    await db.put('put', viaPut);
    const p = db.batch([{ op: 'put', key: 'batch', value: viaBatch }]);
    viaBatch.list.push(3); // before the promise settles
    await p;
    const tx = db.begin();
    tx.put('tx', viaTx);
    viaTx.get('k')!.deep = false;
    viaTx.set('k2', { deep: false });
    expect(tx.get('tx')).toStrictEqual(new Map([['k', { deep: true }]]));
    await tx.commit();
    viaPut.name = 'Bob';
    viaPut.tags.push('y');
    viaPut.when.setTime(2);
    viaTx.clear();
    expect(db.get('put')).toStrictEqual({ name: 'Ada', tags: ['x'], when: new Date(1) });
    expect(db.get('batch')).toStrictEqual({ list: [1, 2] });
    expect(db.get('tx')).toStrictEqual(new Map([['k', { deep: true }]]));
  });
});

// ---------------------------------------------------------------- regressions (bugs found in packages/)

describe('regressions', () => {
  test('regression: iterating a db.scan() / byRun() / byType() started before close() throws CLOSED (as snapshot scans do)', async () => {
    const db = await seeded();
    const scan = db.scan();
    const byRun = db.byRun('r1');
    const byType = db.byType('t1');
    expect(scan.next().value?.key).toBe('a');
    await db.close();
    // (The live iterators used to keep yielding entries from the closed database.)
    expectThrowsCode(() => scan.next(), 'CLOSED');
    expectThrowsCode(() => byRun.next(), 'CLOSED');
    expectThrowsCode(() => byType.next(), 'CLOSED');
  });

  test('regression: a tx.scan() iterator does not yield the transaction\'s own writes after close()', async () => {
    const db = await seeded();
    const tx = db.begin();
    tx.put('zz', 'own write');
    const scan = tx.scan({ prefix: 'z' }); // no committed entries in range: only the own write
    await db.close();
    // (It used to yield { key: 'zz', value: 'own write', version: -1 }: only committed entries were guarded.)
    expectThrowsCode(() => scan.next(), 'CLOSED');
  });

  test('regression: a tx.scan() iterator does not yield the transaction\'s own writes after abort()', async () => {
    const db = await seeded();
    const tx = db.begin();
    tx.put('zz', 'discarded');
    const scan = tx.scan({ prefix: 'z' });
    const withCommitted = tx.scan();
    tx.abort();
    // A scan that reaches committed entries refuses (TRANSACTION_FINISHED) ...
    expectThrowsCode(() => withCommitted.next(), 'TRANSACTION_FINISHED');
    // ... and so does one that only holds own writes (it used to yield the aborted write).
    expectThrowsCode(() => scan.next(), 'TRANSACTION_FINISHED');
  });
});
