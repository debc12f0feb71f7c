import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
