import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { authorizationBlock } from '@epochdb/replicate';
import { NatsServer } from '../support/nats-server.js';
import { makeCertificates } from '../support/tls-certs.js';
import { useNats } from './harness.js';

// The README's replication examples (```ts replicate blocks, which need a NATS server and so are
// not run by test/docs/readme.test.ts) run here against a real nats-server, with `servers` and
// `name` given and './…' paths moved into a temporary directory. ```ts replicate-secured blocks run
// against a server of their own: TLS with a generated CA, and the README's own `authorization`
// block for the name (passwords and the CA file through the environment, as the block reads them).

const { nats, nextName } = useNats();
const root = fileURLToPath(new URL('../..', import.meta.url));
const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/^```ts replicate(-secured)?\n([\s\S]*?)^```$/gm)].map((m) => ({ secured: m[1] !== undefined, code: m[2]! }));
const generated = join(root, 'test/replicate/.readme');
mkdirSync(generated, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), 'epochdb-readme-replicate-'));
afterAll(() => {
  rmSync(generated, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

describe('README replication examples run', () => {
  it('there is one, and the secured one comes first', () => {
    expect(blocks.length).toBeGreaterThan(1);
    expect(blocks[0]!.secured).toBe(true);
  });

  it.each(blocks.map(({ secured, code }, index) => [index, secured, code] as const))('block %i (secured: %s)', async (index, secured, code) => {
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
    const name = nextName();
    let server: NatsServer | undefined;
    const env = { NATS_CA_FILE: '', NATS_PRIMARY_PASSWORD: `p-${index}-primary`, NATS_READER_PASSWORD: `p-${index}-reader`, PRIMARY_PASSWORD: `p-${index}-primary`, READER_PASSWORD: `p-${index}-reader` };
    if (secured) {
      const certs = makeCertificates(mkdtempSync(join(scratch, 'certs-')));
      env.NATS_CA_FILE = certs.caFile;
      // The server reads $PRIMARY_PASSWORD and $READER_PASSWORD from its environment.
      Object.assign(process.env, env);
      server = await NatsServer.start({ config: `tls { cert_file: ${JSON.stringify(certs.serverCert)}, key_file: ${JSON.stringify(certs.serverKey)}, timeout: 2 }\n${authorizationBlock(name)}` });
    }
    console.log = (...args: unknown[]) => void logged.push(args);
    try {
      const mod = (await import(/* @vite-ignore */ file)) as { default: (servers: string, name: string) => Promise<void> };
      await mod.default(server === undefined ? nats().url : `tls://${server.url}`, name);
    } finally {
      console.log = log;
      for (const key of Object.keys(env)) delete process.env[key];
      await server?.stop();
    }
    // The secured run needed no permission beyond the README's block.
    if (server !== undefined) expect(server.log).not.toMatch(/violation/i);
    expect(logged).toEqual([[{ total: 42 }, { versions: 0, ms: 0 }], ['READ_ONLY']]);
  });
});
