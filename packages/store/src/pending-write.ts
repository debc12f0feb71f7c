import type { PreparedValue, Version } from '@epochdb/core';

/** A validated write waiting to be committed. */
export interface PendingWrite {
  readonly kind: 'put' | 'delete' | 'expire';
  readonly key: string;
  /** The value of a `put`. */
  readonly prepared?: PreparedValue | undefined;
  readonly run?: string | undefined;
  readonly type?: string | undefined;
  /** Relative TTL in ms, turned into `expiresAt` at commit time. */
  readonly ttl?: number | undefined;
  readonly expiresAt?: number | undefined;
  /** Commit only if the key is at this version (0 or null: must not exist). */
  readonly ifVersion?: Version | null | undefined;
  /** For `expire`: delete only if the key is still at this version. */
  readonly seenVersion?: Version | undefined;
  /** Set by a collection's own put: the value is its schema's output, already validated (a transform's output need not parse again). */
  readonly validatedBy?: string | undefined;
}

/** The `expiresAt` a put will carry when committed at `now`. */
export function expiryOf(write: PendingWrite, now: number): number | undefined {
  return write.ttl !== undefined ? now + write.ttl : write.expiresAt;
}
