import { InvalidOptionError } from '@epochdb/core';
import type { EpochError, Version } from '@epochdb/core';
import { CONNECTION_OPTION_NAMES, parseConnectionOptions } from './connection-options.js';
import type { ConnectionOptions, ConnectionParsed } from './connection-types.js';
import { logNames, positiveInteger } from './names.js';

/** When a replicated primary acknowledges a write. */
export const ACK_MODES = ['local', 'replicated'] as const;
/** See {@link ACK_MODES}. */
export type AckMode = (typeof ACK_MODES)[number];

/**
 * What a primary's shipper reports through `replicate.onEvent`:
 * - `'shipping-failed'`: NATS refused what shipping needs (credentials,
 *   TLS, a permission), so nothing ships until that is fixed; commits go on
 *   locally (`ack: 'local'`) and stay in the WAL. Reported once per cause.
 * - `'shipping-resumed'`: shipping works again after a `'shipping-failed'`.
 * - `'closed-unshipped'`: `close()` left versions `from`..`to` unshipped;
 *   the WAL keeps them and the next open with `replicate` ships them.
 */
export type ShippingEvent =
  | { readonly type: 'shipping-failed'; readonly error: EpochError }
  | { readonly type: 'shipping-resumed'; readonly shippedVersion: Version }
  | { readonly type: 'closed-unshipped'; readonly from: Version; readonly to: Version; readonly reason: string };

/**
 * `open({ dir, replicate })`: ship every commit to a NATS JetStream stream.
 * The connection options (`servers`, `user`/`pass`, `token`, `credsFile`,
 * `tls`) are {@link ConnectionOptions}.
 */
export interface ReplicateOptions extends ConnectionOptions {
  /** The replicated database's name: its stream and checkpoint bucket are named after it. */
  readonly name: string;
  /**
   * `'local'` (default): a write resolves when it is durable locally and is shipped
   * afterwards. `'replicated'`: it resolves when JetStream has stored it too, and
   * rejects with a `ReplicationError` (saying whether it is durable locally) if that
   * does not happen within `timeoutMs`.
   */
  readonly ack?: AckMode;
  /** How long a `'replicated'` write, the first contact at open and a publish may take, ms (default 5000). */
  readonly timeoutMs?: number;
  /** Checkpoints kept in the object store (default 2); stream messages older than the oldest one kept are removed. */
  readonly keepCheckpoints?: number;
  /** Shipping failures NATS will not cure by itself, and what `close()` left unshipped (see {@link ShippingEvent}). */
  readonly onEvent?: (event: ShippingEvent) => void;
}

/** {@link ReplicateOptions} checked, with defaults. */
export interface ReplicateOptionsParsed extends ConnectionParsed {
  readonly name: string;
  readonly ack: AckMode;
  readonly timeoutMs: number;
  readonly keepCheckpoints: number;
  readonly onEvent: ((event: ShippingEvent) => void) | undefined;
}

const KNOWN = new Set([...CONNECTION_OPTION_NAMES, 'name', 'ack', 'timeoutMs', 'keepCheckpoints', 'onEvent']);

/** Checks `open({ replicate })`; bad input is an `INVALID_OPTION` naming the option. */
export function parseReplicateOptions(options: unknown): ReplicateOptionsParsed {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('open(): options.replicate must be an object { servers, name, ack? }');
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!KNOWN.has(key)) throw new InvalidOptionError(`open(): options.replicate.${key} is not an option`);
  logNames(o.name, 'open(): options.replicate');
  const ack = o.ack ?? 'local';
  if (!ACK_MODES.includes(ack as AckMode)) throw new InvalidOptionError(`open(): options.replicate.ack must be 'local' or 'replicated', got ${JSON.stringify(o.ack)}`);
  if (o.onEvent !== undefined && typeof o.onEvent !== 'function') throw new InvalidOptionError('open(): options.replicate.onEvent must be a function');
  return Object.freeze({
    ...parseConnectionOptions(o, 'open(): options.replicate'),
    name: o.name as string,
    ack: ack as AckMode,
    timeoutMs: positiveInteger(o.timeoutMs, 5000, 'open(): options.replicate.timeoutMs'),
    keepCheckpoints: positiveInteger(o.keepCheckpoints, 2, 'open(): options.replicate.keepCheckpoints'),
    onEvent: o.onEvent as ((event: ShippingEvent) => void) | undefined,
  });
}
