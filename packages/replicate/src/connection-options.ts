import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { AuthenticationError, EpochError, InvalidOptionError, IoError, PermissionDeniedError, TlsError } from '@epochdb/core';
import { credsAuthenticator, type ConnectionOptions as NatsConnectOptions } from 'nats';
import type { ConnectionParsed, TlsFiles } from './connection-types.js';
import { parseServers } from './names.js';

export type { ConnectionOptions, ConnectionParsed, TlsFiles } from './connection-types.js';

/** The option names of {@link ConnectionOptions}. */
export const CONNECTION_OPTION_NAMES: readonly string[] = Object.freeze(['servers', 'user', 'pass', 'token', 'credsFile', 'tls']);

const TLS_NAMES = new Set(['caFile', 'certFile', 'keyFile']);

function optionalString(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  // The value itself may be a secret: never echo it.
  if (typeof value !== 'string' || value.length === 0) throw new InvalidOptionError(`${what} must be a non-empty string`);
  return value;
}

/** Checks the connection part of an options object; `what` names it in errors (`'open(): options.replicate'`). */
export function parseConnectionOptions(o: Record<string, unknown>, what: string): ConnectionParsed {
  const servers = parseServers(o.servers, what);
  const user = optionalString(o.user, `${what}.user`);
  const pass = optionalString(o.pass, `${what}.pass`);
  const token = optionalString(o.token, `${what}.token`);
  const credsFile = optionalString(o.credsFile, `${what}.credsFile`);
  if ((user === undefined) !== (pass === undefined)) throw new InvalidOptionError(`${what}: user and pass go together (got ${user === undefined ? 'pass without user' : 'user without pass'})`);
  const kinds = [user === undefined ? undefined : 'user/pass', token === undefined ? undefined : 'token', credsFile === undefined ? undefined : 'credsFile'].filter((k) => k !== undefined);
  if (kinds.length > 1) throw new InvalidOptionError(`${what}: give one way to authenticate, not ${kinds.join(' and ')}`);
  let tls: TlsFiles | undefined;
  if (o.tls !== undefined) {
    if (typeof o.tls !== 'object' || o.tls === null || Array.isArray(o.tls)) throw new InvalidOptionError(`${what}.tls must be an object { caFile?, certFile?, keyFile? }`);
    const t = o.tls as Record<string, unknown>;
    for (const key of Object.keys(t)) if (!TLS_NAMES.has(key)) throw new InvalidOptionError(`${what}.tls.${key} is not an option (caFile, certFile, keyFile)`);
    const caFile = optionalString(t.caFile, `${what}.tls.caFile`);
    const certFile = optionalString(t.certFile, `${what}.tls.certFile`);
    const keyFile = optionalString(t.keyFile, `${what}.tls.keyFile`);
    if ((certFile === undefined) !== (keyFile === undefined)) throw new InvalidOptionError(`${what}.tls: certFile and keyFile go together`);
    tls = Object.freeze({ ...(caFile === undefined ? {} : { caFile }), ...(certFile === undefined ? {} : { certFile }), ...(keyFile === undefined ? {} : { keyFile }) });
  }
  return Object.freeze({
    servers: Object.freeze([...servers]),
    ...(user === undefined ? {} : { user, pass: pass! }),
    ...(token === undefined ? {} : { token }),
    ...(credsFile === undefined ? {} : { credsFile }),
    ...(tls === undefined ? {} : { tls }),
  });
}

/** Only the connection part of `options` (what an upload worker is handed). */
export function connectionOf(options: ConnectionParsed): ConnectionParsed {
  const { servers, user, pass, token, credsFile, tls } = options;
  return { servers, ...(user === undefined ? {} : { user, pass: pass! }), ...(token === undefined ? {} : { token }), ...(credsFile === undefined ? {} : { credsFile }), ...(tls === undefined ? {} : { tls }) };
}

/** `servers` as they may be printed: a password or token in a URL's user part is replaced by `***`. */
export function printableServers(servers: readonly string[]): string {
  return servers.map((s) => s.replace(/^([a-z]+:\/\/)?[^@/]*@/i, (_, scheme: string | undefined) => `${scheme ?? ''}***@`)).join(', ');
}

/** The nats.js options for `connection`; reads the credentials file (a missing one is an `AUTHENTICATION` error). */
export function natsConnectOptions(connection: ConnectionParsed): Partial<NatsConnectOptions> {
  const options: Partial<NatsConnectOptions> = {};
  if (connection.user !== undefined) Object.assign(options, { user: connection.user, pass: connection.pass });
  if (connection.token !== undefined) options.token = connection.token;
  if (connection.credsFile !== undefined) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(connection.credsFile);
    } catch (error) {
      throw new AuthenticationError(`cannot read the NATS credentials file ${JSON.stringify(connection.credsFile)}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`, 'missing', { cause: error });
    }
    options.authenticator = credsAuthenticator(creds);
  }
  // A `tls://` address requires TLS: with `tls` set, nats.js refuses a server without it.
  if (connection.tls !== undefined) options.tls = { ...connection.tls };
  else if (connection.servers.some((s) => /^tls:\/\//i.test(s))) options.tls = {};
  return options;
}

/** Which credentials were given, for messages: never their values. */
function credentialKind(connection: ConnectionParsed): string | undefined {
  if (connection.credsFile !== undefined) return `the credentials file ${JSON.stringify(connection.credsFile)}`;
  if (connection.token !== undefined) return 'the token';
  if (connection.user !== undefined) return `the password of user ${JSON.stringify(connection.user)}`;
  return undefined;
}

/** Node's TLS verification error codes (`tls.TLSSocket.authorizationError`). */
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|CERT_|HOSTNAME_MISMATCH|ERR_OSSL_)/;

/** The innermost cause chain of `error`, outermost first. */
function chain(error: unknown): unknown[] {
  const list: unknown[] = [];
  for (let e = error; e !== undefined && e !== null && list.length < 8; e = (e as { cause?: unknown }).cause) list.push(e);
  return list;
}

/**
 * A typed EpochDB error for what nats.js reported while doing `what`:
 * `AUTHENTICATION` (missing, rejected or expired credentials), `TLS` (a
 * certificate that cannot be verified or read, or TLS required by one side
 * only), `PERMISSION_DENIED` (a subject the credentials do not allow);
 * `undefined` for anything else. Never carries a secret in its message.
 */
export function classifyNatsError(error: unknown, connection: ConnectionParsed, what: string): EpochError | undefined {
  if (error instanceof AuthenticationError || error instanceof TlsError || error instanceof PermissionDeniedError) return error;
  const where = `NATS at ${printableServers(connection.servers)}`;
  for (const e of chain(error)) {
    const code = String((e as { code?: unknown }).code ?? '');
    const message = String((e as Error | undefined)?.message ?? '');
    if (code === 'PERMISSIONS_VIOLATION') {
      const context = (e as { permissionContext?: { operation: string; subject: string } }).permissionContext;
      const operation = context?.operation ?? 'publish';
      const subject = context?.subject ?? /"(\S+)"/.exec(message)?.[1] ?? '?';
      const api = subject.startsWith('$JS.API.') ? ` (the JetStream API call ${subject.slice('$JS.API.'.length).split('.').slice(0, 2).join('.')})` : '';
      return new PermissionDeniedError(`${what}: ${where} refused ${operation === 'subscription' ? 'a subscription to' : 'a publish to'} ${JSON.stringify(subject)}${api}: the credentials do not allow it (see "Least privilege" in the README for what each role needs)`, { operation, subject }, { cause: e });
    }
    if (code === 'AUTHORIZATION_VIOLATION' || code === 'AUTHENTICATION_EXPIRED' || code === 'ACCOUNT_EXPIRED' || code === 'BAD_CREDS' || code === 'BAD_AUTHENTICATION') {
      const kind = credentialKind(connection);
      if (code === 'AUTHENTICATION_EXPIRED' || code === 'ACCOUNT_EXPIRED') return new AuthenticationError(`${what}: ${where} refused ${kind ?? 'the connection'}: the credentials have expired`, 'expired', { cause: e });
      if (kind === undefined) return new AuthenticationError(`${what}: ${where} requires credentials and none were given (user/pass, token or credsFile)`, 'missing', { cause: e });
      return new AuthenticationError(`${what}: ${where} rejected ${kind}`, 'rejected', { cause: e });
    }
    if (TLS_CODES.test(code) || code === 'TLS' || (code === 'SERVER_OPT_NA' && /tls/i.test(message))) {
      const hint = /UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_/.test(code) ? ': its certificate could not be verified (give the CA that signed it as tls.caFile)' : /ALTNAME|HOSTNAME/.test(code) ? ': its certificate is not for this address' : '';
      const detail = code === 'SERVER_OPT_NA' ? 'the client requires TLS (tls option or a tls:// address) and the server does not offer it' : `${code}${hint}`;
      return new TlsError(`${what}: TLS with ${where} failed: ${detail}`, { cause: e });
    }
    if (/certificate required/i.test(message)) {
      return new TlsError(`${what}: ${where} requires a client certificate (tls.certFile and tls.keyFile)`, { cause: e });
    }
  }
  return undefined;
}

/** {@link classifyNatsError}, or an `IO_ERROR` saying NATS could not be reached. */
export function connectFailure(error: unknown, connection: ConnectionParsed): EpochError {
  if (error instanceof EpochError) return error;
  const typed = classifyNatsError(error, connection, 'connect');
  if (typed !== undefined) return typed;
  const message = (error as Error | undefined)?.message ?? String(error);
  return new IoError(`cannot reach NATS at ${printableServers(connection.servers)}: ${message}`, { cause: error });
}

/** Whether `error` is one retrying cannot cure without new credentials, certificates or permissions. */
export function isConfigurationFailure(error: unknown): boolean {
  return error instanceof AuthenticationError || error instanceof TlsError || error instanceof PermissionDeniedError;
}

/** The first line a NATS server sends (`INFO {...}`), read over plain TCP; `undefined` if it cannot be read within `timeoutMs`. */
async function serverInfo(server: string, timeoutMs: number): Promise<Record<string, unknown> | undefined> {
  const address = server.replace(/^[a-z]+:\/\//i, '').replace(/^[^@/]*@/, '').replace(/\/.*$/, '');
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(address);
  if (match === null) return undefined;
  const host = match[1]!.replace(/^\[|\]$/g, '');
  const port = match[2] === undefined ? 4222 : Number(match[2]);
  return new Promise((resolve) => {
    let text = '';
    const socket = tcpConnect(port, host);
    const done = (info: Record<string, unknown> | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(info);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n');
      if (end < 0) return;
      try {
        done(text.startsWith('INFO ') ? (JSON.parse(text.slice(5, end)) as Record<string, unknown>) : undefined);
      } catch {
        done(undefined);
      }
    });
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}

/**
 * A `TLS` error if the server verifies client certificates and `connection`
 * has none (nats.js only sees the connection close after the TLS 1.3
 * handshake, and times out). One look at the server's INFO line, after a
 * failed connect and only when TLS is in use without a client certificate.
 */
export async function checkClientCertificate(connection: ConnectionParsed, timeoutMs: number): Promise<void> {
  const usesTls = connection.tls !== undefined || connection.servers.some((s) => /^tls:\/\//i.test(s));
  if (!usesTls || connection.tls?.certFile !== undefined) return;
  const info = await serverInfo(connection.servers[0]!, Math.min(timeoutMs, 2000));
  if (info?.['tls_verify'] === true) throw new TlsError(`connect: NATS at ${printableServers(connection.servers)} requires a client certificate (tls.certFile and tls.keyFile)`);
}
