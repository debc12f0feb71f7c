/**
 * Hostile values through the public API (issue 6). An independent oracle
 * encodes README "Values": accepted are null, booleans, numbers (-0, NaN,
 * ±Infinity), bigint, well-formed strings, arrays (holes read back as
 * undefined), plain and null-prototype objects, Date, Map, Set, typed arrays
 * and Buffer, nested up to 512 levels; rejected with INVALID_VALUE are
 * top-level undefined, functions, symbols, cycles, lone surrogates, own
 * `__proto__` keys, class instances and other exotic objects (boxed
 * primitives, RegExp, Error, Promise, ...), and values over maxValueBytes.
 *
 * Every accepted value must read back equal (get, getEntry, a snapshot, a
 * transaction, and after close + reopen of a persistent database in a real
 * temp dir); every rejected one must reject (never throw synchronously) with
 * an EpochError of code INVALID_VALUE and a message, leaving version, stats
 * and the previous value unchanged. Decoding hostile bytes from disk must
 * never pollute Object.prototype.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeValue } from '@epochdb/core';
import { Persistence } from '@epochdb/persist';
import { EpochError, open, type Database } from 'epochdb';

const root = mkdtempSync(join(tmpdir(), 'epochdb-fuzz-values-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `d${dirs++}`);

const TYPED = [Uint8Array, Int8Array, Uint8ClampedArray, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array, Buffer].map((c) => c.prototype as object);

/** The README's rule, written independently of the codec: why `value` is rejected, or undefined if accepted. */
function rejection(value: unknown, depth = 0, ancestors: object[] = []): string | undefined {
  if (depth === 0 && value === undefined) return 'top-level undefined';
  switch (typeof value) {
    case 'string':
      return value.isWellFormed() ? undefined : 'lone surrogate';
    case 'function':
      return 'function';
    case 'symbol':
      return 'symbol';
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return undefined;
  if (ancestors.includes(value)) return 'cycle';
  if (depth >= 512) return 'too deep';
  const inner = [...ancestors, value];
  const proto = Object.getPrototypeOf(value) as object | null;
  let children: unknown[] = [];
  if (Array.isArray(value)) {
    children = Array.from({ length: value.length }, (_, i) => (value as unknown[])[i]);
  } else if (proto === Object.prototype || proto === null) {
    for (const k of Object.keys(value)) {
      if (k === '__proto__') return 'own __proto__ key';
      if (!k.isWellFormed()) return 'lone surrogate in a key';
    }
    children = Object.values(value);
  } else if (proto === Map.prototype) {
    children = [...(value as Map<unknown, unknown>)].flat();
  } else if (proto === Set.prototype) {
    children = [...(value as Set<unknown>)];
  } else if (proto === Date.prototype || TYPED.includes(proto!)) {
    return undefined;
  } else {
    return 'exotic object';
  }
  for (const child of children) {
    const why = rejection(child, depth + 1, inner);
    if (why !== undefined) return why;
  }
  return undefined;
}

class DateTime {
  time = 0;
}

/** Holes read back as undefined and null-prototype objects as plain ones: the README's normal form. */
function normal(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return Object.assign(Object.create(DateTime.prototype) as DateTime, { time: value.getTime() }); // (an invalid Date equals itself)
  if (Array.isArray(value)) return Array.from({ length: value.length }, (_, i) => normal((value as unknown[])[i]));
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto === Map.prototype) return new Map([...(value as Map<unknown, unknown>)].map(([k, v]) => [normal(k), normal(v)]));
  if (proto === Set.prototype) return new Set([...(value as Set<unknown>)].map(normal));
  if (proto === Object.prototype || proto === null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) Object.defineProperty(out, k, { value: normal((value as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

/** Deep equality with Object.is on primitives (-0 is not 0, NaN is NaN) and exact prototypes (a Buffer is not a Uint8Array). */
function expectSame(actual: unknown, original: unknown, where: string): void {
  const a = normal(actual);
  const b = normal(original);
  if (!isDeepStrictEqual(a, b)) expect(a, where).toStrictEqual(b); // (for the diff)
  expect(isDeepStrictEqual(a, b), where).toBe(true);
}

const hostileKeys = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', 'a', '\u0000', '\ud800', 'polluted');
const anything = fc.anything({
  key: fc.oneof(fc.string({ unit: 'binary', maxLength: 4 }), hostileKeys),
  maxDepth: 4,
  maxKeys: 4,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
});

const special = fc.constantFrom<unknown>(
  -0,
  [-0, { z: -0 }],
  NaN,
  Infinity,
  -Infinity,
  2n ** 64n,
  -(2n ** 63n),
  new Date(0),
  new Date(NaN),
  new Map<unknown, unknown>([[{ a: 1 }, new Set([1n])]]),
  Buffer.from('buffer'),
  new Float64Array([NaN, -0]),
  [, , 1], // eslint-disable-line no-sparse-arrays
  Object.assign(Object.create(null), { constructor: 1, prototype: { constructor: 2 } }),
  { constructor: { prototype: { polluted: true } } },
  JSON.parse('{"__proto__": {"polluted": true}}'),
  'x'.repeat(100_000),
  '\ud800',
  'ok\udfffok',
  /re/,
  new Error('e'),
  Promise.resolve(1),
  new (class Point { x = 1 })(),
  Symbol('s'),
  () => 1,
  undefined,
  [undefined],
  { u: undefined },
  new Number(1),
  new String('s'),
);

const deep = (levels: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < levels; i++) v = i % 2 === 0 ? [v] : { n: v };
  return v;
};

const cyclic = (): unknown => {
  const a: Record<string, unknown> = { b: 1 };
  a.self = { a };
  return a;
};

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e ?? new Error('rejected with nothing'),
  );
}

/** Puts `value` at 'k' (which holds 'old'); checks acceptance or rejection as documented. Returns whether accepted. */
async function putAndCheck(db: Database, value: unknown, key = 'k'): Promise<boolean> {
  const why = rejection(value);
  const before = { version: db.version, stats: db.stats(), old: db.getEntry(key) };
  let promise: Promise<number> | undefined;
  expect(() => (promise = db.put(key, value)), 'put() never throws synchronously').not.toThrow();
  const error = await rejectionOf(promise!);
  if (why === undefined) {
    expect(error, `accepted per README, but: ${String((error as Error | undefined)?.message)}`).toBeUndefined();
    expectSame(db.get(key), value, 'get');
    expectSame(db.getEntry(key)?.value, value, 'getEntry');
    using snap = db.snapshot();
    expectSame(snap.get(key), value, 'snapshot');
    await db.transaction((tx) => expectSame(tx.get(key), value, 'transaction'));
    return true;
  }
  expect(error, `rejected per README (${why}), but it was stored`).toBeInstanceOf(EpochError);
  expect((error as EpochError).code).toBe('INVALID_VALUE');
  expect((error as EpochError).message.length).toBeGreaterThan(0);
  expect(db.version).toBe(before.version);
  expect(db.stats().keys).toBe(before.stats.keys);
  expect(db.stats().storedVersions).toBe(before.stats.storedVersions);
  expect(db.getEntry(key)).toEqual(before.old);
  // the same value inside a batch: nothing of the batch applies
  const batchError = await rejectionOf(db.batch([{ op: 'put', key: 'other', value: 1 }, { op: 'put', key, value }]));
  expect((batchError as EpochError).code).toBe('INVALID_VALUE');
  expect(db.has('other')).toBe(false);
  expect(db.version).toBe(before.version);
  return false;
}

describe('hostile values, in memory', () => {
  it('fc.anything (sparse arrays, boxed values, null prototypes, typed arrays, hostile keys): accepted ones read back equal, rejected ones are INVALID_VALUE and change nothing', async () => {
    const db = await open({ maintenance: { intervalMs: 0 } });
    await db.put('k', 'old');
    let accepted = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(anything, special), async (value) => {
        if (await putAndCheck(db, value)) {
          accepted++;
          await db.put('k', 'old');
        } else rejected++;
      }),
      { numRuns: 1500 },
    );
    console.log(`values: ${accepted} accepted, ${rejected} rejected`);
    expect(accepted).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(20);
    await db.close();
  });

  it('nesting: 511 levels below the top accepted, 513 rejected; cycles rejected; huge strings up to maxValueBytes', async () => {
    const db = await open({ maintenance: { intervalMs: 0 }, maxValueBytes: 1 << 20 });
    await db.put('k', 'old');
    expect(await putAndCheck(db, deep(511))).toBe(true);
    await db.put('k', 'old');
    expect(rejection(deep(513))).toBe('too deep');
    expect(await putAndCheck(db, deep(513))).toBe(false);
    expect(await putAndCheck(db, deep(100_000))).toBe(false);
    expect(await putAndCheck(db, cyclic())).toBe(false);
    expect(await putAndCheck(db, 'y'.repeat((1 << 20) - 10))).toBe(true);
    await db.put('k', 'old');
    const big = await rejectionOf(db.put('k', 'y'.repeat(1 << 20)));
    expect((big as EpochError).code).toBe('INVALID_VALUE');
    expect(db.get('k')).toBe('old');
    await db.close();
  });
});

describe('hostile values, on disk', () => {
  it('accepted values read back equal after close + reopen (WAL replay and checkpoint); Object.prototype stays clean', async () => {
    const protoNames = Object.getOwnPropertyNames(Object.prototype).sort();
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(anything, special), { minLength: 1, maxLength: 8 }), fc.boolean(), async (values, checkpointOnClose) => {
        const dir = freshDir();
        const accepted = values.filter((v) => rejection(v) === undefined);
        const db = await open({ dir, sync: 'none', checkpointOnClose, maintenance: { intervalMs: 0 }, workers: 0 });
        for (const [i, v] of values.entries()) {
          const error = await rejectionOf(db.put(`v${i}`, v));
          expect(error === undefined, `value ${i}: accepted iff the README says so`).toBe(rejection(v) === undefined);
        }
        await db.close();
        const again = await open({ dir, maintenance: { intervalMs: 0 }, workers: 0 });
        expect(again.version).toBe(accepted.length);
        for (const [i, v] of values.entries()) {
          if (rejection(v) === undefined) expectSame(again.get(`v${i}`), v, `v${i} after reopen`);
          else expect(again.has(`v${i}`)).toBe(false);
        }
        await again.close();
        rmSync(dir, { recursive: true, force: true });
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNames);
        runs++;
      }),
      { numRuns: 60 },
    );
    expect(runs).toBe(60);
  });

  /** A WAL record holding msgpack {"__proto__": {"polluted": "yes"}} (crafted bytes: the API refuses such values), after a normal put. */
  async function craftedProtoDir(): Promise<string> {
    const dir = freshDir();
    const db = await open({ dir, maintenance: { intervalMs: 0 }, workers: 0 });
    await db.put('before', 1);
    await db.close();
    // fixmap(1) fixstr(9) "__proto__" fixmap(1) fixstr(8) "polluted" fixstr(3) "yes"
    const crafted = Buffer.concat([Buffer.from([0x81, 0xa9]), Buffer.from('__proto__'), Buffer.from([0x81, 0xa8]), Buffer.from('polluted'), Buffer.from([0xa3]), Buffer.from('yes')]);
    const { persistence } = await Persistence.open({ dir, sync: 'always', syncIntervalMs: 1000, walSegmentBytes: 1 << 20, checkpointWalBytes: 1 << 30, recovery: 'strict' });
    await persistence.append({ version: 2, time: 0, ops: [{ kind: 'put', key: 'evil', encoded: crafted }] }, 'always');
    await persistence.close();
    return dir;
  }

  async function openCrafted(dir: string): Promise<{ value?: object; error?: unknown }> {
    try {
      const db = await open({ dir, maintenance: { intervalMs: 0 }, workers: 0, checkpointOnClose: false });
      const value = db.get('evil') as object;
      await db.close();
      return { value };
    } catch (error) {
      return { error };
    }
  }

  it('a crafted WAL record with an own "__proto__" key never pollutes Object.prototype and never crashes open()', async () => {
    const { value, error } = await openCrafted(await craftedProtoDir());
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    // Not even the decoded object's own prototype chain may have been replaced by the hostile one.
    if (value !== undefined) expect((value as Record<string, unknown>).polluted).toBeUndefined();
    else expect(error).toBeInstanceOf(EpochError);
  });

  // Once suspected as a bug ("loads silently as {}"): a msgpack map decodes as a Map (the codec
  // keeps Map distinct from plain objects, which are encoded as msgpackr records), so the crafted
  // record loads faithfully as Map { "__proto__" => Map { "polluted" => "yes" } }: the key is data,
  // not a prototype.
  it('regression: a crafted WAL record holding a msgpack map {"__proto__": {...}} loads as a Map keeping "__proto__" as a key', async () => {
    const { value, error } = await openCrafted(await craftedProtoDir());
    expect(error).toBeUndefined();
    expect(value).toBeInstanceOf(Map);
    const map = value as Map<string, unknown>;
    expect([...map.keys()]).toStrictEqual(['__proto__']);
    expect(map.get('__proto__')).toStrictEqual(new Map([['polluted', 'yes']]));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('encoded hostile-but-valid values ("constructor"/"prototype" keys, nested __proto__ as a plain string value) round-trip from disk', async () => {
    const dir = freshDir();
    const value = { constructor: { prototype: { polluted: true } }, prototype: 1, nested: [{ toString: 'x', valueOf: null, hasOwnProperty: 2 }], s: '__proto__' };
    const db = await open({ dir, maintenance: { intervalMs: 0 }, workers: 0, checkpointOnClose: false });
    await db.put('k', value);
    await db.close();
    const again = await open({ dir, maintenance: { intervalMs: 0 }, workers: 0 });
    expectSame(again.get('k'), value, 'after reopen');
    expect(encodeValue(again.get('k'))).toEqual(encodeValue(value));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await again.close();
  });
});
