import * as v from 'valibot';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z as z3 } from 'zod/v3';
import type { StandardSchema, StandardResult, TypedEntry } from 'epochdb';
import { useDatabases } from '../support/databases.js';

// Collections take any Standard Schema validator (https://standardschema.dev), not only zod 4:
// zod 3 (`zod/v3`, the zod 3 API zod 4 still ships), valibot, and a hand-written callable one
// (arktype's schemas are functions). Types are inferred from `~standard.types`; validation runs
// `~standard.validate` inside the commit, naming every failing field.

const { openDb } = useDatabases({ maintenance: { intervalMs: 0 } });

describe('collections over Standard Schema validators', () => {
  it('zod 3: the value type is the schema output (not {}), defaults are stored, failing fields are named', async () => {
    const db = await openDb();
    const schema = z3.object({ name: z3.string().min(1), email: z3.string().email(), tags: z3.array(z3.string()).default([]) });
    const users = db.collection('user', { schema });
    expectTypeOf(users.get('k')).toEqualTypeOf<{ name: string; email: string; tags: string[] } | undefined>();
    expectTypeOf(users.put).parameter(1).toEqualTypeOf<{ name: string; email: string; tags?: string[] | undefined }>();
    await users.put('u1', { name: 'Ada', email: 'ada@example.com' });
    expect(users.get('u1')).toStrictEqual({ name: 'Ada', email: 'ada@example.com', tags: [] });
    const version = db.version;
    await expect(users.put('u2', { name: '', email: 'nope' })).rejects.toMatchObject({ code: 'INVALID_VALUE', message: expect.stringMatching(/user.put\(\): .*name: .*; email: /s) });
    await expect(db.put('u3', { name: 'x' }, { type: 'user' })).rejects.toMatchObject({ code: 'INVALID_VALUE', message: expect.stringContaining('email: ') });
    expect(db.version).toBe(version);
  });

  it('valibot: a transform is stored as its output, in transactions too; nested paths are named', async () => {
    const db = await openDb();
    const schema = v.object({ name: v.pipe(v.string(), v.transform((s) => s.toUpperCase())), address: v.object({ city: v.string() }) });
    const people = db.collection('person', { schema });
    expectTypeOf(people.get('k')).toEqualTypeOf<{ name: string; address: { city: string } } | undefined>();
    await people.put('p1', { name: 'ada', address: { city: 'London' } });
    expect(people.get('p1')).toStrictEqual({ name: 'ADA', address: { city: 'London' } });
    await db.transaction((tx) => tx.collection(people).put('p2', { name: 'bob', address: { city: 'Paris' } }));
    expect(db.get('p2')).toStrictEqual({ name: 'BOB', address: { city: 'Paris' } });
    await expect(people.put('p3', { name: 'cy', address: { city: 7 } } as never)).rejects.toMatchObject({ code: 'INVALID_VALUE', message: expect.stringContaining('address.city: ') });
    expect(db.has('p3')).toBe(false);
  });

  it('a hand-written callable validator with { key } path segments (the shape arktype has)', async () => {
    const db = await openDb();
    const validate = (value: unknown): StandardResult<{ n: number }> =>
      typeof value === 'object' && value !== null && typeof (value as { n?: unknown }).n === 'number'
        ? { value: { n: (value as { n: number }).n } }
        : { issues: [{ message: 'must be a number', path: [{ key: 'n' }] }] };
    const schema = Object.assign(() => undefined, { '~standard': { version: 1 as const, vendor: 'test', validate, types: undefined as unknown as { input: { n: number }; output: { n: number } } } });
    const counters = db.collection('counter', { schema });
    expectTypeOf(counters.get('k')).toEqualTypeOf<{ n: number } | undefined>();
    expectTypeOf([...counters.scan()]).toEqualTypeOf<TypedEntry<{ n: number }>[]>();
    await counters.put('c1', { n: 1 });
    expect(counters.get('c1')).toStrictEqual({ n: 1 });
    await expect(db.put('c2', { n: 'one' }, { type: 'counter' })).rejects.toMatchObject({ code: 'INVALID_VALUE', message: expect.stringContaining('n: must be a number') });
  });

  it('a schema that validates asynchronously is refused with INVALID_OPTION at the write, which changes nothing', async () => {
    const db = await openDb();
    const schema: StandardSchema<{ a: number }> = { '~standard': { version: 1, vendor: 'test', validate: async (value) => ({ value: value as { a: number } }) } };
    const things = db.collection('thing', { schema });
    const version = db.version;
    await expect(things.put('t1', { a: 1 })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('validates asynchronously') });
    expect(db.version).toBe(version);
    expect(db.has('t1')).toBe(false);
  });

  it('something that is not a Standard Schema validator is INVALID_OPTION naming what is expected', async () => {
    expect.assertions(3);
    const db = await openDb();
    for (const schema of [{}, { '~standard': {} }, { safeParse: () => ({ success: true }) }]) {
      try {
        db.collection('x', { schema: schema as never });
      } catch (error) {
        expect(error).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('must be a Standard Schema validator') });
      }
    }
  });
});
