/** fast-check arbitraries for values `db.put` accepts: every type the codec carries, nested. */
import fc from 'fast-check';

const wellFormed = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => s.isWellFormed());

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MAX_SAFE_INTEGER + 2),
  fc.bigInt(),
  wellFormed,
  fc.date({ noInvalidDate: false }),
  fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a)),
  fc.uint8Array({ maxLength: 6 }),
  fc.int8Array({ maxLength: 4 }),
  fc.uint8ClampedArray({ maxLength: 4 }),
  fc.int16Array({ maxLength: 4 }),
  fc.uint16Array({ maxLength: 4 }),
  fc.int32Array({ maxLength: 4 }),
  fc.uint32Array({ maxLength: 4 }),
  fc.float32Array({ maxLength: 4 }),
  fc.float64Array({ maxLength: 4 }),
  fc.bigInt64Array({ maxLength: 3 }),
  fc.bigUint64Array({ maxLength: 3 }),
);

/** Object keys, including the tag key `$t` and `v` so that user objects that look tagged are generated. */
const objectKey = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('$t', 'v', 'key', '')).filter((k) => k !== '__proto__');

const tree = fc.letrec<{ value: unknown; inner: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, leaf, leaf, tie('inner')),
  /** What containers hold: values, and undefined (a nested undefined round-trips). */
  inner: fc.oneof(
    fc.array(fc.oneof(tie('value'), fc.constant(undefined)), { maxLength: 4 }),
    fc.sparseArray(tie('value'), { maxLength: 5 }),
    fc.dictionary(objectKey, fc.oneof(tie('value'), fc.constant(undefined)), { maxKeys: 4 }),
    fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((pairs) => new Map(pairs)),
    fc.array(tie('value'), { maxLength: 3 }).map((items) => new Set(items)),
  ),
}));

/** Any value `put` accepts (never `undefined` at the top level). */
export const storableValue: fc.Arbitrary<unknown> = tree.value;

/** One value of every kind by name, for readable failures. */
export const EVERY_KIND: Readonly<Record<string, unknown>> = {
  null: null,
  true: true,
  number: 1.5,
  negativeZero: -0,
  nan: Number.NaN,
  infinity: Number.POSITIVE_INFINITY,
  minusInfinity: Number.NEGATIVE_INFINITY,
  bigint: 2n ** 70n,
  negativeBigint: -5n,
  string: 'héllo\n"\u2028 🎉',
  date: new Date(Date.UTC(2024, 1, 29, 12, 30, 15, 123)),
  invalidDate: new Date(Number.NaN),
  map: new Map<unknown, unknown>([[1, 'one'], [{ a: 1 }, new Set([2n])]]),
  set: new Set([1, 'a', null]),
  buffer: Buffer.from('bytes'),
  uint8: new Uint8Array([0, 255]),
  int8: new Int8Array([-128, 127]),
  clamped: new Uint8ClampedArray([0, 255]),
  int16: new Int16Array([-1, 2]),
  uint16: new Uint16Array([65535]),
  int32: new Int32Array([-(2 ** 31)]),
  uint32: new Uint32Array([2 ** 32 - 1]),
  float32: new Float32Array([1.5, Number.NaN, -0]),
  float64: new Float64Array([Math.PI, -0, Number.POSITIVE_INFINITY]),
  bigInt64: new BigInt64Array([-(2n ** 63n)]),
  bigUint64: new BigUint64Array([2n ** 64n - 1n]),
  holes: [1, , 3, , ],
  undefinedInside: { a: undefined, b: [undefined] },
  looksTagged: { $t: 'Date', v: '2024-01-01T00:00:00.000Z' },
  looksTaggedNested: { outer: { $t: 'object', v: { $t: 'bigint', v: '1' } } },
  emptyThings: [[], {}, new Map(), new Set(), ''],
  deep: { a: [{ b: new Map([['c', [new Set([new Date(0)])]]]) }] },
};
