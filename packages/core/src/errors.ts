/**
 * The stable error codes of EpochDB. Codes never change between major
 * versions; messages may.
 */
export const ERROR_CODES = [
  'INVALID_KEY',
  'INVALID_VALUE',
  'INVALID_OPTION',
  'CLOSED',
  'SNAPSHOT_RELEASED',
  'TRANSACTION_FINISHED',
  'CONFLICT',
  'VERSION_MISMATCH',
  'VERSION_UNAVAILABLE',
  'CORRUPTION',
  'UNSUPPORTED_FORMAT',
  'LOCKED',
  'IO_ERROR',
  'FAILED',
  'LIMIT_EXCEEDED',
  'LEASE_EXPIRED',
  'UNIQUE_VIOLATION',
  'WATCH_OVERFLOW',
  'READ_ONLY',
  'REPLICATION',
  'COLLECTION_MISMATCH',
  'INDEX_MISSING',
  'AUTHENTICATION',
  'TLS',
  'PERMISSION_DENIED',
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The base class of every error EpochDB throws on purpose. Match on
 * {@link EpochError.code}, which is stable, rather than on the message.
 */
export abstract class EpochError extends Error {
  /** The stable machine-readable code of this error. */
  abstract readonly code: ErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A key is not a non-empty, well-formed string within the size limit. */
export class InvalidKeyError extends EpochError {
  readonly code = 'INVALID_KEY' as const;
}

/** A value cannot be stored: it cannot be encoded, or it is too large. */
export class InvalidValueError extends EpochError {
  readonly code = 'INVALID_VALUE' as const;
}

/** An options object or other argument has an unknown name or a bad value. */
export class InvalidOptionError extends EpochError {
  readonly code = 'INVALID_OPTION' as const;
}

/** The database has been closed; nothing can be read or written through it. */
export class DatabaseClosedError extends EpochError {
  readonly code = 'CLOSED' as const;
}

/** A snapshot was used after `release()`. */
export class SnapshotReleasedError extends EpochError {
  readonly code = 'SNAPSHOT_RELEASED' as const;
}

/** A transaction was used after it committed or aborted. */
export class TransactionFinishedError extends EpochError {
  readonly code = 'TRANSACTION_FINISHED' as const;
}

/**
 * A transaction lost to a concurrent commit: another transaction wrote a key
 * it wrote (both isolation levels) or changed what it read (`'serializable'`).
 */
export class ConflictError extends EpochError {
  readonly code = 'CONFLICT' as const;
  /** The key whose concurrent change caused the conflict. */
  readonly key: string;

  constructor(message: string, key: string, options?: { cause?: unknown }) {
    super(message, options);
    this.key = key;
  }
}

/** A conditional write (`ifVersion`) found the key at another version. */
export class VersionMismatchError extends EpochError {
  readonly code = 'VERSION_MISMATCH' as const;
  /** The key that was checked. */
  readonly key: string;
  /** The version the caller required (0 = must not exist). */
  readonly expected: number;
  /** The version the key actually has (0 = it does not exist). */
  readonly actual: number;

  constructor(key: string, expected: number, actual: number) {
    super(
      `conditional write on key ${JSON.stringify(key)} refused: ifVersion ${expected} required, ` +
        (actual === 0 ? 'but the key does not exist' : `but its current version is ${actual}`),
    );
    this.key = key;
    this.expected = expected;
    this.actual = actual;
  }
}

/** A version was asked for that is older than the GC horizon or newer than the database. */
export class VersionUnavailableError extends EpochError {
  readonly code = 'VERSION_UNAVAILABLE' as const;
}

/** A database file failed a checksum or structure check where no crash can explain it. */
export class CorruptionError extends EpochError {
  readonly code = 'CORRUPTION' as const;
  /** The damaged file. */
  readonly file: string;
  /** Byte offset of the first damage found. */
  readonly offset: number;
  /** The newest version known good before the damage (0 if none). */
  readonly lastGoodVersion: number;

  constructor(message: string, details: { file: string; offset: number; lastGoodVersion: number }, options?: { cause?: unknown }) {
    super(`${message} (file ${details.file}, offset ${details.offset}, last good version ${details.lastGoodVersion})`, options);
    this.file = details.file;
    this.offset = details.offset;
    this.lastGoodVersion = details.lastGoodVersion;
  }
}

/** A directory or file was written by a newer (or unknown) format version, or is not an EpochDB file. */
export class UnsupportedFormatError extends EpochError {
  readonly code = 'UNSUPPORTED_FORMAT' as const;
}

/** Another open database (this process or another) holds the directory's lock. */
export class LockedError extends EpochError {
  readonly code = 'LOCKED' as const;
}

/** A file-system operation failed (disk full, EIO, permissions). */
export class IoError extends EpochError {
  readonly code = 'IO_ERROR' as const;
}

/**
 * The database stopped accepting writes after a write or fsync failed: what
 * was not acknowledged may not be on disk. Reads still work; reopen to recover.
 */
export class DatabaseFailedError extends EpochError {
  readonly code = 'FAILED' as const;
}

/** The limits {@link LimitExceededError} enforces, by option name. */
export type LimitName = 'maxTransactionOps' | 'maxTransactionBytes' | 'maxMemoryBytes';

/**
 * A write would pass a limit that protects the process: a transaction or
 * batch with too many operations or bytes, or the memory budget. Nothing was
 * changed; the database stays usable.
 */
export class LimitExceededError extends EpochError {
  readonly code = 'LIMIT_EXCEEDED' as const;
  /** The option whose limit was reached. */
  readonly limit: LimitName;

  constructor(message: string, limit: LimitName, options?: { cause?: unknown }) {
    super(message, options);
    this.limit = limit;
  }
}

/**
 * A snapshot or transaction was open longer than `snapshotLeaseMs` and was
 * ended, so it could not hold back version GC forever. Take a new one.
 */
export class LeaseExpiredError extends EpochError {
  readonly code = 'LEASE_EXPIRED' as const;
}

/** A commit would give two keys the same value in a unique index; nothing was applied. */
export class UniqueViolationError extends EpochError {
  readonly code = 'UNIQUE_VIOLATION' as const;
  /** The index, as `collection.index`. */
  readonly index: string;
  /** The key already holding the value (or the other key of the same commit). */
  readonly existingKey: string;
  /** The key whose write was refused. */
  readonly key: string;

  constructor(message: string, details: { index: string; existingKey: string; key: string }, options?: { cause?: unknown }) {
    super(message, options);
    this.index = details.index;
    this.existingKey = details.existingKey;
    this.key = details.key;
  }
}

/**
 * A change feed's consumer fell more than its buffer behind: the feed ended
 * after the last change it could deliver whole. Resume with
 * `db.watch({ fromVersion: error.resumeFromVersion })`.
 */
export class WatchOverflowError extends EpochError {
  readonly code = 'WATCH_OVERFLOW' as const;
  /** The version of the last change delivered: resume from here. */
  readonly resumeFromVersion: number;

  constructor(message: string, resumeFromVersion: number, options?: { cause?: unknown }) {
    super(message, options);
    this.resumeFromVersion = resumeFromVersion;
  }
}

/**
 * A write reached a database that only reads: opened with `readOnly: true`,
 * or a replica that follows a primary. Nothing was changed.
 */
export class ReadOnlyError extends EpochError {
  readonly code = 'READ_ONLY' as const;
}

/**
 * Replication could not do what was asked: a write with `ack: 'replicated'`
 * was not stored by the replication log in time (see {@link ReplicationError.durableLocally}),
 * another primary holds the log, or the log no longer covers a version.
 */
export class ReplicationError extends EpochError {
  readonly code = 'REPLICATION' as const;
  /** Whether the write this error refers to is durable on the local disk (it will be shipped later). */
  readonly durableLocally: boolean;

  constructor(message: string, durableLocally: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.durableLocally = durableLocally;
  }
}

/**
 * A put would take a key out of its collection without the collection's
 * schema: the key's live entry carries a defined collection's type tag and
 * the write carries another type or none. Write it through the collection
 * (or with that `type`), or delete the key first. Nothing was applied.
 */
export class CollectionMismatchError extends EpochError {
  readonly code = 'COLLECTION_MISMATCH' as const;
  /** The key whose write was refused. */
  readonly key: string;
  /** The collection the key belongs to. */
  readonly collection: string;
  /** The type tag the refused write carried (`undefined`: none). */
  readonly type: string | undefined;

  constructor(key: string, collection: string, type: string | undefined) {
    super(
      `put on key ${JSON.stringify(key)} refused: the key belongs to collection ${JSON.stringify(collection)}, and this write ` +
        (type === undefined ? 'has no type tag' : `has type ${JSON.stringify(type)}`) +
        `, so it would leave the collection unchecked by its schema; write it through the collection (or with { type: ${JSON.stringify(collection)} }), or delete the key first`,
    );
    this.key = key;
    this.collection = collection;
    this.type = type;
  }
}

/**
 * A secondary index was defined (and its definition persisted) in an earlier
 * session, but this session has not given its function: querying it, or a
 * write its unique constraint should check, is refused instead of answering
 * from an index that was never built. Give the function by name:
 * `db.collection(name, { schema, indexes: { [index]: fn } })` or `createIndex`.
 */
export class IndexMissingError extends EpochError {
  readonly code = 'INDEX_MISSING' as const;
  /** The index, as `collection.index`. */
  readonly index: string;

  constructor(message: string, index: string, options?: { cause?: unknown }) {
    super(message, options);
    this.index = index;
  }
}

/** Why NATS refused a connection's credentials: none were given, or the ones given were not accepted (or have expired). */
export type AuthenticationFailure = 'missing' | 'rejected' | 'expired';

/**
 * NATS refused to let a replication connection in: the server requires
 * credentials and none were given (`reason: 'missing'`), or the user and
 * password, token or credentials file given were not accepted
 * (`'rejected'`, `'expired'`). The message never carries a secret.
 */
export class AuthenticationError extends EpochError {
  readonly code = 'AUTHENTICATION' as const;
  /** Which of the failures it was. */
  readonly reason: AuthenticationFailure;

  constructor(message: string, reason: AuthenticationFailure, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * A TLS connection to NATS could not be set up: the server's certificate
 * could not be verified (give its CA as `tls.caFile`), a certificate or key
 * file could not be read, or the server and the client disagree on TLS.
 */
export class TlsError extends EpochError {
  readonly code = 'TLS' as const;
}

/**
 * NATS refused a publish or subscription the connection's credentials do not
 * allow (a JetStream API call is a publish on `$JS.API.…`). `.operation` and
 * `.subject` name what was refused; nothing was sent.
 */
export class PermissionDeniedError extends EpochError {
  readonly code = 'PERMISSION_DENIED' as const;
  /** `'publish'` or `'subscription'`. */
  readonly operation: string;
  /** The subject refused. */
  readonly subject: string;

  constructor(message: string, details: { operation: string; subject: string }, options?: { cause?: unknown }) {
    super(message, options);
    this.operation = details.operation;
    this.subject = details.subject;
  }
}
