import { createHash } from 'node:crypto';
import { createAccount, createOperator, createUser, type KeyPair } from 'nkeys.js';

/**
 * Decentralized NATS authentication for tests: an operator, a system account
 * and an application account (JetStream enabled), signed as NATS JWTs with
 * `nkeys.js`, and `.creds` files for users of the application account.
 */
export interface OperatorSetup {
  /** The server configuration: operator, system account, memory resolver with both accounts preloaded. */
  readonly config: string;
  /** A `.creds` file's text for a user of the application account allowed to publish and subscribe on these subjects. */
  creds(name: string, permissions: { readonly pub: readonly string[]; readonly sub: readonly string[] }): string;
}

const HEADER = { typ: 'JWT', alg: 'ed25519-nkey' };

function base64url(data: string | Uint8Array): string {
  return Buffer.from(data).toString('base64url');
}

/** RFC 4648 base32 without padding (the JWT id NATS' jwt library computes). */
function base32(data: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** A NATS v2 JWT for `subject`, signed by `issuer`. */
function encodeJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = { jti: '', iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 } };
  claims.jti = base32(createHash('sha512-256').update(JSON.stringify(claims)).digest());
  const signing = `${base64url(JSON.stringify(HEADER))}.${base64url(JSON.stringify(claims))}`;
  return `${signing}.${base64url(issuer.sign(new TextEncoder().encode(signing)))}`;
}

const UNLIMITED_ACCOUNT = {
  limits: { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
  default_permissions: { pub: {}, sub: {} },
  type: 'account',
};

/** A fresh operator with a system account and one application account. */
export function operatorSetup(): OperatorSetup {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const operatorJwt = encodeJwt(operator, operator.getPublicKey(), 'epochdb-test-operator', { type: 'operator' });
  const systemJwt = encodeJwt(operator, system.getPublicKey(), 'SYS', { limits: { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 }, default_permissions: { pub: {}, sub: {} }, type: 'account' });
  const accountJwt = encodeJwt(operator, account.getPublicKey(), 'APP', UNLIMITED_ACCOUNT);
  const config = [
    `operator: ${JSON.stringify(operatorJwt)}`,
    `system_account: ${system.getPublicKey()}`,
    'resolver: MEMORY',
    'resolver_preload: {',
    `  ${system.getPublicKey()}: ${JSON.stringify(systemJwt)}`,
    `  ${account.getPublicKey()}: ${JSON.stringify(accountJwt)}`,
    '}',
  ].join('\n');
  return {
    config,
    creds(name, permissions) {
      const user = createUser();
      const jwt = encodeJwt(account, user.getPublicKey(), name, { pub: { allow: [...permissions.pub] }, sub: { allow: [...permissions.sub] }, subs: -1, data: -1, payload: -1, type: 'user' });
      const seed = new TextDecoder().decode(user.getSeed());
      return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\nNKEYs are sensitive and should be treated as secrets.\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n\n*************************************************************\n`;
    },
  };
}
