import type { Version } from '@epochdb/core';

/** Counters of a primary's shipper (`stats().replication`). */
export interface ShippingStats {
  /** The newest version JetStream has stored (as last known: while the connection is down, what it held then). */
  readonly shippedVersion: Version;
  /** Committed versions not yet stored by JetStream. */
  readonly backlog: number;
  readonly connected: boolean;
  /** Set once another primary holds the log. */
  readonly fenced: boolean;
  /** Records published (retries count once each). */
  readonly published: number;
  /** Times the shipper lost the connection or its place and synced again. */
  readonly resyncs: number;
  /** Times the WAL no longer held the next version and the stream went on after an uploaded checkpoint. */
  readonly checkpointJumps: number;
  /**
   * Why nothing ships now, if NATS refused what shipping needs: the message of
   * an `AUTHENTICATION`, `TLS` or `PERMISSION_DENIED` error (never a secret).
   * `undefined` while shipping works or NATS is merely unreachable.
   */
  readonly failure: string | undefined;
  /** The code of {@link ShippingStats.failure}'s error. */
  readonly failureCode: string | undefined;
}
