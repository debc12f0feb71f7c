/**
 * The tagged JSON value encoding (in-process, no binary): every storable
 * value survives encode → JSON text → decode exactly, and malformed tags are
 * refused with the place they are in.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, type Database } from 'epochdb';
import { fromTagged, toTagged, type Json } from '../../packages/epochdb/src/cli/tagged-json.js';
import { EVERY_KIND, storableValue } from './value-arbitrary.js';

let db: Database;
beforeAll(async () => {
  db = await open({ workers: 0 });
});
afterAll(() => db.close());

/** What the database gives back for `value`: the form dump sees (holes read back as undefined, null prototypes as plain objects). */
async function stored(value: unknown): Promise<unknown> {
  await db.put('v', value);
  return db.get('v');
}

const roundTrip = (value: unknown): unknown => fromTagged(JSON.parse(JSON.stringify(toTagged(value))) as Json);

describe('tagged JSON', () => {
  it('round-trips one value of every kind exactly', async () => {
    for (const [name, value] of Object.entries(EVERY_KIND)) {
      const expected = await stored(value);
      expect(roundTrip(expected), name).toStrictEqual(expected);
    }
    expect(Object.is(roundTrip(-0), -0)).toBe(true);
    expect(Object.is((roundTrip({ z: -0 }) as { z: number }).z, -0)).toBe(true);
    expect(toStrictEqualDistinguishesZeroes()).toBe(true);
  });

  it('round-trips arbitrary storable values exactly', async () => {
    await fc.assert(
      fc.asyncProperty(storableValue, async (value) => {
        const expected = await stored(value);
        expect(roundTrip(expected)).toStrictEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('leaves JSON-native values as plain JSON and wraps objects that have a $t key', () => {
    expect(toTagged({ a: [1, 'x', null, true], b: { c: 2 } })).toEqual({ a: [1, 'x', null, true], b: { c: 2 } });
    expect(toTagged({ $t: 'Date', v: 'x' })).toEqual({ $t: 'object', v: { $t: 'Date', v: 'x' } });
    expect(toTagged([1, , 3])).toEqual([1, { $t: 'undefined' }, 3]);
    expect(toTagged(new Float32Array([1]))).toEqual({ $t: 'Float32Array', v: 'AACAPw==' });
  });

  it('refuses malformed tags, naming where they are', () => {
    const bad: [Json, RegExp][] = [
      [{ $t: 'Regexp', v: 'x' }, /^value: unknown tag "Regexp"/],
      [{ a: [{ $t: 'bigint', v: '1.5' }] }, /^value\.a\[0\]: a "bigint" tag needs a decimal integer string/],
      [{ $t: 'number', v: 'NaNa' }, /"number" tag holds "NaN"/],
      [{ $t: 'Date', v: '2024-01-01' }, /"Date" tag needs an ISO 8601 string/],
      [{ $t: 'Buffer', v: 'not base64!' }, /canonical base64/],
      [{ $t: 'Int32Array', v: 'AAA=' }, /2 bytes are not a whole number of Int32Array elements/],
      [{ $t: 'Map', v: [[1]] }, /\[key, value\] pairs/],
      [{ $t: 'Set', v: 'x' }, /needs an array "v"/],
      [{ $t: 'undefined', v: 1 }, /has no "v"/],
      [{ $t: 'bigint', v: '1', extra: true }, /only "\$t" and "v", not "extra"/],
      [{ $t: 'object', v: [1] }, /needs an object "v"/],
    ];
    for (const [json, message] of bad) expect(() => fromTagged(json), JSON.stringify(json)).toThrow(message);
  });

  it('keeps a "__proto__" key as an own key, never as a prototype', () => {
    const value = fromTagged(JSON.parse('{"__proto__": {"polluted": true}}') as Json) as object;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });
});

/** The oracle must tell -0 from 0, or the round-trip checks above would prove nothing about it. */
function toStrictEqualDistinguishesZeroes(): boolean {
  try {
    expect({ a: [-0] }).toStrictEqual({ a: [0] });
    return false;
  } catch {
    return true;
  }
}
