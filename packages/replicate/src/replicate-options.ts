import { InvalidOptionError } from '@epochdb/core';
import { logNames, parseServers, positiveInteger } from './names.js';

/** When a replicated primary acknowledges a write. */
export const ACK_MODES = ['local', 'replicated'] as const;
/** See {@link ACK_MODES}. */
export type AckMode = (typeof ACK_MODES)[number];

/** `open({ dir, replicate })`: ship every commit to a NATS JetStream stream. */
export interface ReplicateOptions {
  /** NATS server address(es), e.g. `'127.0.0.1:4222'`. */
  readonly servers: string | readonly string[];
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
}

/** {@link ReplicateOptions} checked, with defaults. */
export interface ReplicateOptionsParsed {
  readonly servers: readonly string[];
  readonly name: string;
  readonly ack: AckMode;
  readonly timeoutMs: number;
  readonly keepCheckpoints: number;
}

const KNOWN = new Set(['servers', 'name', 'ack', 'timeoutMs', 'keepCheckpoints']);

/** Checks `open({ replicate })`; bad input is an `INVALID_OPTION` naming the option. */
export function parseReplicateOptions(options: unknown): ReplicateOptionsParsed {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('open(): options.replicate must be an object { servers, name, ack? }');
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!KNOWN.has(key)) throw new InvalidOptionError(`open(): options.replicate.${key} is not an option`);
  logNames(o.name, 'open(): options.replicate');
  const ack = o.ack ?? 'local';
  if (!ACK_MODES.includes(ack as AckMode)) throw new InvalidOptionError(`open(): options.replicate.ack must be 'local' or 'replicated', got ${JSON.stringify(o.ack)}`);
  return Object.freeze({
    servers: parseServers(o.servers, 'open(): options.replicate'),
    name: o.name as string,
    ack: ack as AckMode,
    timeoutMs: positiveInteger(o.timeoutMs, 5000, 'open(): options.replicate.timeoutMs'),
    keepCheckpoints: positiveInteger(o.keepCheckpoints, 2, 'open(): options.replicate.keepCheckpoints'),
  });
}
