/**
 * What a user of the published packages gets, tried as a user would: the
 * release tarballs (`pnpm pack:release`) installed with plain npm into a fresh
 * app outside the workspace, the README's quick start run there in JavaScript
 * and in TypeScript, and every README ```ts block type-checked in a strict app
 * (`strict`, `skipLibCheck: false`, `lib: ["ES2022"]`, `types: ["node"]`: no
 * DOM), which is where declarations that leak a dependency's types, or
 * methods that are not generic, show.
 *
 * Needs the npm registry (or an npm cache holding the dependencies) for the
 * install; `.ci/run` runs it as part of the README's test command.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as epochdb from 'epochdb';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string>; devDependencies: Record<string, string> };

/** The packages a user installs: `epochdb` and the workspace packages it depends on. */
const RELEASED = ['epochdb', '@epochdb/core', '@epochdb/persist', '@epochdb/replicate', '@epochdb/store', '@epochdb/workers'];

/** The compiler options the newcomer had: strict, libraries checked, no DOM. */
const STRICT_APP = {
  target: 'ES2022',
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  lib: ['ES2022'],
  types: ['node'],
  strict: true,
  skipLibCheck: false,
  outDir: 'out',
};

const work = mkdtempSync(join(tmpdir(), 'epochdb-published-'));
const release = join(work, 'release');
const app = join(work, 'app');
let tarballs: string[] = [];

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs a command, failing with its output when it exits non-zero. */
async function sh(file: string, args: readonly string[], cwd: string, timeout = 240_000): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd, timeout, maxBuffer: 64 << 20, env: { ...process.env, npm_config_update_notifier: 'false' } });
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}\n${e.stderr ?? ''}\n${e.message}`);
  }
}

/** The manifest inside a tarball. */
async function manifestOf(tarball: string): Promise<{ name: string; private?: boolean; dependencies?: Record<string, string> }> {
  return JSON.parse(await sh('tar', ['-xOzf', tarball, 'package/package.json'], work)) as { name: string; dependencies?: Record<string, string> };
}

beforeAll(async () => {
  // The documented command, with the destination moved out of the repository.
  expect(rootManifest.scripts['pack:release']).toBe('tsc -b && pnpm --filter "epochdb..." pack --pack-destination release');
  mkdirSync(release);
  await sh('npx', ['-y', 'pnpm@10', '--filter', 'epochdb...', 'pack', '--pack-destination', release], root);
  tarballs = readdirSync(release).map((name) => join(release, name));
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'newcomer-app', private: true, type: 'module' }, null, 2));
  const dev = rootManifest.devDependencies;
  // Plain npm, from the tarballs alone (npm cannot resolve `workspace:` ranges: a leftover would fail here),
  // and the libraries the README's examples import, at the workspace's versions.
  await sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs, `typescript@${dev['typescript']}`, `@types/node@${dev['@types/node']}`, `zod@${dev['zod']}`, `valibot@${dev['valibot']}`, `keyv@${dev['keyv']}`], app);
}, 300_000);

describe('the published packages', () => {
  it('are exactly epochdb and the @epochdb packages it depends on: no private package, no workspace: range left', async () => {
    const manifests = await Promise.all(tarballs.map(manifestOf));
    expect(manifests.map((m) => m.name).sort()).toStrictEqual([...RELEASED].sort());
    for (const manifest of manifests) {
      expect(manifest.private, manifest.name).not.toBe(true);
      for (const [name, range] of Object.entries(manifest.dependencies ?? {})) expect(range, `${manifest.name} -> ${name}`).not.toMatch(/^workspace:/);
    }
    const bench = JSON.parse(readFileSync(join(root, 'bench/package.json'), 'utf8')) as { private?: boolean };
    expect(bench.private).toBe(true);
  });

  it("run the README's JavaScript quick start with plain node, and its bin", async () => {
    const quickStart = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)][0]![1]!;
    writeFileSync(join(app, 'quick-start.mjs'), quickStart);
    expect(await sh(process.execPath, ['quick-start.mjs'], app, 30_000)).toBe("{ name: 'Ada' }\n");
    const help = await sh('npx', ['--no-install', 'epochdb', '--help'], app, 30_000);
    expect(help).toMatch(/^Usage: epochdb /);
    expect(help).toContain("Run 'epochdb help <command>'");
    expect(await sh('npx', ['--no-install', 'epochdb', 'stats', 'data', '--json'], app, 30_000)).toContain('"keys": 1');
  }, 120_000);

  it("compile the README's TypeScript quick start in a strict app (no DOM, libraries checked) and run it", async () => {
    const quickStart = readmeBlocks().find((b) => b.heading === 'Quick start')!.code;
    mkdirSync(join(app, 'quick'));
    writeFileSync(join(app, 'quick', 'main.ts'), `${quickStart}\nconsole.log(JSON.stringify(db.get('user:1')));\n`);
    writeFileSync(join(app, 'quick', 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...STRICT_APP, rootDir: '.' }, include: ['main.ts'] }, null, 2));
    await tsc(join(app, 'quick'));
    expect(await sh(process.execPath, [join('out', 'main.js')], join(app, 'quick'), 30_000)).toBe('{"name":"Ada","admin":true}\n');
  }, 240_000);

  it('type-check every README ```ts block, zod 3 and valibot collections, and the adapters, in the strict app', async () => {
    const dir = join(app, 'blocks');
    mkdirSync(dir);
    const names = Object.keys(epochdb).join(', ');
    const files: string[] = [];
    for (const [index, block] of readmeBlocks().entries()) {
      const imports: string[] = [];
      const body = block.code
        .split('\n')
        .filter((line) => {
          if (!/^import .* from '[^']+';$/.test(line)) return true;
          if (!/from 'epochdb';$/.test(line)) imports.push(line);
          return false;
        })
        .join('\n');
      // What readme.test.ts gives every block (a database `db` and a few names the examples use),
      // with the body in a block of its own so that a `db` it declares shadows the prelude's.
      const file = `block-${index}.ts`;
      files.push(file);
      writeFileSync(
        join(dir, file),
        [
          `// README block ${index} (${block.heading})`,
          `import { ${names} } from 'epochdb';`,
          ...imports,
          `void [${names}];`,
          'export async function example(): Promise<void> {',
          '  const clock = new ManualClock(Date.now());',
          '  const value = { example: true };',
          "  const run = 'import-42';",
          "  const type = 'example';",
          '  const somethingAsync = async (): Promise<void> => undefined;',
          '  const db = await open();',
          '  void [clock, value, run, type, somethingAsync, db];',
          '  {',
          body,
          '  }',
          '}',
        ].join('\n'),
      );
    }
    files.push('validators.ts');
    writeFileSync(
      join(dir, 'validators.ts'),
      [
        "import { open, type StandardSchema } from 'epochdb';",
        "import { z } from 'zod/v3';",
        "import * as v from 'valibot';",
        'const db = await open();',
        '// zod 3: the value type is the schema output, not {}.',
        "const users = db.collection('user', { schema: z.object({ name: z.string(), age: z.number().default(0) }) });",
        "const age: number | undefined = users.get('u')?.age;",
        "// @ts-expect-error a number is not a name",
        "await users.put('u', { name: 1 });",
        "const people = db.collection('person', { schema: v.object({ name: v.pipe(v.string(), v.transform((s) => s.length)) }) });",
        "const length: number | undefined = people.get('p')?.name;",
        "people.createIndex('byLength', (p) => p.name);",
        "const custom: StandardSchema<{ n: number }> = { '~standard': { version: 1, vendor: 'app', validate: (value) => ({ value: value as { n: number } }) } };",
        "await db.transaction((tx) => { tx.get<number>('k')?.toFixed(); tx.collection(db.collection('c', { schema: custom })).put('c', { n: 1 }); });",
        "using snap = db.snapshot();",
        "const n: number | undefined = snap.get<number>('k');",
        'void [age, length, n];',
        'await db.close();',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...STRICT_APP, noEmit: true }, files }, null, 2));
    await tsc(dir);
  }, 240_000);
});

/** The README's ```ts blocks (also ```ts replicate) with the heading they are under. */
function readmeBlocks(): { heading: string; code: string }[] {
  const blocks: { heading: string; code: string }[] = [];
  let heading = 'top';
  for (const m of readme.matchAll(/^#{2,3} (.*)$|^```ts(?: replicate)?\n([\s\S]*?)^```$/gm)) {
    if (m[1] !== undefined) heading = m[1];
    else blocks.push({ heading, code: m[2]! });
  }
  expect(blocks.length).toBeGreaterThan(10);
  return blocks;
}

/** Runs the app's own TypeScript on a project, failing with every diagnostic. */
async function tsc(project: string): Promise<void> {
  await sh(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', project, '--pretty', 'false'], project, 230_000);
}
