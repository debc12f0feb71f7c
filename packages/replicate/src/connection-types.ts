// The connection options as users give them: plain types, kept apart from the nats client (whose
// declarations need DOM types) so that `epochdb`'s own declarations never reach it.

/** TLS files for a NATS connection, as nats.js reads them. */
export interface TlsFiles {
  /** PEM file of the CA(s) the server's certificate must chain to (default: the system's CAs). */
  readonly caFile?: string;
  /** PEM client certificate, for a server that verifies clients (`verify: true`); needs `keyFile`. */
  readonly certFile?: string;
  /** PEM private key of `certFile`. */
  readonly keyFile?: string;
}

/**
 * How to reach and authenticate to NATS, the same wherever EpochDB connects
 * (primary, replica, restore, the checkpoint upload worker, `epochdb restore`).
 * Give at most one of `user`/`pass`, `token` and `credsFile`. None of the
 * secrets ever appears in an error message, `stats()` or an event.
 */
export interface ConnectionOptions {
  /** NATS server address(es): `'127.0.0.1:4222'`, `'nats://host:4222'` or `'tls://host:4222'` (TLS required). */
  readonly servers: string | readonly string[];
  /** User name (with `pass`). */
  readonly user?: string;
  /** Password of `user`. */
  readonly pass?: string;
  /** Authentication token. */
  readonly token?: string;
  /** A NATS `.creds` file (user JWT and NKey seed: decentralized authentication). */
  readonly credsFile?: string;
  /** TLS: verify the server with an own CA, present a client certificate. Implied (with the system CAs) by a `tls://` address. */
  readonly tls?: TlsFiles;
}

/** {@link ConnectionOptions} checked: `servers` as a list, the rest as given. */
export interface ConnectionParsed {
  readonly servers: readonly string[];
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  readonly credsFile?: string;
  readonly tls?: TlsFiles;
}
