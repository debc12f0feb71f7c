// The shared structure table: values of a known object shape are stored as a
// structure id plus field values, and the table is durable no later than the
// first value that uses it. Every value of every shape must read back equal
// after checkpoints, WAL replay, read-only opens and backups, including once the
// table is full (later shapes are self-describing), and a value whose
// structure never became durable can never read back as something else.
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeValue, InvalidValueError, MAX_SHARED_STRUCTURES, ValueCodec } from '@epochdb/core';
import { open, type Database } from 'epochdb';
import { useDatabases } from '../support/databases.js';

const { openDb, tempDir } = useDatabases({ sync: 'none', workers: 0, maintenance: { intervalMs: 0 } }, 'epochdb-structures-');

/** Every key's value, compared with what the model holds. */
function expectValues(db: Database, model: ReadonlyMap<string, unknown>, where: string): void {
  expect(db.stats().keys, where).toBe(model.size);
  for (const [key, value] of model) expect(db.get(key), `${where}: ${key}`).toStrictEqual(value);
}

const FIELD_NAMES = ['a', 'b', 'c', 'id', 'name', 'x', 'y', 'z', 'tags', 'nested'];

/** Objects of random shapes (random subsets and orders of field names, nested objects and arrays of objects). */
const shaped: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  object: fc.dictionary(fc.constantFrom(...FIELD_NAMES), tie('leaf'), { minKeys: 0, maxKeys: 5, noNullPrototype: true }),
  leaf: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.string({ maxLength: 6 }),
    fc.boolean(),
    fc.constant(null),
    tie('object'),
    fc.array(tie('object'), { maxLength: 3 }),
  ),
})).object;

describe('the shared structure table', () => {
  it('property: values of random shapes, more shapes than the table takes, read back equal across checkpoints, WAL replay, read-only opens and backups', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            { weight: 6, arbitrary: fc.record({ t: fc.constant('put' as const), key: fc.integer({ min: 0, max: 30 }), value: shaped }) },
            { weight: 1, arbitrary: fc.record({ t: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 30 }) }) },
            { weight: 1, arbitrary: fc.record({ t: fc.constant('checkpoint' as const) }) },
            { weight: 1, arbitrary: fc.record({ t: fc.constant('reopen' as const), checkpointOnClose: fc.boolean() }) },
          ),
          { minLength: 1, maxLength: 40 },
        ),
        fc.integer({ min: 0, max: 6 }),
        async (commands, maxStructures) => {
          const dir = tempDir();
          const model = new Map<string, unknown>();
          let db = await open({ dir, sync: 'none', workers: 0, maintenance: { intervalMs: 0 }, maxStructures });
          try {
            for (const command of commands) {
              if (command.t === 'put') {
                await db.put(`k${command.key}`, command.value);
                model.set(`k${command.key}`, command.value);
              } else if (command.t === 'delete') {
                await db.delete(`k${command.key}`);
                model.delete(`k${command.key}`);
              } else if (command.t === 'checkpoint') {
                await db.checkpoint();
              } else {
                await db.close();
                db = await open({ dir, sync: 'none', workers: 0, maintenance: { intervalMs: 0 }, maxStructures, checkpointOnClose: command.checkpointOnClose });
                expectValues(db, model, 'after reopen');
              }
              expect(db.stats().structures).toBeLessThanOrEqual(Math.max(maxStructures, 0));
            }
            expectValues(db, model, 'live');
            const reader = await open({ dir, readOnly: true, workers: 0, maintenance: { intervalMs: 0 } });
            try {
              expectValues(reader, model, 'read-only open');
            } finally {
              await reader.close();
            }
            const backupDir = join(tempDir(), 'backup');
            await db.backup(backupDir);
            expect((await db.verify()).ok).toBe(true);
            await db.close();
            const restored = await open({ dir: backupDir, workers: 0, maintenance: { intervalMs: 0 } });
            try {
              expectValues(restored, model, 'backup');
            } finally {
              await restored.close();
            }
          } finally {
            await db.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a full table: 5,000 shapes with the default of 4,096, the rest self-describing; values of known shapes are smaller than self-describing ones', async () => {
    const dir = tempDir();
    const value = (i: number): Record<string, number> => ({ [`field${i}`]: i, id: i });
    const db = await openDb({ dir });
    for (let i = 0; i < 5000; i += 500) await db.batch(Array.from({ length: 500 }, (_, j) => ({ op: 'put' as const, key: `k${i + j}`, value: value(i + j) })));
    expect(db.stats().structures).toBe(4096);
    await db.close();
    const again = await openDb({ dir });
    expect(again.stats().structures).toBe(4096);
    for (let i = 0; i < 5000; i++) expect(again.get(`k${i}`)).toStrictEqual(value(i));
    // A new shape after the table is full is stored and read back too.
    await again.put('late', { brandNew: true });
    expect(again.get('late')).toStrictEqual({ brandNew: true });
    expect((await again.verify()).ok).toBe(true);
  });

  it('a value of a known shape carries only its id: about half the bytes of a self-describing one', () => {
    const codec = new ValueCodec();
    const user = { id: 123456789, name: 'Ada Lovelace', email: 'ada@example.com', age: 36, active: true };
    codec.prepare(user, 1 << 20, 'value');
    const known = codec.prepare({ ...user, id: 2 }, 1 << 20, 'value').encoded.byteLength;
    const selfDescribing = encodeValue({ ...user, id: 2 }).byteLength;
    expect(known).toBeLessThan(selfDescribing * 0.75);
    expect(codec.size).toBe(1);
  });

  it('regression: a value refused after its new shape was minted (too large) leaves the table usable: later values of that shape are durable and read back', async () => {
    const dir = tempDir();
    const db = await openDb({ dir, maxValueBytes: 64 });
    await expect(db.put('big', { fresh: 'x'.repeat(200), shape: 1 })).rejects.toBeInstanceOf(InvalidValueError);
    await db.put('small', { fresh: 'y', shape: 2 });
    await db.transaction((tx) => {
      tx.put('tx', { another: 1 });
      throw new Error('abandoned');
    }).catch(() => undefined);
    await db.put('after', { another: 2 });
    await db.close();
    const again = await openDb({ dir, checkpointOnClose: false });
    expect(again.get('small')).toStrictEqual({ fresh: 'y', shape: 2 });
    expect(again.get('after')).toStrictEqual({ another: 2 });
    expect(again.has('big')).toBe(false);
  });

  it('regression: the largest maxStructures (8160) opens and works (msgpackr takes at most 8192 shared and own structures together)', async () => {
    const db = await openDb({ dir: tempDir(), maxStructures: MAX_SHARED_STRUCTURES });
    for (let i = 0; i < 40; i++) await db.put(`k${i}`, { [`f${i}`]: i, nested: { [`g${i}`]: [i] } });
    for (let i = 0; i < 40; i++) expect(db.get(`k${i}`)).toStrictEqual({ [`f${i}`]: i, nested: { [`g${i}`]: [i] } });
    expect(db.stats().structures).toBe(80); // 40 top-level shapes and 40 nested ones
    await expect(openDb({ maxStructures: MAX_SHARED_STRUCTURES + 1 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  it('a table written with a higher limit reads in full under a lower one, which mints no more', async () => {
    const dir = tempDir();
    const db = await openDb({ dir, maxStructures: 100 });
    for (let i = 0; i < 50; i++) await db.put(`k${i}`, { [`f${i}`]: i });
    expect(db.stats().structures).toBe(50);
    await db.close();
    const lower = await openDb({ dir, maxStructures: 10, checkpointOnClose: false });
    for (let i = 0; i < 50; i++) expect(lower.get(`k${i}`)).toStrictEqual({ [`f${i}`]: i });
    await lower.put('new', { unseen: 1 });
    expect(lower.stats().structures).toBe(50);
    expect(lower.get('new')).toStrictEqual({ unseen: 1 });
  });
});

describe('directories written before the structure table (WAL and checkpoint format 1, test/fixtures/format-1, written by commit dbdb1fd)', () => {
  const FIXTURE = new URL('../fixtures/format-1/', import.meta.url).pathname;

  it('open and read every value; new writes and a checkpoint upgrade them, and the upgraded directory reopens equal', async () => {
    const dir = join(tempDir(), 'db');
    cpSync(FIXTURE, dir, { recursive: true });
    const expected = JSON.parse(readFileSync(new URL('../fixtures/format-1-contents.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    const model = new Map(Object.entries(expected));
    const db = await openDb({ dir });
    expect(db.stats().structures).toBe(0);
    expectValues(db, model, 'format 1');
    await db.put('added', { written: 'by format 2' });
    model.set('added', { written: 'by format 2' });
    await db.checkpoint();
    await db.close();
    expect(readdirSync(dir).some((name) => name.endsWith('.ckpt'))).toBe(true);
    const again = await openDb({ dir });
    expectValues(again, model, 'upgraded');
    expect((await again.verify()).ok).toBe(true);
  });
});

describe('directories of checkpoint format 2 (msgpack chunks; test/fixtures/format-2, written by commit f368f19)', () => {
  const FIXTURE = new URL('../fixtures/format-2/', import.meta.url).pathname;
  interface Contents {
    values: Record<string, unknown>;
    tags: Record<string, { run: string | null; type: string | null; expiresAt: number | null }>;
  }

  it('open and read every value and tag; a checkpoint rewrites them in format 3, and the rewritten directory reopens equal', async () => {
    const dir = join(tempDir(), 'db');
    cpSync(FIXTURE, dir, { recursive: true });
    const expected = JSON.parse(readFileSync(new URL('../fixtures/format-2-contents.json', import.meta.url), 'utf8')) as Contents;
    const model = new Map(Object.entries(expected.values));
    const expectAll = (db: Database, where: string): void => {
      expectValues(db, model, where);
      for (const [key, tags] of Object.entries(expected.tags)) {
        const entry = db.getEntry(key)!;
        expect({ run: entry.run ?? null, type: entry.type ?? null, expiresAt: entry.expiresAt ?? null }, `${where}: tags of ${key}`).toStrictEqual(tags);
      }
      expect([...db.byType('typeA')].map((e) => e.key).sort(), `${where}: the type index`).toStrictEqual(Object.keys(expected.tags).filter((k) => expected.tags[k]!.type === 'typeA').sort());
    };
    const db = await openDb({ dir });
    expect(db.stats().structures).toBeGreaterThan(0);
    expectAll(db, 'format 2');
    await db.put('added', { written: 'by format 3' });
    model.set('added', { written: 'by format 3' });
    expected.tags.added = { run: null, type: null, expiresAt: null };
    await db.checkpoint();
    await db.close();
    const checkpoint = readdirSync(dir).filter((name) => name.endsWith('.ckpt')).sort().at(-1)!;
    expect(readFileSync(join(dir, checkpoint)).readUInt32LE(8), 'the new checkpoint is format 3').toBe(3);
    const again = await openDb({ dir });
    expectAll(again, 'rewritten');
    expect((await again.verify()).ok).toBe(true);
  });
});
