import type { Version } from '@epochdb/core';

/** What a replica reports as it follows: bootstraps from a checkpoint and re-bootstraps after the stream was trimmed past it. */
export type ReplicaEvent =
  | { readonly type: 'bootstrap'; readonly version: Version; readonly entries: number }
  | { readonly type: 'rebootstrap'; readonly from: Version; readonly version: Version; readonly reason: string };

/** How far a replica is behind the newest message it knows of. */
export interface ReplicaLag {
  readonly versions: number;
  /** Ms from the commit time of the oldest record not yet applied to now (0 when caught up). */
  readonly ms: number;
}
