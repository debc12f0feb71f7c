/**
 * Hostile keys through every public entry point (issue 6). README: keys are
 * non-empty, well-formed strings of at most `maxKeyBytes` UTF-8 bytes;
 * anything else is INVALID_KEY. Write methods reject (never throw
 * synchronously); reads throw INVALID_KEY; nothing ever changes the database.
 */
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EpochError, open, type Database } from 'epochdb';

const MAX = 16;

/** The README's rule, independently. */
const valid = (key: unknown, max = MAX): boolean => typeof key === 'string' && key.length > 0 && key.isWellFormed() && Buffer.byteLength(key, 'utf8') <= max;

const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), // multi-byte UTF-8 around the byte limit
  fc.string({ minLength: MAX - 1, maxLength: MAX + 2 }),
  fc.constantFrom<unknown>('', '\ud800', 'a\udc00', '\udc00\ud800', '\u0000', 'é'.repeat(8), 'é'.repeat(9), '😀'.repeat(4), '😀'.repeat(5), 'x'.repeat(MAX), 'x'.repeat(MAX + 1), '__proto__', 'constructor'),
  fc.constantFrom<unknown>(undefined, null, 0, -0, 1, NaN, true, {}, [], ['a'], { toString: () => 'a' }, new String('a'), Symbol('k'), 1n, () => 'a'),
);

async function settle(p: () => Promise<unknown>): Promise<{ ok: boolean; error?: unknown }> {
  let promise: Promise<unknown> | undefined;
  expect(() => (promise = p()), 'write methods never throw synchronously').not.toThrow();
  return promise!.then(
    () => ({ ok: true }),
    (error: unknown) => ({ ok: false, error }),
  );
}

function expectInvalidKey(error: unknown): void {
  expect(error).toBeInstanceOf(EpochError);
  expect((error as EpochError).code).toBe('INVALID_KEY');
  expect((error as EpochError).message.length).toBeGreaterThan(0);
}

function fingerprint(db: Database): unknown {
  const s = db.stats();
  return { version: db.version, keys: s.keys, stored: s.storedVersions, all: [...db.scan()].map((e) => [e.key, e.value, e.version]) };
}

describe('hostile keys', () => {
  it('every entry point accepts exactly the documented keys; rejected ones are INVALID_KEY and change nothing', async () => {
    const db = await open({ maxKeyBytes: MAX, maintenance: { intervalMs: 0 } });
    await db.put('keep', 'old');
    let accepted = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(hostile, async (key) => {
        const k = key as string;
        const before = fingerprint(db);
        const ok = valid(key);
        ok ? accepted++ : rejected++;
        const writes = [
          () => db.put(k, 1),
          () => db.delete(k),
          () => db.put(k, 1, { ifVersion: 0 }),
          () => db.batch([{ op: 'put', key: 'other', value: 1 }, { op: 'put', key: k, value: 2 }]),
          () => db.batch([{ op: 'delete', key: k }]),
          () => db.transaction((tx) => { tx.put('other', 1); tx.put(k, 2); }),
        ];
        for (const w of writes) {
          const r = await settle(w);
          if (ok) expect(r.ok, `valid key ${inspect(k)}: ${String((r.error as Error | undefined)?.message)}`).toBe(true);
          else {
            expect(r.ok, `invalid key ${inspect(key)} was accepted`).toBe(false);
            // The transaction rejects with the error tx.put threw inside the callback.
            expectInvalidKey(r.error);
            expect(fingerprint(db), 'nothing changed').toEqual(before);
          }
        }
        const reads: (() => unknown)[] = [() => db.get(k), () => db.has(k), () => db.getEntry(k), () => { using s = db.snapshot(); return s.get(k); }];
        for (const r of reads) {
          if (ok) expect(r).not.toThrow();
          else {
            let error: unknown;
            try {
              r();
            } catch (e) {
              error = e;
            }
            expectInvalidKey(error);
          }
        }
        if (ok) {
          await db.put(k, 'v');
          expect(db.get(k)).toBe('v');
          expect([...db.scan({ gte: k, lte: k })].map((e) => e.key)).toEqual([k]);
          await db.delete(k);
          await db.delete('other');
        }
        expect(db.get('keep')).toBe('old');
      }),
      { numRuns: 400 },
    );
    console.log(`keys: ${accepted} valid, ${rejected} invalid`);
    expect(accepted).toBeGreaterThan(50);
    expect(rejected).toBeGreaterThan(50);
    await db.close();
  });

  it('the default limit: 1024 UTF-8 bytes exactly is accepted, 1025 rejected (also as 3-byte characters)', async () => {
    const db = await open({ maintenance: { intervalMs: 0 } });
    for (const [key, ok] of [
      ['k'.repeat(1024), true],
      ['k'.repeat(1025), false],
      ['€'.repeat(341) + 'k', true], // 1024 bytes
      ['€'.repeat(342), false], // 1026 bytes, 342 code units
      ['😀'.repeat(256), true], // 1024 bytes, 512 code units
      ['😀'.repeat(256) + 'x', false],
    ] as const) {
      const r = await settle(() => db.put(key, 1));
      expect(r.ok, `${key.length} code units`).toBe(ok);
      if (!ok) expectInvalidKey(r.error);
      if (ok) expect(db.has(key)).toBe(true);
    }
    expect(db.version).toBe(3);
    await db.close();
  });
});
