// The public surface of replication that the `epochdb` package re-exports (entry `@epochdb/replicate/api`).
// Nothing here, nor in what its declarations import, mentions the nats client's types: those reference
// DOM globals (`TextEncoder` as a type) and would not type-check in an app without the DOM lib that
// merely imports `epochdb`. The nats-facing parts stay behind the package's main entry.
export { restore } from './restore.js';
export type { RestoreOptions, RestoreReport } from './restore.js';
export { ACK_MODES } from './replicate-options.js';
export type { AckMode, ReplicateOptions } from './replicate-options.js';
export type { ShippingEvent } from './replicate-options.js';
export type { ReplicaEvent, ReplicaLag } from './replica-status.js';
export type { ShippingStats } from './shipping-status.js';
export type { ConnectionOptions, TlsFiles } from './connection-types.js';
export { authorizationBlock, replicationPermissions } from './permissions.js';
export type { ReplicationPermissions, SubjectPermissions } from './permissions.js';
