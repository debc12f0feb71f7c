export { open } from './open.js';
export type { OpenOptions } from './open.js';
export { Database } from './database.js';
export type { DatabaseStats, RecoveryReport } from './database.js';
export type { MaintenanceStats } from './maintenance.js';
export type { FollowStats } from './wal-follower.js';
export type { CheckpointStats } from './checkpoint-scheduler.js';
export { Snapshot } from '@epochdb/store';
export { Transaction } from './database-transaction.js';
export type { BatchOp, BatchOptions, DeleteOptions, Isolation, PutOptions, ReadApi, ScanOptions, StoreStats, TransactionOptions } from '@epochdb/store';
export {
  ERROR_CODES,
  EpochError,
  InvalidKeyError,
  InvalidValueError,
  InvalidOptionError,
  DatabaseClosedError,
  SnapshotReleasedError,
  TransactionFinishedError,
  ConflictError,
  VersionMismatchError,
  VersionUnavailableError,
  CorruptionError,
  UnsupportedFormatError,
  LockedError,
  IoError,
  DatabaseFailedError,
  LimitExceededError,
  LeaseExpiredError,
  UniqueViolationError,
  WatchOverflowError,
  SYNC_MODES,
} from '@epochdb/core';
export type { ErrorCode, LimitName } from '@epochdb/core';
export { IndexMissingError } from '@epochdb/core';
export { ManualClock, systemClock, UNCOMMITTED_VERSION } from '@epochdb/core';
export type { Clock, Entry, FileHandle, FileSystem, Key, RecoveryEvent, SyncMode, Version } from '@epochdb/core';
export { nodeFileSystem } from '@epochdb/persist';
export type { VerifyReport, FileReport } from '@epochdb/persist';
export { ChangeStream } from './watch.js';
export type { Change, WatchOptions } from './watch.js';
export { Collection, TxCollection } from './collection.js';
/** The untyped view `tx.collection(name)` gives (kept under its earlier name). */
export type TxCollectionLike = import('./collection.js').TxCollection;
export { CollectionIndex } from './collection-index.js';
export type { CollectionOptions, CollectionPutOptions, IndexDefinition, IndexFunction, IndexOptions, IndexRange, TypedEntry } from './collection-types.js';
export type { IndexKey } from './index-key.js';
export type { SchemaInput, SchemaOutput, StandardIssue, StandardResult, StandardSchema, StandardSchemaProps, StandardTypes } from './standard-schema.js';
export { openReplica, Replica } from './replica.js';
export type { ReplicaOptions } from './replica.js';
export { restore, ACK_MODES, authorizationBlock, replicationPermissions } from '@epochdb/replicate/api';
export type {
  AckMode,
  ConnectionOptions,
  ReplicaEvent,
  ReplicaLag,
  ReplicateOptions,
  RestoreOptions,
  RestoreReport,
  ShippingEvent,
  ShippingStats,
  TlsFiles,
  ReplicationPermissions,
  SubjectPermissions,
} from '@epochdb/replicate/api';
export { ReadOnlyError, ReplicationError, AuthenticationError, TlsError, PermissionDeniedError } from '@epochdb/core';
export type { AuthenticationFailure } from '@epochdb/core';
