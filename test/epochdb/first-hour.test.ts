import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { useDatabases } from '../support/databases.js';

// What a new user met in the first hour (issue 14): a change feed that let the process exit,
// snapshotAt history after a reopen, paths that are files or have no parent, a commit that
// changes nothing, and db.get() typed unknown.

const { openDb, tempDir } = useDatabases({ maintenance: { intervalMs: 0 } });
const root = fileURLToPath(new URL('../..', import.meta.url));
const DIST = pathToFileURL(join(root, 'packages/epochdb/dist/index.js')).href;

/** Runs `source` as an .mjs program with plain node; resolves to its exit code and output. */
function runProgram(dir: string, source: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const file = join(dir, 'program.mjs');
  writeFileSync(file, source);
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { timeout: 20_000 }, (error, stdout, stderr) => resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? null), stdout, stderr }));
  });
}

describe('db.watch() keeps the process alive while it waits', () => {
  it('a program whose only work is a for await over db.watch() gets its change and exits 0', async () => {
    // The put comes from an unref'd timer: it fires only if something else keeps the process alive.
    const result = await runProgram(
      tempDir(),
      `import { open } from ${JSON.stringify(DIST)};
const db = await open();
setTimeout(() => void db.put('k', 'hello'), 20).unref();
for await (const change of db.watch()) {
  console.log(change.key, change.value);
  break;
}
await db.close();
console.log('closed');
`,
    );
    expect(result).toStrictEqual({ code: 0, stdout: 'k hello\nclosed\n', stderr: '' });
  });

  it('a stream no one waits on does not keep the process alive', async () => {
    const result = await runProgram(
      tempDir(),
      `import { open } from ${JSON.stringify(DIST)};
const db = await open();
const stream = db.watch();
await db.put('k', 1);
console.log((await stream.next()).value.key);
// Nothing waits on the stream any more, and the database is left open: the process still ends.
`,
    );
    expect(result).toStrictEqual({ code: 0, stdout: 'k\n', stderr: '' });
  });
});

describe('snapshotAt() says why a version is gone', () => {
  it('after a reopen, names the checkpoint the database opened from instead of blaming retainVersions', async () => {
    expect.assertions(4);
    const dir = join(tempDir(), 'db');
    // Written without retainVersions, so its files keep no history (with it, history survives: test/persist/history-restart.test.ts).
    const first = await openDb({ dir });
    for (let i = 1; i <= 3; i++) await first.put('k', i);
    await first.close();
    const db = await openDb({ dir, retainVersions: 100 });
    expect(db.recovery?.checkpointVersion).toBe(3);
    await db.put('k', 4);
    db.snapshotAt(3).release(); // history since open is retained
    try {
      db.snapshotAt(2);
    } catch (error) {
      expect(error).toMatchObject({ code: 'VERSION_UNAVAILABLE' });
      expect((error as Error).message).toContain('version 2 is older than the oldest retained version 3: the database was opened from a checkpoint at version 3');
      expect((error as Error).message).not.toContain('set retainVersions');
    }
  });

  it('names retainVersions when the version is outside the window, and quotes a string version', async () => {
    const db = await openDb({ retainVersions: 1 });
    for (let i = 1; i <= 4; i++) await db.put('k', i);
    expect(() => db.snapshotAt(1)).toThrow(/version 1 is older than the oldest retained version 3: it is more than retainVersions \(1\) behind the newest version 4/);
    expect(() => db.snapshotAt('3' as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('got "3"') }));
    const plain = await openDb();
    await plain.put('k', 1);
    await plain.put('k', 2);
    expect(() => plain.snapshotAt(1)).toThrow(/garbage-collected; pin it with an open snapshot, or set retainVersions/);
  });
});

describe('open({ dir })', () => {
  it('a dir that is a file is INVALID_OPTION saying it is not a directory', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'not a database');
    await expect(openDb({ dir: file })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining(`${JSON.stringify(file)} is not a directory`) });
    await expect(openDb({ dir: join(file, 'db') })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('is not a directory') });
  });

  it('creates only the last directory unless createParents: true', async () => {
    const base = tempDir();
    const dir = join(base, 'no', 'such', 'parent', 'db');
    await expect(openDb({ dir })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('pass createParents: true') });
    const db = await openDb({ dir, createParents: true });
    await db.put('k', 1);
    expect(db.persistent).toBe(true);
    // One missing level is the directory itself: created as before.
    const single = await openDb({ dir: join(base, 'fresh') });
    expect(single.persistent).toBe(true);
    mkdirSync(join(base, 'exists'));
    expect((await openDb({ dir: join(base, 'exists') })).version).toBe(0);
  });
});

describe('a commit that changes nothing', () => {
  it('still takes a version (as the README documents) and shows nothing on a change feed', async () => {
    const db = await openDb();
    await db.put('a', 1);
    const stream = db.watch();
    expect(await db.delete('missing')).toBe(2);
    expect(await db.batch([{ op: 'delete', key: 'missing' }, { op: 'delete', key: 'also-missing' }])).toBe(3);
    await db.put('b', 2);
    expect((await stream.next()).value).toMatchObject({ version: 4, key: 'b' });
    stream.close();
  });
});

describe('db.get<T>() and typed scans', () => {
  it('type-checks a typed read of the database (TypeScript compiler on a user program)', () => {
    const dir = tempDir();
    const file = join(dir, 'typed.mts');
    writeFileSync(
      file,
      `import { open } from 'epochdb';
const db = await open();
const name: string | undefined = db.get<{ name: string }>('user:1')?.name;
const entry = db.getEntry<{ name: string }>('user:1');
const alsoName: string | undefined = entry?.value.name;
// @ts-expect-error the type argument is the value's type
const wrong: number | undefined = db.get<{ name: string }>('user:1')?.name;
const untyped: unknown = db.get('user:1');
const scanned: string[] = [...db.scan<{ name: string }>({ prefix: 'user:' })].map((e) => e.value.name);
const byType: string[] = [...db.byType<{ name: string }>('user')].map((e) => e.value.name);
const byRun: string[] = [...db.byRun<{ name: string }>('import-42')].map((e) => e.value.name);
export { name, alsoName, wrong, untyped, scanned, byType, byRun };
`,
    );
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(root, 'node_modules/@types')],
      baseUrl: root,
      paths: { epochdb: ['packages/epochdb/src/index.ts'], '@epochdb/*': ['packages/*/src/index.ts'] },
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file);
    expect(diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toStrictEqual([]);
  });
});
