import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, openReplica, restore, type ReplicaEvent, type ShippingEvent } from 'epochdb';
import { authorizationBlock, listCheckpoints, ReplicationLog, replicationPermissions } from '@epochdb/replicate';
import { epochdb } from '../cli/cli-harness.js';
import { useDatabases } from '../support/databases.js';
import { NatsServer } from '../support/nats-server.js';
import { operatorSetup } from '../support/nats-creds.js';
import { makeCertificates, type TestCertificates } from '../support/tls-certs.js';
import { runWorkload, stateAt, stateOf } from './harness.js';

const { openDb, tempDir } = useDatabases();

// Distinctive secrets: none of them may ever show in an error, event or stats().
const PRIMARY_PASSWORD = 'pw-primary-Zq8xK2vR';
const READER_PASSWORD = 'pw-reader-Hj4nT7sW';
const WRONG_PASSWORD = 'pw-wrong-Lm3cB9yQ';
const TOKEN = 'tok-Xv5pG8dN2aE';
const WRONG_TOKEN = 'tok-wrong-Fb6uJ1qC';
const SECRETS = [PRIMARY_PASSWORD, READER_PASSWORD, WRONG_PASSWORD, TOKEN, WRONG_TOKEN];

/** The database names the secured server's users are given permissions for (one per test that needs a fresh log). */
const NAMES = ['converge', 'readonly', 'fresh', 'denied', 'secrets'].map((n) => `sec_${process.pid}_${n}`);
const [CONVERGE, READONLY, FRESH, DENIED, SECRET_NAME] = NAMES as [string, string, string, string, string];

let dir: string;
let certs: TestCertificates;
/** TLS (own CA) and users `primary` and `reader` with the README's permissions for every name in {@link NAMES}. */
let secured: NatsServer;

/** Everything a test saw that a user could see: errors (with their causes), events, stats. */
const seen: unknown[] = [];

function errorOf(promise: Promise<unknown>): Promise<Error & { code?: string; reason?: string; cause?: unknown; durableLocally?: boolean; subject?: string; operation?: string }> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => {
      seen.push(error);
      return error as Error;
    },
  );
}

/** `promise`'s error and how long it took to come. */
async function timedError(promise: () => Promise<unknown>): Promise<{ error: Awaited<ReturnType<typeof errorOf>>; ms: number }> {
  const start = Date.now();
  const error = await errorOf(promise());
  return { error, ms: Date.now() - start };
}

/** The connection options of one role on the secured server. */
function as(role: 'primary' | 'reader', password?: string): { servers: string; user: string; pass: string; tls: { caFile: string } } {
  return { servers: `tls://${secured.url}`, user: role, pass: password ?? (role === 'primary' ? PRIMARY_PASSWORD : READER_PASSWORD), tls: { caFile: certs.caFile } };
}

/** The secured server's authorization: the README's block for each name, merged per user. */
function authorization(): string {
  const merge = (role: 'primary' | 'reader'): { publish: string[]; subscribe: string[] } => {
    const publish = new Set<string>();
    const subscribe = new Set<string>();
    for (const name of NAMES) {
      for (const s of replicationPermissions(name)[role].publish) publish.add(s);
      for (const s of replicationPermissions(name)[role].subscribe) subscribe.add(s);
    }
    return { publish: [...publish], subscribe: [...subscribe] };
  };
  const user = (name: string, password: string, p: { publish: string[]; subscribe: string[] }): string =>
    `{ user: ${JSON.stringify(name)}, password: ${JSON.stringify(password)}, permissions: { publish: { allow: ${JSON.stringify(p.publish)} }, subscribe: { allow: ${JSON.stringify(p.subscribe)} } } }`;
  return `authorization { users: [\n${user('primary', PRIMARY_PASSWORD, merge('primary'))}\n${user('reader', READER_PASSWORD, merge('reader'))}\n] }`;
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'epochdb-sec-'));
  certs = makeCertificates(dir);
  secured = await NatsServer.start({ config: `tls { cert_file: ${JSON.stringify(certs.serverCert)}, key_file: ${JSON.stringify(certs.serverKey)}, timeout: 2 }\n${authorization()}` });
});

afterAll(async () => {
  await secured?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('replication over TLS with users and least-privilege permissions', () => {
  it('a primary, a replica and a restore with their own credentials converge exactly; the upload worker connects with them too', async () => {
    const replicaEvents: ReplicaEvent[] = [];
    const primary = await openDb({ dir: tempDir(), retainVersions: 1_000_000, replicate: { ...as('primary'), name: CONVERGE, ack: 'replicated' } });
    await runWorkload(primary, 241, 60);
    await primary.checkpoint(); // uploaded by the worker thread, on its own authenticated TLS connection
    const log = await ReplicationLog.open({ servers: [`tls://${secured.url}`], user: 'reader', pass: READER_PASSWORD, tls: { caFile: certs.caFile } }, CONVERGE, 5000);
    try {
      expect(await listCheckpoints(log)).toContain(primary.stats().lastCheckpointVersion);
    } finally {
      await log.close();
    }
    await runWorkload(primary, 242, 60);
    const replica = await openReplica({ ...as('reader'), name: CONVERGE, onEvent: (event) => replicaEvents.push(event) });
    try {
      await replica.caughtUp(primary.version, { timeoutMs: 10_000 });
      expect(stateOf(replica)).toEqual(stateOf(primary));
      expect(replicaEvents[0]).toMatchObject({ type: 'bootstrap', version: primary.stats().lastCheckpointVersion });
      await primary.put('after', { n: 1 });
      await replica.caughtUp(primary.version, { timeoutMs: 10_000 });
      expect(replica.get('after')).toEqual({ n: 1 });
    } finally {
      await replica.close();
    }
    const at = primary.version - 20;
    const restored = `${tempDir()}/restored`;
    expect(await restore({ ...as('reader'), name: CONVERGE, version: at, dir: restored })).toMatchObject({ version: at });
    const db = await open({ dir: restored });
    try {
      expect(stateOf(db)).toEqual(stateAt(primary, at));
    } finally {
      await db.close();
    }
    // The command line: password from the environment, never a flag.
    const cliDir = `${tempDir()}/cli`;
    process.env['EPOCHDB_NATS_PASSWORD'] = READER_PASSWORD;
    let cli;
    try {
      cli = await epochdb(['restore', cliDir, '--servers', `tls://${secured.url}`, '--name', CONVERGE, '--user', 'reader', '--tls-ca', certs.caFile, '--at', String(at), '--json']);
    } finally {
      delete process.env['EPOCHDB_NATS_PASSWORD'];
    }
    expect(cli).toMatchObject({ code: 0 });
    expect(JSON.parse(cli.stdout)).toMatchObject({ version: at });
    const fromCli = await open({ dir: cliDir });
    try {
      expect(stateOf(fromCli)).toEqual(stateAt(primary, at));
    } finally {
      await fromCli.close();
    }
    const noPassword = await epochdb(['restore', `${tempDir()}/x`, '--servers', `tls://${secured.url}`, '--name', CONVERGE, '--user', 'reader', '--tls-ca', certs.caFile]);
    expect(noPassword).toMatchObject({ code: 2, stderr: expect.stringContaining('EPOCHDB_NATS_PASSWORD') });
    const wrong = await epochdb(['restore', `${tempDir()}/y`, '--servers', `tls://${secured.url}`, '--name', CONVERGE, '--tls-ca', certs.caFile]);
    expect(wrong).toMatchObject({ code: 1, stderr: expect.stringContaining('AUTHENTICATION') });
    seen.push(cli.stderr, noPassword.stderr, wrong.stderr, primary.stats());
    await primary.close();
    // Nothing the primary, the replica, the restores and the upload worker did needed more than the README's permissions.
    expect(secured.log).not.toMatch(/violation/i);
  });

  it('a wrong password, missing credentials and a server certificate that cannot be verified fail within seconds, each with its own typed error', async () => {
    const base = { name: CONVERGE, timeoutMs: 5000 };
    const cases: [string, () => Promise<unknown>, Record<string, unknown>][] = [
      ['replica, wrong password', () => openReplica({ ...as('reader', WRONG_PASSWORD), ...base }), { code: 'AUTHENTICATION', reason: 'rejected' }],
      ['restore, wrong password', () => restore({ ...as('reader', WRONG_PASSWORD), ...base, dir: `${tempDir()}/r` }), { code: 'AUTHENTICATION', reason: 'rejected' }],
      ['primary, wrong password', () => open({ dir: tempDir(), replicate: { ...as('primary', WRONG_PASSWORD), ...base } }), { code: 'AUTHENTICATION', reason: 'rejected' }],
      ['replica, no credentials', () => openReplica({ servers: `tls://${secured.url}`, tls: { caFile: certs.caFile }, ...base }), { code: 'AUTHENTICATION', reason: 'missing' }],
      ['primary, no credentials', () => open({ dir: tempDir(), replicate: { servers: `tls://${secured.url}`, tls: { caFile: certs.caFile }, ...base } }), { code: 'AUTHENTICATION', reason: 'missing' }],
      ['replica, the system CAs', () => openReplica({ servers: secured.url, user: 'reader', pass: READER_PASSWORD, ...base }), { code: 'TLS', message: expect.stringContaining('tls.caFile') }],
      ['replica, another CA', () => openReplica({ ...as('reader'), tls: { caFile: certs.otherCaFile }, ...base }), { code: 'TLS', message: expect.stringContaining('could not be verified') }],
      ['primary, another CA', () => open({ dir: tempDir(), replicate: { ...as('primary'), tls: { caFile: certs.otherCaFile }, ...base } }), { code: 'TLS' }],
      ['restore, a missing CA file', () => restore({ ...as('reader'), tls: { caFile: join(dir, 'missing.pem') }, ...base, dir: `${tempDir()}/r2` }), { code: 'TLS' }],
    ];
    for (const [what, attempt, expected] of cases) {
      const { error, ms } = await timedError(attempt);
      expect({ what, ...error, message: error.message, code: error.code }).toMatchObject({ what, ...expected });
      expect({ what, fast: ms < 3000 }).toEqual({ what, fast: true });
    }
  });

  it('a replica and a restore with read-only credentials cannot publish a record, write an object or purge: the server refuses each', async () => {
    const log = await ReplicationLog.open({ servers: [`tls://${secured.url}`], user: 'reader', pass: READER_PASSWORD, tls: { caFile: certs.caFile } }, CONVERGE, 5000);
    try {
      const before = secured.log.length;
      const purge = await errorOf(log.purgeBelow(1_000_000));
      expect(String(purge)).toMatch(/Permissions Violation/i);
      const put = await errorOf((async () => (await log.objects()).putBlob({ name: 'x' }, new Uint8Array([1])))());
      expect(String(put)).toMatch(/Permissions Violation/i);
      // The server logs each refusal (which is what the converging test checks it never did).
      await until(() => /violation/i.test(secured.log.slice(Math.max(0, before - 4000))), 'the server to log the violation');
    } finally {
      await log.close();
    }
  });

  it('a primary with read-only credentials: no stream yet is refused at open; with ack replicated the write says so; with ack local an event and stats() say so, close() reports the unshipped versions, and replicas never see them', async () => {
    // No stream for the name yet: creating it is refused, so open() is.
    const fresh = await timedError(() => open({ dir: tempDir(), replicate: { ...as('reader'), name: FRESH } }));
    expect(fresh.error).toMatchObject({ code: 'PERMISSION_DENIED', operation: 'publish', subject: `$JS.API.STREAM.CREATE.EPOCHDB_${FRESH}` });
    expect(fresh.ms).toBeLessThan(3000);

    // A real primary makes the log, then its directory is opened with a reader's credentials.
    const primaryDir = tempDir();
    const real = await open({ dir: primaryDir, replicate: { ...as('primary'), name: READONLY, ack: 'replicated' } });
    await runWorkload(real, 243, 30);
    const shipped = real.version;
    const expected = stateOf(real);
    await real.close();
    const replica = await openReplica({ ...as('reader'), name: READONLY });
    await replica.caughtUp(shipped, { timeoutMs: 10_000 });

    const replicated = await open({ dir: primaryDir, replicate: { ...as('reader'), name: READONLY, ack: 'replicated' } });
    const write = await timedError(() => replicated.put('refused', 1));
    expect(write.error).toMatchObject({ code: 'REPLICATION', durableLocally: true, message: expect.stringContaining('epochdb.') });
    expect(write.error.cause).toMatchObject({ code: 'PERMISSION_DENIED', operation: 'publish', subject: `epochdb.${READONLY}.log` });
    expect(write.ms).toBeLessThan(3000);
    // Later writes are refused as fast, not after timeoutMs.
    const second = await timedError(() => replicated.put('refused-too', 2));
    expect(second.error).toMatchObject({ code: 'REPLICATION', durableLocally: true });
    expect(second.ms).toBeLessThan(1000);
    expect(replicated.stats().replication).toMatchObject({ failureCode: 'PERMISSION_DENIED', shippedVersion: shipped, backlog: 2 });
    seen.push(replicated.stats());
    await replicated.close();

    const events: ShippingEvent[] = [];
    const local = await open({ dir: primaryDir, replicate: { ...as('reader'), name: READONLY, ack: 'local', onEvent: (event) => events.push(event) } });
    await local.put('local-1', 1);
    await local.put('local-2', 2);
    await until(() => events.some((e) => e.type === 'shipping-failed'), 'the shipping-failed event');
    expect(events.find((e) => e.type === 'shipping-failed')).toMatchObject({ error: { code: 'PERMISSION_DENIED', subject: `epochdb.${READONLY}.log` } });
    expect(local.stats().replication).toMatchObject({ failureCode: 'PERMISSION_DENIED', failure: expect.stringContaining('Least privilege'), backlog: 4 });
    const localVersion = local.version;
    seen.push(local.stats(), events);
    await local.close();
    expect(events.at(-1)).toMatchObject({ type: 'closed-unshipped', from: shipped + 1, to: localVersion, reason: expect.stringContaining('do not allow') });
    expect(events.filter((e) => e.type === 'shipping-failed')).toHaveLength(1);

    // Replicas never saw any of it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(replica.version).toBe(shipped);
    expect(stateOf(replica)).toEqual(expected);
    expect(replica.has('refused') || replica.has('local-1')).toBe(false);

    // The WAL kept the unshipped versions: reopened with the primary's credentials, they ship.
    const again = await open({ dir: primaryDir, replicate: { ...as('primary'), name: READONLY, ack: 'replicated' } });
    try {
      await replica.caughtUp(again.version, { timeoutMs: 10_000 });
      expect(stateOf(replica)).toEqual(stateOf(again));
      expect(replica.get('local-2')).toBe(2);
    } finally {
      await again.close();
      await replica.close();
    }
  });

  it('a permission the credentials lack is PERMISSION_DENIED naming the subject (a user with publish rights for another database only)', async () => {
    // `primary` has rights for NAMES only: DENIED's sibling below is not among them.
    const other = `${DENIED}_other`;
    const replicaError = await timedError(() => openReplica({ ...as('primary'), name: other }));
    expect(replicaError.error).toMatchObject({ code: 'PERMISSION_DENIED', subject: `$JS.API.STREAM.INFO.EPOCHDB_${other}` });
    expect(replicaError.ms).toBeLessThan(3000);
    const restoreError = await timedError(() => restore({ ...as('reader'), name: other, dir: `${tempDir()}/d` }));
    expect(restoreError.error).toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  it('no password, token or seed appears in any error, event, stats() or CLI output seen by these tests', async () => {
    // A password in a server URL is not printed either.
    const inUrl = await errorOf(openReplica({ servers: `nats://reader:${WRONG_PASSWORD}@127.0.0.1:1`, name: SECRET_NAME, timeoutMs: 500 }));
    expect(inUrl).toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('***@127.0.0.1:1') });
    const text = seen.map((item) => `${inspect(item, { depth: 8, showHidden: false })}\n${item instanceof Error ? item.stack : JSON.stringify(item, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`).join('\n');
    expect(seen.length).toBeGreaterThan(15);
    for (const secret of SECRETS) expect(text.includes(secret), secret).toBe(false);
  });
});

describe('token, client certificates and credentials files', () => {
  it('a token: the right one replicates, a wrong one is AUTHENTICATION rejected, none is missing', async () => {
    const server = await NatsServer.start({ config: `authorization { token: ${JSON.stringify(TOKEN)} }` });
    try {
      const name = `tok_${process.pid}`;
      const primary = await openDb({ dir: tempDir(), replicate: { servers: server.url, token: TOKEN, name, ack: 'replicated' } });
      await runWorkload(primary, 244, 20);
      const replica = await openReplica({ servers: server.url, token: TOKEN, name });
      try {
        await replica.caughtUp(primary.version, { timeoutMs: 10_000 });
        expect(stateOf(replica)).toEqual(stateOf(primary));
      } finally {
        await replica.close();
      }
      const wrong = await errorOf(openReplica({ servers: server.url, token: WRONG_TOKEN, name }));
      expect(wrong).toMatchObject({ code: 'AUTHENTICATION', reason: 'rejected', message: expect.stringContaining('the token') });
      const none = await errorOf(restore({ servers: server.url, name, dir: `${tempDir()}/t` }));
      expect(none).toMatchObject({ code: 'AUTHENTICATION', reason: 'missing' });
      for (const error of [wrong, none]) for (const secret of SECRETS) expect(inspect(error, { depth: 8 }).includes(secret)).toBe(false);
    } finally {
      await server.stop();
    }
  });

  it('a server that verifies clients: without a client certificate TLS fails, with one it works; a tls:// address to a server without TLS is TLS', async () => {
    const server = await NatsServer.start({ config: `tls { cert_file: ${JSON.stringify(certs.serverCert)}, key_file: ${JSON.stringify(certs.serverKey)}, ca_file: ${JSON.stringify(certs.caFile)}, verify: true, timeout: 2 }` });
    const plain = await NatsServer.start();
    try {
      const name = `mtls_${process.pid}`;
      const withCert = { servers: `tls://${server.url}`, tls: { caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientKey } };
      const primary = await openDb({ dir: tempDir(), replicate: { ...withCert, name, ack: 'replicated' } });
      await primary.put('a', 1);
      const replica = await openReplica({ ...withCert, name });
      try {
        await replica.caughtUp(primary.version, { timeoutMs: 10_000 });
        expect(replica.get('a')).toBe(1);
      } finally {
        await replica.close();
      }
      // The server closes the connection after the handshake; nats.js waits out timeoutMs, then the server's INFO says why.
      const { error, ms } = await timedError(() => openReplica({ servers: `tls://${server.url}`, tls: { caFile: certs.caFile }, name, timeoutMs: 1500 }));
      expect(error).toMatchObject({ code: 'TLS', message: expect.stringContaining('requires a client certificate') });
      expect(ms).toBeLessThan(3000);
      const noTls = await timedError(() => openReplica({ servers: `tls://${plain.url}`, name, timeoutMs: 5000 }));
      expect(noTls.error).toMatchObject({ code: 'TLS', message: expect.stringContaining('does not offer it') });
      expect(noTls.ms).toBeLessThan(3000);
    } finally {
      await server.stop();
      await plain.stop();
    }
  });

  it('a credentials file (operator mode, user JWT and NKey): primary and replica with their own creds converge; a reader creds file cannot ship; a missing file is AUTHENTICATION', async () => {
    const setup = operatorSetup();
    const server = await NatsServer.start({ config: setup.config });
    try {
      const name = `creds_${process.pid}`;
      const { primary: primaryPermissions, reader: readerPermissions } = replicationPermissions(name);
      const primaryCreds = join(dir, 'primary.creds');
      const readerCreds = join(dir, 'reader.creds');
      const strangerCreds = join(dir, 'stranger.creds');
      writeFileSync(primaryCreds, setup.creds('primary', { pub: primaryPermissions.publish, sub: primaryPermissions.subscribe }));
      writeFileSync(readerCreds, setup.creds('reader', { pub: readerPermissions.publish, sub: readerPermissions.subscribe }));
      writeFileSync(strangerCreds, operatorSetup().creds('stranger', { pub: ['>'], sub: ['>'] }));
      const primary = await openDb({ dir: tempDir(), retainVersions: 1_000_000, replicate: { servers: server.url, credsFile: primaryCreds, name, ack: 'replicated' } });
      await runWorkload(primary, 245, 30);
      await primary.checkpoint();
      await runWorkload(primary, 246, 10);
      const replica = await openReplica({ servers: server.url, credsFile: readerCreds, name });
      try {
        await replica.caughtUp(primary.version, { timeoutMs: 10_000 });
        expect(stateOf(replica)).toEqual(stateOf(primary));
      } finally {
        await replica.close();
      }
      const restored = `${tempDir()}/r`;
      await restore({ servers: server.url, credsFile: readerCreds, name, dir: restored, version: primary.version - 5 });
      const db = await open({ dir: restored });
      try {
        expect(stateOf(db)).toEqual(stateAt(primary, primary.version - 5));
      } finally {
        await db.close();
      }
      const stranger = await timedError(() => openReplica({ servers: server.url, credsFile: strangerCreds, name }));
      expect(stranger.error).toMatchObject({ code: 'AUTHENTICATION', reason: 'rejected', message: expect.stringContaining('stranger.creds') });
      expect(stranger.ms).toBeLessThan(3000);
      const missing = await errorOf(openReplica({ servers: server.url, credsFile: join(dir, 'nope.creds'), name }));
      expect(missing).toMatchObject({ code: 'AUTHENTICATION', reason: 'missing', message: expect.stringContaining('nope.creds') });
      await primary.close();
      const readOnly = await open({ dir: tempDir(), replicate: { servers: server.url, credsFile: readerCreds, name: `${name}_new` } }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(readOnly).toMatchObject({ code: 'PERMISSION_DENIED' });
      // Neither the seeds nor the JWTs of the files show in what the user saw.
      const secrets = [primaryCreds, readerCreds, strangerCreds].flatMap((file) => {
        const text = readFileSync(file, 'utf8');
        return [/SEED-----\n(\S+)/.exec(text)![1]!, /JWT-----\n(\S+)/.exec(text)![1]!];
      });
      const shown = [stranger.error, missing, readOnly].map((e) => inspect(e, { depth: 8 })).join('\n');
      for (const secret of secrets) expect(shown.includes(secret)).toBe(false);
    } finally {
      await server.stop();
    }
  });
});

describe('permissions changed on the server', () => {
  it('a primary refused shipping goes on by itself once the server grants the permission (config reload), and says so', async () => {
    const name = `reload_${process.pid}`;
    const { primary: full, reader: read } = replicationPermissions(name);
    const users = (limited: { publish: readonly string[]; subscribe: readonly string[] }): string =>
      `authorization { users: [\n{ user: "primary", password: ${JSON.stringify(PRIMARY_PASSWORD)}, permissions: { publish: { allow: ${JSON.stringify(full.publish)} }, subscribe: { allow: ${JSON.stringify(full.subscribe)} } } }\n{ user: "limited", password: ${JSON.stringify(READER_PASSWORD)}, permissions: { publish: { allow: ${JSON.stringify(limited.publish)} }, subscribe: { allow: ${JSON.stringify(limited.subscribe)} } } }\n] }`;
    const server = await NatsServer.start({ config: users(read) });
    try {
      const dir = tempDir();
      const maker = await open({ dir, replicate: { servers: server.url, user: 'primary', pass: PRIMARY_PASSWORD, name, ack: 'replicated' } });
      await maker.put('a', 1);
      await maker.close();
      const events: ShippingEvent[] = [];
      const primary = await openDb({ dir, replicate: { servers: server.url, user: 'limited', pass: READER_PASSWORD, name, onEvent: (event) => events.push(event) } });
      await primary.put('b', 2);
      await until(() => events.some((e) => e.type === 'shipping-failed'), 'the shipping-failed event');
      expect(primary.stats().replication).toMatchObject({ failureCode: 'PERMISSION_DENIED', backlog: 1 });
      await server.reload(users(full));
      await until(() => events.some((e) => e.type === 'shipping-resumed'), 'the shipping-resumed event');
      expect(events.map((e) => e.type)).toEqual(['shipping-failed', 'shipping-resumed']);
      expect(primary.stats().replication).toMatchObject({ failure: undefined, failureCode: undefined, backlog: 0, shippedVersion: primary.version });
      const replica = await openReplica({ servers: server.url, user: 'limited', pass: READER_PASSWORD, name });
      try {
        await replica.caughtUp(primary.version, { timeoutMs: 10_000 });
        expect(replica.get('b')).toBe(2);
      } finally {
        await replica.close();
      }
    } finally {
      await server.stop();
    }
  });
});

describe('connection options are checked', () => {
  it('bad combinations and values are INVALID_OPTION naming the option, never echoing a secret', async () => {
    const base = { servers: '127.0.0.1:1', name: 'x' };
    const cases: [Record<string, unknown>, string][] = [
      [{ user: 'u' }, 'user and pass go together'],
      [{ pass: WRONG_PASSWORD }, 'user and pass go together'],
      [{ user: 'u', pass: WRONG_PASSWORD, token: TOKEN }, 'not user/pass and token'],
      [{ token: TOKEN, credsFile: '/x.creds' }, 'not token and credsFile'],
      [{ token: 42 }, '.token must be a non-empty string'],
      [{ pass: { secret: WRONG_PASSWORD }, user: 'u' }, '.pass must be a non-empty string'],
      [{ tls: 'yes' }, '.tls must be an object'],
      [{ tls: { ca: 'x' } }, '.tls.ca is not an option'],
      [{ tls: { certFile: 'c.pem' } }, 'certFile and keyFile go together'],
    ];
    for (const [options, message] of cases) {
      for (const attempt of [
        () => openReplica({ ...base, ...options } as never),
        () => restore({ ...base, ...options, dir: tempDir() } as never),
        () => open({ dir: tempDir(), replicate: { ...base, ...options } as never }),
      ]) {
        const error = await errorOf(attempt());
        expect(error).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining(message) });
        for (const secret of SECRETS) expect(error.message.includes(secret)).toBe(false);
      }
    }
    await expect(open({ dir: tempDir(), replicate: { ...base, onEvent: 'log' } as never })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('onEvent must be a function') });
  });
});

describe('the README permission block', () => {
  it('is what replicationPermissions gives for a database named orders', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(authorizationBlock('orders'));
  });
});

