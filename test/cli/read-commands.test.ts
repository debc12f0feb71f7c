/**
 * `stats`, `get`, `scan` through the real binary: tables and `--json`, exit
 * codes, locked / missing / foreign directories, usage errors, and that the
 * read-only commands leave the directory as it was.
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open } from 'epochdb';
import { buildDb, epochdb, epochdbInSequence, snapshotFiles, tempRoot } from './cli-harness.js';

const temp = tempRoot('read');
afterAll(() => temp.cleanup());

let dir: string;
const EXPIRES_AT = Date.now() + 3_600_000;

beforeAll(async () => {
  dir = temp.dir('db');
  await buildDb(dir, async (db) => {
    await db.put('user:1', { name: 'Ada', born: new Date(Date.UTC(1815, 11, 10)) }, { type: 'user', run: 'import-1' });
    await db.put('user:2', { name: 'Grace\nHopper' }, { type: 'user', run: 'import-2', expiresAt: EXPIRES_AT });
    await db.put('order:1', { total: 12n, items: new Set(['a', 'b']) }, { type: 'order', run: 'import-1' });
    await db.put('blob', Buffer.from('hi'));
    // Expired before the checkpoint on close: not in the checkpoint, not a key. (Waiting past its 1 ms
    // makes that so however fast the close is: a close within the millisecond kept it, seen on a quiet machine.)
    await db.put('gone', 1, { ttl: 1 });
    await db.put('long', 'x'.repeat(300), { type: 'note' });
    await new Promise((resolve) => setTimeout(resolve, 5));
  });
});

describe('stats', () => {
  it('prints aligned pairs, and everything with --json', async () => {
    const [table, json] = await epochdbInSequence([['stats', dir], ['stats', dir, '--json']]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^directory {8}.*\nversion {10}6\nkeys {13}5\nkeys with TTL {4}1\n/);
    expect(table.stdout).toContain('checkpoints      1');
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { stats: { version: number; keys: number; ttlEntries: number }; recovery: { checkpointVersion: number }; files: { checkpoints: number } };
    expect(parsed.stats).toMatchObject({ version: 6, keys: 5, ttlEntries: 1 });
    expect(parsed.recovery.checkpointVersion).toBe(6);
    expect(parsed.files.checkpoints).toBe(1);
  });

  it('says a directory has no checkpoint yet instead of showing checkpoint figures', async () => {
    const fresh = temp.dir('no-checkpoint');
    await buildDb(fresh, async (db) => void (await db.put('a', 1)), { checkpointOnClose: false });
    const result = await epochdb(['stats', fresh]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\ncheckpoints {6}none yet \(every commit is in the WAL\)\n/);
    expect(result.stdout).toMatch(/\nrecovery {9}1 WAL records replayed\n/);
    expect(result.stdout).not.toMatch(/since the checkpoint|from the checkpoint|newest at version/);
  });
});

describe('get', () => {
  it('prints one entry with its metadata and full value', async () => {
    const result = await epochdb(['get', dir, 'user:2']);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines.slice(0, 4)).toEqual(['key      user:2', 'version  2', 'run      import-2', 'type     user']);
    expect(lines[4]).toMatch(new RegExp(`^expires  ${new Date(EXPIRES_AT).toISOString().replaceAll('.', '\\.')} \\(in 59m \\d\\ds\\)$`));
    expect(result.stdout).toContain("value    { name: 'Grace\\nHopper' }\n");
  });

  it('prints the entry as JSON with a tagged value', async () => {
    const result = await epochdb(['get', dir, 'order:1', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ key: 'order:1', value: { total: { $t: 'bigint', v: '12' }, items: { $t: 'Set', v: ['a', 'b'] } }, version: 3, run: 'import-1', type: 'order' });
  });

  it('exits 1 for a missing or expired key', async () => {
    const [missing, expired] = await epochdbInSequence([['get', dir, 'nope'], ['get', dir, 'gone']]);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toContain('key "nope" not found');
    expect(expired.code).toBe(1);
  });
});

describe('scan', () => {
  it('prints an aligned table in key order, without expired entries', async () => {
    const result = await epochdb(['scan', dir]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^KEY +VERSION +RUN +TYPE +EXPIRES +VALUE$/);
    expect(lines.slice(1).map((l) => l.split(/ +/)[0])).toEqual(['blob', 'long', 'order:1', 'user:1', 'user:2']);
    // Columns line up: every VERSION cell ends where the header does.
    const versionEnd = lines[0]!.indexOf('VERSION') + 'VERSION'.length;
    for (const line of lines.slice(1)) expect(line[versionEnd - 1]).toMatch(/\d/);
    expect(lines.find((l) => l.startsWith('user:2'))).toMatch(/import-2 +user +in 59m \d\ds +\{ name: 'Grace\\nHopper' \}$/);
    expect(result.stderr).toBe('5 entries\n');
  });

  it('fits the table into $COLUMNS by cutting flexible columns', async () => {
    const result = await epochdb(['scan', dir], { env: { COLUMNS: '70' } });
    expect(result.code).toBe(0);
    for (const line of result.stdout.trimEnd().split('\n')) expect([...line].length).toBeLessThanOrEqual(70);
    expect(result.stdout).toContain('…');
  });

  it('selects by prefix, run, type, run and type, limit and reverse', async () => {
    const selections = [
      ['--prefix', 'user:'],
      ['--run', 'import-1'],
      ['--type', 'user'],
      ['--run', 'import-1', '--type', 'user'],
      ['--limit', '2'],
      ['--reverse', '--limit', '2'],
      ['--gte', 'l', '--lt', 'user:2'],
    ];
    const results = await epochdbInSequence(selections.map((args) => ['scan', dir, '--json', ...args]));
    for (const r of results) expect(r.code).toBe(0);
    const [prefix, run, type, both, limited, reversed, range] = results.map((r) => (JSON.parse(r.stdout) as { key: string }[]).map((e) => e.key));
    expect(prefix).toEqual(['user:1', 'user:2']);
    expect(run).toEqual(['order:1', 'user:1']);
    expect(type).toEqual(['user:1', 'user:2']);
    expect(both).toEqual(['user:1']);
    expect(limited).toEqual(['blob', 'long']);
    expect(reversed).toEqual(['user:2', 'user:1']);
    expect(range).toEqual(['long', 'order:1', 'user:1']);
  });

  it('prints a JSON array of entries with tagged values', async () => {
    const result = await epochdb(['scan', dir, '--json', '--prefix', 'user:']);
    expect(JSON.parse(result.stdout)).toEqual([
      { key: 'user:1', value: { name: 'Ada', born: { $t: 'Date', v: '1815-12-10T00:00:00.000Z' } }, version: 1, run: 'import-1', type: 'user' },
      { key: 'user:2', value: { name: 'Grace\nHopper' }, version: 2, run: 'import-2', type: 'user', expiresAt: EXPIRES_AT },
    ]);
    const empty = await epochdb(['scan', dir, '--json', '--prefix', 'zzz']);
    expect(JSON.parse(empty.stdout)).toEqual([]);
  });

  it('the real executable prints the same as the in-process runs (shebang, arguments, exit code)', async () => {
    for (const args of [['scan', dir, '--json', '--prefix', 'user:'], ['get', dir, 'user:1'], ['get', dir, 'nope']]) {
      const [inProcess, binary] = [await epochdb(args), await epochdb(args, { binary: true })];
      expect(binary, args.join(' ')).toStrictEqual(inProcess);
    }
  });
});

describe('directories', () => {
  it('leaves the directory as it was after read-only commands', async () => {
    const before = snapshotFiles(dir);
    const results = await epochdbInSequence([['stats', dir], ['get', dir, 'user:1'], ['scan', dir], ['dump', dir], ['verify', dir]]);
    for (const r of results) expect(r.code).toBe(0);
    expect(snapshotFiles(dir)).toEqual(before);
  });

  it('exits 1 for a missing directory and does not create it', async () => {
    const missing = join(dir, '..', 'no-such-db');
    const results = await Promise.all(['stats', 'scan', 'verify', 'dump', 'repair', 'checkpoint'].map((c) => epochdb([c, missing])));
    for (const r of results) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('no such database directory');
    }
    expect((await epochdb(['backup', missing, join(dir, '..', 'bk')])).code).toBe(1);
    expect(existsSync(missing)).toBe(false);
  });

  it('exits 4 for a directory that is not an EpochDB database, and leaves it alone', async () => {
    const foreign = temp.dir('foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'hello');
    const empty = temp.dir('empty');
    mkdirSync(empty);
    const [a, b] = await Promise.all([epochdb(['stats', foreign]), epochdb(['scan', empty])]);
    expect(a.code).toBe(4);
    expect(a.stderr).toMatch(/^epochdb: UNSUPPORTED_FORMAT: .* is not an EpochDB directory/);
    expect(b.code).toBe(4);
    expect(snapshotFiles(empty)).toEqual({});
  });

  it('write commands exit 3 naming the holder when the directory is open elsewhere; read commands read it', async () => {
    const held = await open({ dir, workers: 0 });
    try {
      // The real binary: another process, as a user running epochdb beside their app would be.
      const results = await Promise.all([epochdb(['stats', dir], { binary: true }), epochdb(['get', dir, 'user:1'], { binary: true }), epochdb(['load', dir, '-'], { input: '' }), epochdb(['checkpoint', dir], { binary: true })]);
      // Read commands open read-only: no lock needed.
      expect(results[0]!.code).toBe(0);
      expect(results[1]!.code).toBe(0);
      expect(results[1]!.stdout).toContain('user:1');
      const checkpoint = results[3]!;
      expect(checkpoint.code).toBe(3);
      expect(checkpoint.stderr).toMatch(new RegExp(`^epochdb: LOCKED: database directory .* is locked by .*${process.pid}`));
      // load reads its input first: an empty file is refused before the lock is even tried.
      expect(results[2]!.code).toBe(1);
    } finally {
      await held.close();
    }
  });
});

describe('usage', () => {
  it('exits 2 with a message for bad command lines, 0 for help and version', async () => {
    // None of these gets as far as opening the directory, so they may run at once.
    const runs = await Promise.all([
      epochdb([]),
      epochdb(['frobnicate', dir]),
      epochdb(['get', dir]),
      epochdb(['scan', dir, '--limit', 'ten']),
      epochdb(['scan', dir, '--bogus']),
      epochdb(['get', dir, '']),
      epochdb(['--help']),
      epochdb(['--version']),
      epochdb(['help', 'scan']),
    ]);
    const [none, unknown, missingArg, badLimit, badOption, emptyKey, help, version, helpScan] = runs;
    for (const r of [none, unknown, missingArg, badLimit, badOption, emptyKey]) expect(r!.code).toBe(2);
    expect(none!.stderr).toContain('Usage: epochdb');
    expect(unknown!.stderr).toContain("unknown command 'frobnicate'");
    expect(missingArg!.stderr).toContain("missing required argument 'key'");
    expect(badLimit!.stderr).toContain('must be a non-negative integer');
    expect(badOption!.stderr).toContain("unknown option '--bogus'");
    expect(emptyKey!.stderr).toBe('epochdb: INVALID_KEY: get: <key> "" must not be empty\n');
    expect(help!.code).toBe(0);
    expect(help!.stdout).toContain('Exit codes: 0 ok');
    // It points at help that ships with the command (docs/cli.md is not in the package).
    expect(help!.stdout).toContain("Run 'epochdb help <command>'");
    expect(help!.stdout).not.toContain('docs/cli.md');
    expect(helpScan).toMatchObject({ code: 0, stderr: '' });
    expect(helpScan!.stdout).toMatch(/^Usage: epochdb scan \[options\] <dir>/);
    expect(helpScan!.stdout).toContain('--prefix');
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });
});
