import { assertKey, batchOptionsSchema, batchSchema, deleteOptionsSchema, parseArgument, putOptionsSchema, type SyncMode, type ValueCodec, type Version } from '@epochdb/core';
import type { PendingWrite } from './pending-write.js';

/** Options of `put()`. */
export interface PutOptions {
  /** Run / session / tenant id, queryable with `byRun`. */
  readonly run?: string | undefined;
  /** Type tag, queryable with `byType`. */
  readonly type?: string | undefined;
  /** Time to live in ms from the commit. */
  readonly ttl?: number | undefined;
  /** Absolute expiry in epoch ms. */
  readonly expiresAt?: number | undefined;
  /** Commit only if the key is at this version (0 or null: only if it does not exist). */
  readonly ifVersion?: Version | null | undefined;
  /** Durability of this write, overriding the database default (persistent databases). */
  readonly sync?: SyncMode | undefined;
}

/** Options of `delete()`. */
export interface DeleteOptions {
  /** Commit only if the key is at this version. */
  readonly ifVersion?: Version | null | undefined;
  /** Durability of this write, overriding the database default (persistent databases). */
  readonly sync?: SyncMode | undefined;
}

/** Options of `batch()`. */
export interface BatchOptions {
  /** Durability of this batch, overriding the database default (persistent databases). */
  readonly sync?: SyncMode | undefined;
}

/** One operation of `batch()`. */
export type BatchOp =
  | ({ readonly op: 'put'; readonly key: string; readonly value: unknown } & Omit<PutOptions, 'sync'>)
  | ({ readonly op: 'delete'; readonly key: string } & Omit<DeleteOptions, 'sync'>);

/** The limits a write is validated against. */
export interface WriteLimits {
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  /** Encodes values (the database's shared structure table). */
  readonly codec: ValueCodec;
}

/**
 * Validates a put into a pending write: the key, the options, and the value,
 * which is encoded here, once (the bytes go to value memory and the WAL).
 */
export function preparePut(limits: WriteLimits, key: unknown, value: unknown, options: unknown, what: string, optionsParsed = false): PendingWrite {
  assertKey(key, `${what}: key`, limits.maxKeyBytes);
  const parsed = options === undefined ? {} : optionsParsed ? (options as PutOptions) : parseArgument(putOptionsSchema, options, `${what}: options`);
  const prepared = limits.codec.prepare(value, limits.maxValueBytes, `${what}: value`);
  return { kind: 'put', key, prepared, run: parsed.run, type: parsed.type, ttl: parsed.ttl, expiresAt: parsed.expiresAt, ifVersion: parsed.ifVersion };
}

/** Validates a delete into a pending write. */
export function prepareDelete(limits: WriteLimits, key: unknown, options: unknown, what: string): PendingWrite {
  assertKey(key, `${what}: key`, limits.maxKeyBytes);
  const parsed = options === undefined ? {} : parseArgument(deleteOptionsSchema, options, `${what}: options`);
  return { kind: 'delete', key, ifVersion: parsed.ifVersion };
}

/** Validates a batch into pending writes (in order) and its durability. */
export function prepareBatch(limits: WriteLimits, ops: unknown, options: unknown): { writes: PendingWrite[]; sync: SyncMode | undefined } {
  const parsed = parseArgument(batchSchema, ops, 'batch(): ops');
  const { sync } = options === undefined ? {} : parseArgument(batchOptionsSchema, options, 'batch(): options');
  const writes = parsed.map((op, i) => {
    const what = `batch(): ops[${i}]`;
    if (op.op === 'delete') {
      assertKey(op.key, `${what}.key`, limits.maxKeyBytes);
      return { kind: 'delete', key: op.key, ifVersion: op.ifVersion } satisfies PendingWrite;
    }
    const { op: _op, key, value, ...rest } = op;
    return preparePut(limits, key as string, value, rest, what, true);
  });
  return { writes, sync };
}

/** The estimate `maxTransactionBytes` counts for one buffered write: generous, 3 UTF-8 bytes per UTF-16 unit plus framing. */
export function writeBytes(write: PendingWrite): number {
  return (write.prepared?.encoded.byteLength ?? 0) + 3 * (write.key.length + (write.run?.length ?? 0) + (write.type?.length ?? 0)) + 32;
}
