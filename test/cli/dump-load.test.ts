/**
 * `dump` and `load` through the real binary: a database with values of every
 * kind (and a fast-check sample of arbitrary ones), runs, types and expiry
 * times goes dump → load into a fresh directory and reads back exactly;
 * malformed dumps are refused before anything is written.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, type Entry } from 'epochdb';
import { buildDb, epochdb, epochdbInSequence, FIXTURE, tempRoot } from './cli-harness.js';
import { EVERY_KIND, storableValue } from './value-arbitrary.js';

const temp = tempRoot('dump');
afterAll(() => temp.cleanup());

const HOUR = 3_600_000;
const FAR = Date.now() + 10 * 24 * HOUR;
let source: string;

beforeAll(async () => {
  source = temp.dir('source');
  const rand = fc.sample(fc.record({ value: storableValue, run: fc.option(fc.constantFrom('r1', 'r2', 'ü/run')), type: fc.option(fc.constantFrom('t1', 't\n2')), ttl: fc.option(fc.integer({ min: HOUR, max: 30 * 24 * HOUR })) }), {
    numRuns: 200,
    seed: 7,
  });
  await buildDb(source, async (db) => {
    for (const [name, value] of Object.entries(EVERY_KIND)) await db.put(`kind:${name}`, value, { type: 'kind' });
    await db.put('meta:both', 'x', { run: 'run-1', type: 'type-1', expiresAt: FAR });
    await db.put('meta:run', 'x', { run: 'run-1' });
    await db.put('meta:gone', 'x', { ttl: 1 });
    await db.put('weird key \n\u2028 🎉', 1);
    await db.batch(
      rand.map(({ value, run, type, ttl }, i) => ({ op: 'put' as const, key: `rand:${String(i).padStart(3, '0')}`, value, ...(run === null ? {} : { run }), ...(type === null ? {} : { type }), ...(ttl === null ? {} : { ttl }) })),
    );
  });
});

/** Every entry of `dir`, read in the test process. */
async function entriesOf(dir: string): Promise<Entry[]> {
  const db = await open({ dir, ...FIXTURE, checkpointOnClose: false });
  try {
    return [...db.scan()];
  } finally {
    await db.close();
  }
}

describe('dump and load', () => {
  it('round-trips every value, run, type and expiry time into a fresh directory', async () => {
    const file = join(temp.dir('files'), '..', 'source.jsonl');
    const target = temp.dir('target');
    const [dumped, loaded, again] = await epochdbInSequence([
      ['dump', source, '--out', file, '--json'],
      ['load', target, file, '--json'],
      ['dump', target],
    ]);
    expect(dumped.code).toBe(0);
    const expected = await entriesOf(source);
    expect(JSON.parse(dumped.stdout)).toEqual({ dir: source, out: file, version: expect.any(Number), entries: expected.length });
    expect(loaded.code).toBe(0);
    expect(JSON.parse(loaded.stdout)).toMatchObject({ loaded: expected.length, skippedExpired: 0, version: 1 });

    const actual = await entriesOf(target);
    expect(actual.map((e) => e.key)).toEqual(expected.map((e) => e.key));
    for (const [i, e] of expected.entries()) {
      const a = actual[i]!;
      expect(a.value, e.key).toStrictEqual(e.value);
      expect([a.run, a.type, a.expiresAt], e.key).toEqual([e.run, e.type, e.expiresAt]);
    }
    expect(actual.find((e) => e.key === 'kind:negativeZero')?.value).toBe(-0);
    expect(actual.find((e) => e.key === 'meta:both')).toMatchObject({ run: 'run-1', type: 'type-1', expiresAt: FAR });
    expect(actual.some((e) => e.key === 'meta:gone')).toBe(false);

    // Dumping what was loaded gives the same lines: the format is deterministic and lossless.
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(again.code).toBe(0);
    expect(again.stdout.split('\n').slice(1)).toEqual(lines.slice(1));
  });

  it('writes a header, one line per entry in key order, and an end line', async () => {
    const result = await epochdb(['dump', source]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({ epochdb: 'dump', format: 1, version: expect.any(Number), dumpedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(lines.at(-1)).toEqual({ epochdb: 'end', entries: lines.length - 2 });
    expect(lines.find((l) => l['key'] === 'kind:looksTagged')).toEqual({ key: 'kind:looksTagged', value: { $t: 'object', v: { $t: 'Date', v: '2024-01-01T00:00:00.000Z' } }, type: 'kind' });
    expect(lines.find((l) => l['key'] === 'meta:both')).toEqual({ key: 'meta:both', value: 'x', run: 'run-1', type: 'type-1', expiresAt: FAR });
    expect(result.stderr).toMatch(/^dumped \d+ entries at version \d+\n$/);
  });

  it('refuses to load into a database that holds entries unless --merge, changing nothing', async () => {
    const target = temp.dir('nonempty');
    await buildDb(target, async (db) => {
      await db.put('a', 'old');
    });
    const dump = [JSON.stringify({ epochdb: 'dump', format: 1, version: 1, dumpedAt: new Date().toISOString() }), JSON.stringify({ key: 'a', value: 'new' }), JSON.stringify({ epochdb: 'end', entries: 1 })].join('\n');
    const refused = await epochdb(['load', target, '-'], { input: dump });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`epochdb: ${target} already holds 1 key(s): load refuses to merge into it by surprise; pass --merge to load anyway (keys in the dump overwrite, others stay), or load into a new directory\n`);
    expect((await entriesOf(target)).map((e) => [e.key, e.value])).toStrictEqual([['a', 'old']]);
  });

  it('with --merge, loads from stdin, skips entries already expired, keeps absolute expiry times, and overwrites existing keys', async () => {
    const target = temp.dir('stdin');
    await buildDb(target, async (db) => {
      await db.put('a', 'old');
      await db.put('keep', 'kept');
    });
    const soon = Date.now() + HOUR;
    const dump = [
      JSON.stringify({ epochdb: 'dump', format: 1, version: 3, dumpedAt: new Date().toISOString() }),
      JSON.stringify({ key: 'a', value: { $t: 'bigint', v: '1' }, run: 'r' }),
      JSON.stringify({ key: 'expired', value: 1, expiresAt: Date.now() - 1000 }),
      '',
      JSON.stringify({ key: 'soon', value: [1, { $t: 'undefined' }], type: 't', expiresAt: soon }),
      JSON.stringify({ epochdb: 'end', entries: 3 }),
      '',
    ].join('\n');
    const result = await epochdb(['load', target, '-', '--merge'], { input: dump });
    expect(result).toMatchObject({ code: 0, stdout: `loaded 2 entries into ${target} (skipped 1 expired; database now at version 3)\n` });
    const entries = await entriesOf(target);
    expect(entries.map(({ key, value, run, type, expiresAt }) => ({ key, value, run, type, expiresAt }))).toStrictEqual([
      { key: 'a', value: 1n, run: 'r', type: undefined, expiresAt: undefined },
      { key: 'keep', value: 'kept', run: undefined, type: undefined, expiresAt: undefined },
      { key: 'soon', value: [1, undefined], run: undefined, type: 't', expiresAt: soon },
    ]);
  });

  it('refuses a malformed dump before writing anything (exit 1, directory not created)', async () => {
    const header = JSON.stringify({ epochdb: 'dump', format: 1, version: 1, dumpedAt: new Date().toISOString() });
    const entry = JSON.stringify({ key: 'k', value: 1 });
    const end = (n: number): string => JSON.stringify({ epochdb: 'end', entries: n });
    const cases: [string, RegExp][] = [
      [[header, entry].join('\n'), /line 2: the dump is incomplete: no end line/],
      [[header, entry, end(2)].join('\n'), /line 3: the end line counts 2 entries, the dump holds 1/],
      [[JSON.stringify({ epochdb: 'dump', format: 2, version: 1, dumpedAt: '' }), end(0)].join('\n'), /line 1: dump format 2 is not supported/],
      [['{"hello": 1}', end(0)].join('\n'), /^epochdb: \S+: line 1: not an epochdb dump: missing header line \(the first line of a dump is \{"epochdb":"dump",\.\.\.\}, as `epochdb dump` writes it\)\n$/],
      [[entry, end(1)].join('\n'), /^epochdb: \S+: line 1: not an epochdb dump: missing header line [^\n]*\n$/],
      [[JSON.stringify({ epochdb: 'dump', format: 1 }), end(0)].join('\n'), /line 1: not an epochdb dump header \(version: /],
      [[header, entry, '{"key": "x", "value": {"$t": "Regexp", "v": "a"}}', end(2)].join('\n'), /line 3: key "x": value: unknown tag "Regexp"/],
      [[header, '{"key": "x", "value": {"__proto__": 1}}', end(1)].join('\n'), /line 2: key "x": value has an own "__proto__" key/],
      [[header, '{"key": "", "value": 1}', end(1)].join('\n'), /line 2: key "": key must not be empty/],
      [[header, '{"key": "x", "value": 1, "run": ""}', end(1)].join('\n'), /line 2: key "x": entry\.run/],
      [[header, '{"key": "x"}', end(1)].join('\n'), /line 2: malformed entry \(value:/],
      [[header, 'not json', end(1)].join('\n'), /line 2: not JSON/],
      [[header, end(0), entry].join('\n'), /line 3: text after the end line/],
      ['', /empty file/],
    ];
    const results = await Promise.all(
      cases.map(async ([text], i) => {
        const file = join(temp.dir('bad'), `..`, `bad-${i}.jsonl`);
        writeFileSync(file, text);
        const target = temp.dir('never');
        return { result: await epochdb(['load', target, file]), target };
      }),
    );
    for (const [i, { result, target }] of results.entries()) {
      expect(result.code, cases[i]![1].source).toBe(1);
      expect(result.stderr, cases[i]![1].source).toMatch(cases[i]![1]);
      expect(existsSync(target)).toBe(false);
    }
    const missing = await epochdb(['load', temp.dir('never'), join(source, 'no-such-file.jsonl')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no-such-file\.jsonl: no such file/);
  });

  it('fails cleanly (exit 1, IO_ERROR naming --out and why) when the output file cannot be written', async () => {
    const out = join(temp.dir('nodir'), 'missing-parent', 'dump.jsonl');
    const result = await epochdb(['dump', source, '--out', out]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`epochdb: IO_ERROR: dump --out ${out}: cannot create the file: directory ${join(out, '..')} does not exist\n`);
    expect(result.stderr).not.toContain('.tmp-');
  });
});
