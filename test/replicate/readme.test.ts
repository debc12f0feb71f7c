import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { useNats } from './harness.js';

// The README's replication examples (```ts replicate blocks, which need a NATS server and so are
// not run by test/docs/readme.test.ts) run here against a real nats-server, with `servers` and
// `name` given and './…' paths moved into a temporary directory.

const { nats, nextName } = useNats();
const root = fileURLToPath(new URL('../..', import.meta.url));
const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/^```ts replicate\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
const generated = join(root, 'test/replicate/.readme');
mkdirSync(generated, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), 'epochdb-readme-replicate-'));
afterAll(() => {
  rmSync(generated, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

describe('README replication examples run', () => {
  it('there is one', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  it.each(blocks.map((code, index) => [index, code] as const))('block %i', async (index, code) => {
    const lines = code.split('\n');
    const imports = lines.filter((line) => /^import .* from '[^']+';$/.test(line));
    // The block declares `servers` and `name` as a reader would; the test's own server and a fresh name replace them.
    const body = lines
      .filter((line) => !imports.includes(line))
      .map((line) => line.replace(/^const servers = .*$/, 'const servers = testServers;').replace(/^const name = .*$/, 'const name = testName;'))
      .join('\n')
      .replaceAll("'./", `'${scratch}/b${index}-`);
    expect(body).toContain('const servers = testServers;');
    expect(body).toContain('const name = testName;');
    const file = join(generated, `block-${index}.ts`);
    writeFileSync(file, [...imports, 'export default async function run(testServers: string, testName: string): Promise<void> {', body, '}'].join('\n'));
    const logged: unknown[][] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => void logged.push(args);
    try {
      const mod = (await import(/* @vite-ignore */ file)) as { default: (servers: string, name: string) => Promise<void> };
      await mod.default(nats().url, nextName());
    } finally {
      console.log = log;
    }
    expect(logged).toEqual([[{ total: 42 }, { versions: 0, ms: 0 }], ['READ_ONLY']]);
  });
});
