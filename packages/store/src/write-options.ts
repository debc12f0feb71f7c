import { assertKey, batchOptionsSchema, batchSchema, deleteOptionsSchema, MAX_TAG_LENGTH, parseArgument, putOptionsSchema, type PreparedValue, type SyncMode, type ValueCodec, type Version } from '@epochdb/core';
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

/**
 * Validates a batch into pending writes (in order) and its durability. Ops
 * that are plain objects with valid fields take a path without zod; any other
 * batch is parsed by {@link batchSchema}, which accepts a superset of that
 * path and words every error.
 */
export function prepareBatch(limits: WriteLimits, ops: unknown, options: unknown): { writes: PendingWrite[]; sync: SyncMode | undefined } {
  const fast = parsePlainOps(ops);
  const parsed = fast === undefined ? parseArgument(batchSchema, ops, 'batch(): ops') : undefined;
  const { sync } = options === undefined ? {} : parseArgument(batchOptionsSchema, options, 'batch(): options');
  if (fast !== undefined) {
    const { writes, values } = fast;
    // Names are made only for an error (the ones the schema path gives: `preparePut`'s for a put).
    let at = 0;
    const valueName = (): string => `batch(): ops[${at}]: value`;
    for (let i = 0; i < writes.length; i++) {
      const write = writes[i]!;
      const key = write.key;
      if (!isPlainKey(key, limits.maxKeyBytes)) assertKey(key, write.kind === 'delete' ? `batch(): ops[${i}].key` : `batch(): ops[${i}]: key`, limits.maxKeyBytes);
      if (write.kind === 'delete') continue;
      at = i;
      write.prepared = limits.codec.prepare(values[i], limits.maxValueBytes, valueName);
    }
    return { writes: writes as PendingWrite[], sync };
  }
  const writes = parsed!.map((op, i) => {
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

/** A write {@link parsePlainOps} read: key and value not yet checked. */
interface DraftWrite {
  kind: 'put' | 'delete';
  key: unknown;
  prepared: PreparedValue | undefined;
  run: string | undefined;
  type: string | undefined;
  ttl: number | undefined;
  expiresAt: number | undefined;
  ifVersion: Version | null | undefined;
}

const PUT_FIELDS: ReadonlySet<string> = new Set(['op', 'key', 'value', 'run', 'type', 'ttl', 'expiresAt', 'ifVersion']);
const DELETE_FIELDS: ReadonlySet<string> = new Set(['op', 'key', 'ifVersion']);

/**
 * Reads the ops of a batch once each, if every one is a plain object whose
 * fields {@link batchSchema} would accept as they are; `undefined` when any is
 * not (the schema then decides and words the error). Accepts nothing the
 * schema refuses.
 */
function parsePlainOps(ops: unknown): { writes: DraftWrite[]; values: unknown[] } | undefined {
  if (!Array.isArray(ops)) return undefined;
  const length = ops.length;
  const writes: DraftWrite[] = new Array<DraftWrite>(length);
  const values: unknown[] = new Array<unknown>(length);
  for (let i = 0; i < length; i++) {
    const op: unknown = ops[i];
    if (typeof op !== 'object' || op === null || Object.getPrototypeOf(op) !== Object.prototype) return undefined;
    const fields = op as Record<string, unknown>;
    const kind = fields['op'];
    const allowed = kind === 'put' ? PUT_FIELDS : kind === 'delete' ? DELETE_FIELDS : undefined;
    if (allowed === undefined) return undefined;
    // What the schema's strict objects refuse: any other enumerable key, own or inherited.
    for (const name in fields) if (!allowed.has(name)) return undefined;
    // The schema requires these present (a present `undefined` value passes it, and preparePut refuses it).
    if (!('key' in fields) || (kind === 'put' && !('value' in fields))) return undefined;
    const ifVersion = fields['ifVersion'];
    if (ifVersion !== undefined && ifVersion !== null && !(Number.isSafeInteger(ifVersion) && (ifVersion as number) >= 0)) return undefined;
    if (kind === 'delete') {
      writes[i] = { kind: 'delete', key: fields['key'], prepared: undefined, run: undefined, type: undefined, ttl: undefined, expiresAt: undefined, ifVersion: ifVersion as Version | null | undefined };
      continue;
    }
    const key = fields['key'];
    values[i] = fields['value'];
    const run = fields['run'];
    const type = fields['type'];
    const ttl = fields['ttl'];
    const expiresAt = fields['expiresAt'];
    if ((run !== undefined && !isPlainTag(run)) || (type !== undefined && !isPlainTag(type))) return undefined;
    if (ttl !== undefined && !(typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0)) return undefined;
    if (expiresAt !== undefined && !(typeof expiresAt === 'number' && Number.isFinite(expiresAt))) return undefined;
    if (ttl !== undefined && expiresAt !== undefined) return undefined;
    writes[i] = { kind: 'put', key, prepared: undefined, run, type, ttl, expiresAt, ifVersion: ifVersion as Version | null | undefined };
  }
  return { writes, values };
}

/** A key {@link assertKey} accepts without measuring its UTF-8 bytes (it throws, naming the key, for every other). */
function isPlainKey(key: unknown, maxKeyBytes: number): boolean {
  return typeof key === 'string' && key.length > 0 && key.length * 3 <= maxKeyBytes && key.isWellFormed();
}

/** A tag `tagSchema` accepts: 1 to 256 UTF-16 units (so 1 to 256 code points), no U+0000, well-formed. */
function isPlainTag(tag: unknown): tag is string {
  return typeof tag === 'string' && tag.length >= 1 && tag.length <= MAX_TAG_LENGTH && !tag.includes('\u0000') && tag.isWellFormed();
}

/** The estimate `maxTransactionBytes` counts for one buffered write: generous, 3 UTF-8 bytes per UTF-16 unit plus framing. */
export function writeBytes(write: PendingWrite): number {
  return (write.prepared?.encoded.byteLength ?? 0) + 3 * (write.key.length + (write.run?.length ?? 0) + (write.type?.length ?? 0)) + 32;
}
