import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  EpochError,
  InvalidValueError,
  MAX_VALUE_DEPTH,
  ValueCodec,
  PLAIN,
  UNFREEZABLE,
  UNSURE,
  encodeValue,
  inspect,
  inspectPlain,
  inspectValue,
  prepareValue,
  type Inspection,
  type PreparedValue,
} from '@epochdb/core';

/** One database's value codec (a shared structure table), as the store uses it. */
const codec = new ValueCodec();
const prepareEncoded = (encoded: Uint8Array): PreparedValue => codec.prepareEncoded(encoded);

/** Large enough that no test value here hits the size limit unless it means to. */
const NO_LIMIT = 1 << 30;
const WHAT = 'put(): value';

const prepare = (value: unknown, maxBytes = NO_LIMIT): PreparedValue => codec.prepare(value, maxBytes, WHAT);
/** What every reader of a stored value gets: its bytes decoded afresh (deep-frozen plain data, or an unfrozen copy). */
const read = (prepared: PreparedValue): unknown => codec.read(prepared.encoded, prepared.copyOnRead);
const roundTrip = (value: unknown): unknown => read(prepare(value));

const TYPED_ARRAY_CTORS = [
  Uint8Array, Int8Array, Uint8ClampedArray, Uint16Array, Int16Array, Uint32Array, Int32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
] as const;

type AnyTypedArray = InstanceType<(typeof TYPED_ARRAY_CTORS)[number]>;

/**
 * What a value is expected to read back as: a deep copy (so later mutation of
 * the original cannot leak into it) with the documented normalisations
 * applied: array holes become `undefined`, null-prototype objects become plain
 * objects.
 */
function expectedOf(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return Array.from({ length: value.length }, (_, i) => expectedOf(value[i]));
  if (value instanceof Date) return new Date(value.getTime());
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [expectedOf(k), expectedOf(v)]));
  if (value instanceof Set) return new Set([...value].map(expectedOf));
  if (ArrayBuffer.isView(value)) return (value as AnyTypedArray).slice();
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = expectedOf((value as Record<string, unknown>)[key]);
  return out;
}

/** Mutates every mutable part of `value` in place (to prove stored copies do not share it). */
function vandalise(value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const child of value) vandalise(child);
    value.push('vandalised');
    if (value.length > 1) value[0] = 'vandalised';
  } else if (value instanceof Date) {
    value.setTime(value.getTime() === 123 ? 456 : 123);
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      vandalise(k);
      vandalise(v);
    }
    value.set('vandalised', true);
  } else if (value instanceof Set) {
    for (const v of value) vandalise(v);
    value.add('vandalised');
  } else if (ArrayBuffer.isView(value)) {
    const array = value as AnyTypedArray;
    if (array instanceof BigInt64Array || array instanceof BigUint64Array) array.fill(7n);
    else array.fill(7);
  } else {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) vandalise(record[key]);
    record['vandalised'] = true;
  }
}

/** Whether every object reachable from `value` through own properties is frozen. */
function isDeepFrozen(value: unknown, seen = new Set<object>()): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (seen.has(value)) return true;
  seen.add(value);
  if (!Object.isFrozen(value)) return false;
  return Object.values(value).every((child) => isDeepFrozen(child, seen));
}

/** Throws unless `fn` throws an InvalidValueError whose message contains `messagePart`. */
function expectInvalidValue(fn: () => unknown, messagePart: string | RegExp): InvalidValueError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidValueError);
  expect(caught).toBeInstanceOf(EpochError);
  const error = caught as InvalidValueError;
  expect(error.code).toBe('INVALID_VALUE');
  expect(error.name).toBe('InvalidValueError');
  if (typeof messagePart === 'string') expect(error.message).toContain(messagePart);
  else expect(error.message).toMatch(messagePart);
  return error;
}

// ---------------------------------------------------------------- arbitraries

const safeKey = fc.string({ unit: 'binary', maxLength: 8 }).filter((k) => k !== '__proto__');

const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double(), // includes -0, NaN, ±Infinity
  fc.integer(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 53, -(2 ** 63)),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
  fc.string({ unit: 'binary', maxLength: 12 }), // well-formed, astral characters included
  fc.oneof(fc.integer({ min: -8.64e15, max: 8.64e15 }), fc.constant(NaN)).map((t) => new Date(t)),
  fc.uint8Array({ maxLength: 6 }),
  fc.float64Array({ maxLength: 4 }),
  fc.int32Array({ maxLength: 4 }),
  fc.bigInt64Array({ maxLength: 3 }),
);

/** Accepted values (the top level may not be undefined; nested undefined is fine). */
const { value: valueArb } = fc.letrec<{ value: unknown; nested: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('nested')),
  nested: fc.oneof(
    fc.array(fc.oneof(tie('value'), fc.constant(undefined)), { maxLength: 4 }),
    fc.sparseArray(tie('value'), { maxLength: 6 }), // holes
    fc.dictionary(safeKey, fc.oneof(tie('value'), fc.constant(undefined)), { maxKeys: 4 }), // sometimes null-prototype
    fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)), // object keys too
    fc.array(tie('value'), { maxLength: 3 }).map((items) => new Set(items)),
  ),
}));

// ---------------------------------------------------------------- prototype pollution guard

const protoNamesBefore = Object.getOwnPropertyNames(Object.prototype).sort();

beforeAll(() => {
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
});

afterAll(() => {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNamesBefore);
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  expect(Object.getPrototypeOf(Object.prototype)).toBeNull();
});

// ---------------------------------------------------------------- round trips

describe('round trip: property', () => {
  test('every accepted value reads back equal (modulo holes and null prototypes), also via prepareEncoded', () => {
    fc.assert(
      fc.property(valueArb, (value) => {
        const expected = expectedOf(value);
        const prepared = prepare(value);
        expect(prepared.encoded).toBeInstanceOf(Uint8Array);
        expect(read(prepared)).toStrictEqual(expected);
        const replayed = prepareEncoded(prepared.encoded);
        expect(replayed.copyOnRead).toBe(prepared.copyOnRead);
        expect(read(replayed)).toStrictEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  test('the stored copy is independent of the input: mutating the input after prepare changes nothing', () => {
    fc.assert(
      fc.property(valueArb, (value) => {
        const expected = expectedOf(value);
        const prepared = prepare(value);
        vandalise(value);
        expect(read(prepared)).toStrictEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  test('plain values are stored deep-frozen; copy-on-read values give a fresh, independent copy per read', () => {
    fc.assert(
      fc.property(valueArb, (value) => {
        const expected = expectedOf(value);
        const prepared = prepare(value);
        if (!prepared.copyOnRead) {
          // Frozen, so one decoded copy may be shared by every reader (the store caches hot ones).
          expect(isDeepFrozen(read(prepared))).toBe(true);
          expect(read(prepared)).toStrictEqual(expected);
        } else {
          const first = read(prepared);
          const second = read(prepared);
          // Objects are fresh per read; a primitive (a top-level -0 keeps its bytes too) is just equal.
          if (typeof first === 'object' && first !== null) expect(first).not.toBe(second);
          else expect(Object.is(first, second)).toBe(true);
          vandalise(first);
          expect(read(prepared)).toStrictEqual(expected);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('round trip: hand-made cases', () => {
  test('-0 keeps its sign, at the top level and nested', () => {
    expect(Object.is(roundTrip(-0), -0)).toBe(true);
    expect(Object.is(roundTrip(0), 0)).toBe(true);
    const nested = roundTrip({ a: [-0, 0], m: new Map([['z', -0]]), s: new Set([[-0]]), o: { deep: { z: -0 } } }) as {
      a: number[];
      m: Map<string, number>;
      s: Set<number[]>;
      o: { deep: { z: number } };
    };
    expect(Object.is(nested.a[0], -0)).toBe(true);
    expect(Object.is(nested.a[1], 0)).toBe(true);
    expect(Object.is(nested.m.get('z'), -0)).toBe(true);
    expect(Object.is([...nested.s][0]![0], -0)).toBe(true);
    expect(Object.is(nested.o.deep.z, -0)).toBe(true);
    // A value holding -0 is plain data: the stored bytes carry the sign (they are never re-encoded), and its frozen copy keeps it.
    const kept = prepare([-0]);
    expect(kept.copyOnRead).toBe(false);
    expect(Object.is((read(kept) as number[])[0], -0)).toBe(true);
    expect(isDeepFrozen(read(kept))).toBe(true);
  });

  test('NaN, ±Infinity and extreme numbers', () => {
    for (const n of [NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, -Number.MAX_VALUE, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 53, 2 ** 64, 0.1, -1.5e-300, 2 ** 31, -(2 ** 31) - 1, 2 ** 32 - 1]) {
      const back = roundTrip(n);
      expect(typeof back).toBe('number');
      expect(Object.is(back, n)).toBe(true);
    }
    expect(roundTrip([NaN, Infinity, -Infinity])).toStrictEqual([NaN, Infinity, -Infinity]);
  });

  test('bigint stays bigint: small, 64-bit boundaries, > 64 bits, negative', () => {
    const cases = [0n, 1n, 5n, -1n, -5n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, 2n ** 64n, -(2n ** 64n), 2n ** 70n, -(2n ** 70n), 2n ** 1000n, -(3n ** 500n)];
    for (const b of cases) {
      const back = roundTrip(b);
      expect(typeof back).toBe('bigint');
      expect(back).toBe(b);
    }
    expect(roundTrip({ list: cases })).toStrictEqual({ list: cases });
    // Numbers stay numbers (no bigint leaking in for large safe integers).
    expect(typeof roundTrip(2 ** 40)).toBe('number');
    expect(typeof roundTrip(-(2 ** 40))).toBe('number');
  });

  test('Date, including invalid, pre-1970, millisecond and extreme dates', () => {
    for (const t of [0, -1, 1_700_000_000_123, -123_456_789, 8.64e15, -8.64e15, NaN]) {
      const date = new Date(t);
      const back = roundTrip(date);
      expect(back).toBeInstanceOf(Date);
      expect(back).toStrictEqual(date);
      expect(Object.is((back as Date).getTime(), date.getTime())).toBe(true);
    }
    expect(Number.isNaN((roundTrip(new Date(NaN)) as Date).getTime())).toBe(true);
    expect(roundTrip({ when: new Date(5) })).toStrictEqual({ when: new Date(5) });
  });

  test('Map with object, array, number, bigint, undefined keys and Set', () => {
    const objectKey = { id: 1, tags: ['a'] };
    const map = new Map<unknown, unknown>([
      [objectKey, 'object key'],
      [['array', 'key'], new Set([1])],
      [1, 'number key'],
      ['1', 'string key'],
      [10n, 20n],
      [undefined, undefined],
      [new Map([['inner', 1]]), { nested: true }],
    ]);
    const back = roundTrip(map) as Map<unknown, unknown>;
    expect(back).toBeInstanceOf(Map);
    expect(back).toStrictEqual(map);
    expect(back.size).toBe(7);
    expect(back.get(1)).toBe('number key');
    expect(back.get('1')).toBe('string key');
    const set = new Set<unknown>([1, '1', { a: 1 }, [2], null, undefined, 3n, new Date(0)]);
    const backSet = roundTrip(set);
    expect(backSet).toBeInstanceOf(Set);
    expect(backSet).toStrictEqual(set);
  });

  test('typed arrays of every kind, including views at an offset', () => {
    for (const Ctor of TYPED_ARRAY_CTORS) {
      const sample = Ctor === BigInt64Array ? new BigInt64Array([-1n, 2n ** 62n]) : Ctor === BigUint64Array ? new BigUint64Array([2n ** 64n - 1n, 0n]) : new (Ctor as new (values: number[]) => AnyTypedArray)([1, 2, 250]);
      const back = roundTrip(sample);
      expect(back).toBeInstanceOf(Ctor);
      expect(back).toStrictEqual(sample);
    }
    const floats = new Float64Array([1.5, -0, NaN, Infinity, -Infinity]);
    const back = roundTrip(floats) as Float64Array;
    expect(back).toStrictEqual(floats);
    expect(Object.is(back[1], -0)).toBe(true);
    const buffer = new ArrayBuffer(64);
    const view = new Float64Array(buffer, 8, 3);
    view.set([1.25, -0, 3]);
    new Uint8Array(buffer, 0, 8).fill(0xff); // bytes outside the view must not leak in
    expect(roundTrip(view)).toStrictEqual(new Float64Array([1.25, -0, 3]));
    const bytes = new Uint8Array(buffer, 40, 4);
    bytes.set([9, 8, 7, 6]);
    expect(roundTrip(bytes)).toStrictEqual(new Uint8Array([9, 8, 7, 6]));
  });

  test('Buffer contents round-trip (as a Uint8Array view at least)', () => {
    const buffer = Buffer.from('héllo');
    const back = roundTrip(buffer) as Uint8Array;
    expect(back).toBeInstanceOf(Uint8Array);
    expect([...back]).toEqual([...buffer]);
  });

  test('nested objects and arrays, undefined properties, holes, null prototypes', () => {
    const value = { a: { b: { c: [1, [2, [3, { d: 'e' }]]] } }, u: undefined, list: [undefined, null], empty: {}, none: [] as unknown[], '': 'empty key', 'a.b': 'dotted' };
    expect(roundTrip(value)).toStrictEqual(value);
    const backU = roundTrip({ u: undefined }) as Record<string, unknown>;
    expect(Object.keys(backU)).toEqual(['u']);
    expect('u' in backU).toBe(true);

    // eslint-disable-next-line no-sparse-arrays
    const holey = [1, , 3];
    const backHoley = roundTrip(holey) as unknown[];
    expect(backHoley).toStrictEqual([1, undefined, 3]);
    expect(1 in backHoley).toBe(true);
    const sparse: unknown[] = [];
    sparse[4] = 'x';
    expect(roundTrip(sparse)).toStrictEqual([undefined, undefined, undefined, undefined, 'x']);

    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1, nested: Object.assign(Object.create(null) as object, { b: [2] }) });
    const backBare = roundTrip(bare);
    expect(Object.getPrototypeOf(backBare)).toBe(Object.prototype);
    expect(backBare).toStrictEqual({ a: 1, nested: { b: [2] } });
  });

  test('shared (non-cyclic) references are accepted and read back as equal copies', () => {
    const shared = { q: 1 };
    expect(roundTrip({ a: shared, b: [shared], c: new Map([['x', shared]]) })).toStrictEqual({ a: { q: 1 }, b: [{ q: 1 }], c: new Map([['x', { q: 1 }]]) });
  });

  test('well-formed strings, including astral characters and U+0000', () => {
    for (const s of ['', 'plain', '\u0000', '😀', 'a\uD83D\uDE00b', '\uFFFF', 'é'.repeat(1000)]) expect(roundTrip(s)).toBe(s);
  });

  /** `n` nested containers of the kind `make` builds around a leaf. */
  function nest(n: number, make: (inner: unknown, level: number) => unknown): unknown {
    let value: unknown = 'leaf';
    for (let level = n - 1; level >= 0; level--) value = make(value, level);
    return value;
  }

  test(`nesting of MAX_VALUE_DEPTH-1 (${MAX_VALUE_DEPTH - 1}) levels round-trips: arrays, objects, mixed with maps and sets`, () => {
    const arrays = nest(MAX_VALUE_DEPTH - 1, (inner) => [inner]);
    expect(roundTrip(arrays)).toStrictEqual(arrays);
    const objects = nest(MAX_VALUE_DEPTH - 1, (inner) => ({ k: inner }));
    const prepared = prepare(objects);
    expect(read(prepared)).toStrictEqual(objects);
    expect(isDeepFrozen(read(prepared))).toBe(true);
    const mixed = nest(MAX_VALUE_DEPTH - 1, (inner, level) => (level % 4 === 0 ? [inner] : level % 4 === 1 ? { k: inner } : level % 4 === 2 ? new Map([['k', inner]]) : new Set([inner])));
    expect(roundTrip(mixed)).toStrictEqual(mixed);
    expect(read(prepareEncoded(prepare(mixed).encoded))).toStrictEqual(mixed);
  });

  test(`exactly MAX_VALUE_DEPTH levels is accepted; one more is rejected`, () => {
    const atLimit = nest(MAX_VALUE_DEPTH, (inner) => [inner]);
    expect(roundTrip(atLimit)).toStrictEqual(atLimit);
    expectInvalidValue(() => prepare(nest(MAX_VALUE_DEPTH + 1, (inner) => [inner])), `is nested deeper than ${MAX_VALUE_DEPTH} levels`);
    expectInvalidValue(() => prepare(nest(MAX_VALUE_DEPTH + 1, (inner) => ({ k: inner }))), new RegExp(`^put\\(\\): value(\\.k){${MAX_VALUE_DEPTH}} is nested deeper`));
    expectInvalidValue(() => prepare(nest(MAX_VALUE_DEPTH + 1, (inner) => new Map([['k', inner]]))), 'nested deeper');
    expectInvalidValue(() => prepare(nest(MAX_VALUE_DEPTH * 4, (inner) => new Set([inner]))), 'nested deeper');
  });
});

describe('independence of stored copies', () => {
  test('mutating a plain input after prepare changes nothing; the stored copy is deep-frozen', () => {
    const input = { name: 'Ada', tags: ['x', 'y'], nested: { n: 1, list: [{ deep: true }] } };
    const prepared = prepare(input);
    expect(prepared.copyOnRead).toBe(false);
    input.name = 'Bob';
    input.tags.push('z');
    input.nested.n = 2;
    input.nested.list[0]!.deep = false;
    (input as Record<string, unknown>)['added'] = 1;
    const stored = read(prepared) as typeof input;
    expect(stored).toStrictEqual({ name: 'Ada', tags: ['x', 'y'], nested: { n: 1, list: [{ deep: true }] } });
    expect(stored).not.toBe(input);
    expect(isDeepFrozen(stored)).toBe(true);
    expect(() => {
      stored.name = 'Eve';
    }).toThrow(TypeError);
    expect(() => stored.tags.push('w')).toThrow(TypeError);
    expect(() => {
      stored.nested.list[0]!.deep = false;
    }).toThrow(TypeError);
    expect(read(prepared)).toStrictEqual({ name: 'Ada', tags: ['x', 'y'], nested: { n: 1, list: [{ deep: true }] } });
  });

  test('copy-on-read values (Date, Map, Set, typed arrays): each read is fresh; mutating it changes nothing', () => {
    const date = new Date(1000);
    const map = new Map<string, unknown>([['k', { v: 1 }]]);
    const set = new Set([1, 2]);
    const bytes = new Uint8Array([1, 2, 3]);
    const input = { date, map, set, bytes };
    const prepared = prepare(input);
    expect(prepared.copyOnRead).toBe(true);
    date.setTime(0);
    map.set('k2', 2);
    set.add(3);
    bytes[0] = 99;
    const expected = { date: new Date(1000), map: new Map([['k', { v: 1 }]]), set: new Set([1, 2]), bytes: new Uint8Array([1, 2, 3]) };
    const first = read(prepared) as typeof input;
    expect(first).toStrictEqual(expected);
    const second = read(prepared) as typeof input;
    expect(second).not.toBe(first);
    expect(second.map).not.toBe(first.map);
    first.date.setTime(5);
    first.map.set('k', 'changed');
    first.set.clear();
    first.bytes.fill(0);
    expect(read(prepared)).toStrictEqual(expected);
    expect(second).toStrictEqual(expected);
    for (const top of [new Date(7), new Map([[1, 2]]), new Set(['a']), new Float64Array([1.5])]) {
      const p = prepare(top);
      expect(p.copyOnRead).toBe(true);
      const a = read(p);
      const b = read(p);
      expect(a).not.toBe(b);
      vandalise(a);
      expect(read(p)).toStrictEqual(top);
    }
  });

  test('the encoding is an own copy: later changes to the input do not alter it', () => {
    const input = { a: [1, 2, 3] };
    const prepared = prepare(input);
    const before = Array.from(prepared.encoded);
    input.a.push(4);
    expect(Array.from(prepared.encoded)).toEqual(before);
    expect(read(prepareEncoded(prepared.encoded))).toStrictEqual({ a: [1, 2, 3] });
  });

  test('primitives are stored as they are', () => {
    for (const v of [null, true, false, 0, 1.5, 'text', 5n]) {
      const p = prepare(v);
      expect(p.copyOnRead).toBe(false);
      expect(read(p)).toBe(v);
    }
  });
});

describe('rejections', () => {
  const cases: readonly [label: string, value: () => unknown, message: string | RegExp][] = [
    ['undefined at the top level', () => undefined, 'put(): value must not be undefined'],
    ['a function', () => () => 1, 'put(): value is a function'],
    ['a symbol', () => Symbol('s'), 'put(): value is a symbol'],
    ['a nested function (path names it)', () => ({ a: [0, 1, () => 1] }), 'put(): value.a[2] is a function'],
    ['a nested symbol in an array', () => [[Symbol('s')]], 'put(): value[0][0] is a symbol'],
    ['a function as a Map value', () => new Map([['k', () => 1]]), 'put(): value.<value 0> is a function'],
    ['a function as a Map key', () => new Map([[() => 1, 1]]), 'put(): value.<key 0> is a function'],
    ['a function in a Set', () => new Set([1, () => 1]), 'put(): value.<item 1> is a function'],
    ['a method (toJSON is no escape)', () => ({ toJSON: () => 1 }), 'put(): value.toJSON is a function'],
    [
      'a cyclic object',
      () => {
        const o: Record<string, unknown> = { x: 1 };
        o['self'] = o;
        return o;
      },
      'put(): value.self is a cyclic reference',
    ],
    [
      'a cyclic array',
      () => {
        const a: unknown[] = [];
        a.push([a]);
        return a;
      },
      'put(): value[0][0] is a cyclic reference',
    ],
    [
      'a cyclic map value',
      () => {
        const m = new Map<string, unknown>();
        m.set('x', m);
        return m;
      },
      'put(): value.<value 0> is a cyclic reference',
    ],
    [
      'a cyclic map key',
      () => {
        const m = new Map<unknown, unknown>();
        m.set(m, 1);
        return m;
      },
      'put(): value.<key 0> is a cyclic reference',
    ],
    [
      'a cyclic set',
      () => {
        const s = new Set<unknown>();
        s.add(s);
        return s;
      },
      'put(): value.<item 0> is a cyclic reference',
    ],
    [
      'an indirect cycle through a map',
      () => {
        const o: Record<string, unknown> = {};
        o['m'] = new Map([['back', [o]]]);
        return o;
      },
      'put(): value.m.<value 0>[0] is a cyclic reference',
    ],
    ['a lone high surrogate', () => 'a\uD800b', 'put(): value is a string with a lone surrogate'],
    ['a lone low surrogate, nested', () => ({ s: ['ok', '\uDC00'] }), 'put(): value.s[1] is a string with a lone surrogate'],
    ['a lone surrogate as a Map key', () => new Map([['\uD83D', 1]]), 'put(): value.<key 0> is a string with a lone surrogate'],
    ['an own __proto__ key', () => JSON.parse('{"__proto__":1}') as unknown, 'put(): value has an own "__proto__" key'],
    ['a nested own __proto__ key', () => ({ a: JSON.parse('{"__proto__":{"polluted":true}}') as unknown }), 'put(): value.a has an own "__proto__" key'],
    ['an own __proto__ key on a null-prototype object', () => Object.defineProperty(Object.create(null) as object, '__proto__', { value: 1, enumerable: true }), 'has an own "__proto__" key'],
    ['a class instance', () => new (class Point { x = 1; })(), 'put(): value is an instance of Point'],
    ['a nested class instance', () => ({ list: [new (class Point { x = 1; })()] }), 'put(): value.list[0] is an instance of Point'],
    ['a RegExp', () => /x/g, 'put(): value is an instance of RegExp'],
    ['an Error', () => new Error('e'), 'put(): value is an instance of Error'],
    ['a WeakMap', () => new WeakMap(), 'put(): value is an instance of WeakMap'],
    ['a WeakSet', () => new WeakSet(), 'put(): value is an instance of WeakSet'],
    ['a Promise', () => Promise.resolve(1), 'put(): value is an instance of Promise'],
    ['a boxed primitive', () => Object(1) as unknown, 'put(): value is an instance of Number'],
    ['an ArrayBuffer', () => new ArrayBuffer(4), 'put(): value is an instance of ArrayBuffer'],
    ['a DataView', () => new DataView(new ArrayBuffer(4)), 'put(): value is an instance of DataView'],
    ['an object with a prototype that is neither Object.prototype nor null', () => Object.create({ inherited: 1 }) as object, 'put(): value is an instance of'],
  ];

  test.each(cases)('rejects %s', (_label, make, message) => {
    expectInvalidValue(() => prepare(make()), message);
  });

  test('property: a bad leaf anywhere is rejected with INVALID_VALUE and a message naming its path', () => {
    const segment = fc.oneof(fc.nat(4), safeKey.filter((k) => k.length > 0));
    const badLeaf = fc.constantFrom<[unknown, string]>([() => 1, 'is a function'], [Symbol('x'), 'is a symbol'], ['\uD800', 'lone surrogate'], [/re/, 'is an instance of RegExp'], [new WeakMap(), 'is an instance of WeakMap']);
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 6 }), badLeaf, valueArb, (path, [bad, why], filler) => {
        let value: unknown = bad;
        for (let i = path.length - 1; i >= 0; i--) {
          const seg = path[i]!;
          if (typeof seg === 'number') {
            const array: unknown[] = Array.from({ length: seg }, () => expectedOf(filler));
            array.push(value);
            value = array;
          } else {
            value = { [seg]: value };
          }
        }
        const where = WHAT + path.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('');
        const error = expectInvalidValue(() => prepare(value), why);
        expect(error.message.startsWith(`${where} `)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  test('values over maxBytes are rejected; exactly maxBytes is accepted', () => {
    const value = { text: 'x'.repeat(200), list: [1, 2, 3] };
    const size = prepare(value).encoded.byteLength;
    expect(read(prepare(value, size))).toStrictEqual(value);
    expectInvalidValue(() => prepare(value, size - 1), `put(): value is ${size} bytes encoded, over the limit of ${size - 1} bytes (maxValueBytes)`);
    expectInvalidValue(() => prepare(new Uint8Array(1024), 100), 'over the limit of 100 bytes');
    expectInvalidValue(() => prepare('y'.repeat(100), 50), 'maxValueBytes');
  });

  test('the argument name given by the caller is used verbatim', () => {
    expectInvalidValue(() => prepareValue(() => 1, NO_LIMIT, 'batch(): ops[3]: value'), /^batch\(\): ops\[3\]: value is a function/);
    expectInvalidValue(() => prepareValue(undefined, NO_LIMIT, 'tx.put(): value'), /^tx\.put\(\): value must not be undefined/);
  });
});

describe('prototype pollution', () => {
  test('nothing accepted or rejected here pollutes Object.prototype', () => {
    expectInvalidValue(() => prepare(JSON.parse('{"__proto__":{"polluted":true}}')), '__proto__');
    expectInvalidValue(() => prepare({ nested: [JSON.parse('{"__proto__":{"polluted":true}}')] }), '__proto__');
    // A "__proto__" Map key is just a key.
    const map = new Map<string, unknown>([['__proto__', { polluted: true }]]);
    const back = roundTrip(map) as Map<string, unknown>;
    expect(back).toStrictEqual(map);
    expect(back.get('__proto__')).toStrictEqual({ polluted: true });
    // Keys that merely look dangerous are ordinary data.
    const lookalikes = { constructor: { prototype: { polluted: true } }, prototype: 1, __proto: 2, proto__: 3 };
    const backLookalikes = roundTrip(lookalikes);
    // (toStrictEqual would compare the own "constructor" properties by identity, so compare structurally.)
    expect(backLookalikes).toEqual(lookalikes);
    expect(Object.keys(backLookalikes as object)).toEqual(Object.keys(lookalikes));
    expect(Object.getPrototypeOf(backLookalikes)).toBe(Object.prototype);
    // Replaying crafted bytes with a "__proto__" record key must not set a prototype or pollute.
    let replayed: unknown;
    try {
      const p = prepareEncoded(encodeValue(JSON.parse('{"__proto__":{"polluted":true}}')));
      replayed = read(p);
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidValueError);
    }
    if (replayed !== undefined) {
      expect(Object.getPrototypeOf(replayed)).toBe(Object.prototype);
      expect((replayed as Record<string, unknown>)['polluted']).toBeUndefined();
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNamesBefore);
  });
});

// ---------------------------------------------------------------- regressions (bugs found in packages/core)

describe('regressions', () => {
  test('regression: a Buffer reads back as a Buffer (it is accepted as a typed array, but comes back as a plain Uint8Array)', () => {
    const buffer = Buffer.from([0x68, 0x69]);
    const back = roundTrip(buffer) as Buffer;
    expect(back).toStrictEqual(buffer);
    expect(Buffer.isBuffer(back)).toBe(true);
    expect(back.toString('utf8')).toBe('hi');
  });

  test('regression: an object key with a lone surrogate is rejected (like string values and Map keys), not silently rewritten', () => {
    const value = { ok: 1, 'bad\uD800': 2 };
    let accepted: unknown;
    let caught: unknown;
    try {
      accepted = roundTrip(value);
    } catch (error) {
      caught = error;
    }
    // Either rejected with a path-naming InvalidValueError, or stored faithfully (it used to be neither: the key read back as "bad\uFFFD").
    if (caught === undefined) expect(accepted).toStrictEqual(value);
    else {
      expect(caught).toBeInstanceOf(InvalidValueError);
      expect((caught as Error).message).toContain('put(): value');
    }
  });

  test('regression: a Map subclass is rejected as a class instance or round-trips as a Map (it used to read back as {}, its entries lost)', () => {
    class Registry extends Map<string, number> {}
    const registry = new Registry([['a', 1], ['b', 2]]);
    let accepted: unknown;
    let caught: unknown;
    try {
      accepted = roundTrip(registry);
    } catch (error) {
      caught = error;
    }
    if (caught === undefined) {
      expect(accepted).toBeInstanceOf(Map);
      expect([...(accepted as Map<string, number>)]).toEqual([['a', 1], ['b', 2]]);
    } else {
      expect(caught).toBeInstanceOf(InvalidValueError);
      expect((caught as Error).message).toContain('instance of Registry');
    }
  });

  test('regression: prepareEncoded checks the bytes it is given and tells copied-on-read values apart (the store copies them; see value-memory.test.ts)', () => {
    const source = prepare(new Map([['k', 'original']]));
    const replayed = prepareEncoded(Uint8Array.from(source.encoded));
    expect(replayed.copyOnRead).toBe(true);
    expect(read(replayed)).toStrictEqual(new Map([['k', 'original']]));
    expect(() => prepareEncoded(Uint8Array.of(0xc1))).toThrow(InvalidValueError);
  });
});

describe('regression: decoded binary data must not alias stored bytes', () => {
  // msgpackr decodes bin data as views of its source; a reader mutating a Buffer it got
  // back once rewrote the stored value for every later reader.
  test('mutating a Buffer or Uint8Array read back changes nothing for the next read', () => {
    const prepared = prepareValue({ b: Buffer.from('xyz'), u: new Uint8Array([1, 2, 3]) }, 1 << 20, 'put(): value');
    const first = read(prepared) as { b: Buffer; u: Uint8Array };
    first.b[0] = 65;
    first.u[0] = 99;
    const second = read(prepared) as { b: Buffer; u: Uint8Array };
    expect(Buffer.isBuffer(second.b)).toBe(true);
    expect(second.b.toString()).toBe('xyz');
    expect(second.u[0]).toBe(1);
  });

  test('decoded binary data is never a view of the bytes it was decoded from', () => {
    const prepared = prepareValue({ u: new Uint8Array([1, 2, 3]) }, 1 << 20, 'put(): value');
    const first = read(prepared) as { u: Uint8Array };
    expect(first.u.buffer).not.toBe(prepared.encoded.buffer);
    prepared.encoded.fill(0);
    expect(first.u).toEqual(new Uint8Array([1, 2, 3]));
  });
});

describe('the plain-data fast check (inspectPlain) before the full walk', () => {
  class Point {
    x = 1;
  }
  const cyclic = (): unknown => {
    const o: Record<string, unknown> = { a: 1 };
    o['self'] = { back: o };
    return o;
  };
  const deep = (levels: number): unknown => {
    let v: unknown = 'bottom';
    for (let i = 0; i < levels; i++) v = i % 2 === 0 ? [v] : { v };
    return v;
  };
  const odd = fc.constantFrom<() => unknown>(
    () => () => 1,
    () => Symbol('s'),
    () => 'lone \ud800 surrogate',
    () => ({ ['bad\udc00key']: 1 }),
    () => JSON.parse('{"__proto__": 1}') as unknown,
    () => new Point(),
    () => new (class extends Uint8Array {})(2),
    () => -0,
    cyclic,
    () => deep(63),
    () => deep(64),
    () => deep(65),
    () => deep(MAX_VALUE_DEPTH + 1),
  );
  const mixed = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      valueArb,
      odd.map((make) => make()),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(safeKey, tie('value'), { maxKeys: 3 }),
    ),
  })).value;

  const full = (value: unknown): Inspection | string => {
    const state: Inspection = { freezable: true, negativeZero: false };
    try {
      inspect(value, state, [], [], WHAT);
    } catch (error) {
      return (error as Error).message;
    }
    return state;
  };

  test('property: never accepts what the full walk refuses, and agrees with it on freezability', () => {
    fc.assert(
      fc.property(mixed, (value) => {
        const plain = inspectPlain(value, 0);
        const reference = full(value);
        if (plain === UNSURE) return;
        expect(typeof reference).toBe('object');
        expect(reference).toEqual({ freezable: plain === PLAIN, negativeZero: false });
      }),
      { numRuns: 1000 },
    );
  });

  test('inspectValue gives what the full walk gives: the same learning, or the same error', () => {
    fc.assert(
      fc.property(mixed, (value) => {
        let got: Inspection | string;
        try {
          got = inspectValue(value, WHAT);
        } catch (error) {
          got = (error as Error).message;
        }
        expect(got).toEqual(full(value));
      }),
      { numRuns: 1000 },
    );
  });

  test('plain data and Dates are decided by the fast check; -0, Map, cycles and deep values go to the full walk', () => {
    expect(inspectPlain({ id: 1, name: 'n', tags: ['a', 'b'], nested: { ok: true, n: null } }, 0)).toBe(PLAIN);
    expect(inspectPlain({ at: new Date(0), bytes: new Uint8Array(2) }, 0)).toBe(UNFREEZABLE);
    expect(inspectPlain({ a: -0 }, 0)).toBe(UNSURE);
    expect(inspectPlain(new Map(), 0)).toBe(UNSURE);
    expect(inspectPlain(cyclic(), 0)).toBe(UNSURE);
    expect(inspectPlain(deep(64), 0)).toBe(PLAIN);
    expect(inspectPlain(deep(65), 0)).toBe(UNSURE);
    expectInvalidValue(() => prepare(cyclic()), 'cyclic reference');
    expect(prepare(deep(200)).copyOnRead).toBe(false);
  });
});
