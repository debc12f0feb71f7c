import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as epochdb from 'epochdb';

// The README's TypeScript examples are run, not just written: every ```ts block becomes a module
// (compiled by vitest like any test file) and runs against a fresh memory-only database `db`, with
// './…' paths moved into a temporary directory. A block may declare its own `db`, which shadows it.

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/^## (.*)$|^### (.*)$|^```ts\n([\s\S]*?)^```$/gm)].reduce<{ heading: string; code: string }[]>((out, m) => {
  if (m[1] !== undefined || m[2] !== undefined) (out as unknown as { heading: string }).heading = m[1] ?? m[2]!;
  else out.push({ heading: (out as unknown as { heading?: string }).heading ?? 'top', code: m[3]! });
  return out;
}, []);

const generated = join(root, 'test/docs/.readme');
mkdirSync(generated, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), 'epochdb-readme-'));
afterAll(() => {
  rmSync(generated, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

/** The block as a module: imports hoisted, the rest in an async function with the prelude in an outer scope. */
function moduleOf(code: string, index: number): string {
  const imports: string[] = [];
  const body = code
    .split('\n')
    .filter((line) => {
      if (/^import .* from '[^']+';$/.test(line)) {
        if (!line.includes("from 'epochdb'")) imports.push(line);
        return false;
      }
      return true;
    })
    .join('\n')
    .replaceAll("'./", `'${scratch}/b${index}-`);
  const names = Object.keys(epochdb).join(', ');
  return [
    `import { ${names} } from 'epochdb';`,
    ...imports,
    'export default async function run(): Promise<void> {',
    '  const clock = new ManualClock(Date.now());',
    '  const value = { example: true };',
    "  const run = 'import-42';",
    "  const type = 'example';",
    '  const somethingAsync = async (): Promise<void> => undefined;',
    '  const db = await open({ maintenance: { intervalMs: 0 } });',
    '  try {',
    '    {',
    body,
    '    }',
    '  } finally {',
    '    await db.close();',
    '  }',
    '}',
    // Silence "unused" for names a block does not use.
    'void [' + names + '];',
  ].join('\n');
}

describe('README examples run', () => {
  it('the README has examples for every feature section', () => {
    const headings = new Set(blocks.map((b) => b.heading));
    for (const section of ['Quick start', 'Opening and closing', 'Transactions', 'Change feed: `watch`', 'Collections and secondary indexes', 'Persistence']) {
      expect(headings, section).toContain(section);
    }
  });

  it.each(blocks.map((block, index) => [index, block.heading, block] as const))('block %i (%s)', async (index, _heading, block) => {
    const file = join(generated, `block-${index}.ts`);
    writeFileSync(file, moduleOf(block.code, index));
    const logged: unknown[] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => void logged.push(args);
    try {
      const mod = (await import(/* @vite-ignore */ file)) as { default: () => Promise<void> };
      await mod.default();
    } finally {
      console.log = log;
    }
  });
});

describe('README first steps', () => {
  it('the Quick start keeps user:1 in its run and type after the transaction re-puts it (a put replaces the whole entry)', async () => {
    const quickStart = blocks.find((b) => b.heading === 'Quick start')!;
    const file = join(generated, 'quick-start-check.ts');
    const check = [
      "if ([...db.byRun('import-42')].map((e) => e.key).join() !== 'user:1') throw new Error('user:1 left its run');",
      "if (db.getEntry('user:1')?.type !== 'user') throw new Error('user:1 lost its type');",
      "if ((db.get('user:1') as { admin?: boolean }).admin !== true) throw new Error('the transaction did not commit');",
    ].join('\n');
    writeFileSync(file, moduleOf(`${quickStart.code}\n${check}`, 900));
    const mod = (await import(/* @vite-ignore */ file)) as { default: () => Promise<void> };
    await expect(mod.default()).resolves.toBeUndefined();
  });

  it('shows plain JavaScript for Node 20 (no `await using`), and every ```js block runs with plain node', () => {
    const jsBlocks = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    expect(jsBlocks.length).toBeGreaterThan(0);
    const dist = pathToFileURL(join(root, 'packages/epochdb/dist/index.js')).href;
    for (const [index, code] of jsBlocks.entries()) {
      expect(code).not.toMatch(/\bawait using\b|\busing\b \w+ =/);
      const file = join(generated, `js-block-${index}.mjs`);
      writeFileSync(file, code.replaceAll("from 'epochdb'", `from ${JSON.stringify(dist)}`).replaceAll("'./", `'${scratch}/js${index}-`));
      // Throws (failing the test) on a syntax error or a non-zero exit.
      execFileSync(process.execPath, [file], { stdio: 'pipe', timeout: 20_000 });
    }
  });
});
