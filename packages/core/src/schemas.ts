import { z } from 'zod';
import type { Clock } from './types.js';

/** Longest run id or type tag, in characters (Unicode code points, as zod counts them). */
export const MAX_TAG_LENGTH = 256;

const isWellFormed = (s: string): boolean => s.isWellFormed();

/** A run id or type tag: non-empty, well-formed, without U+0000 (the index separator). */
export const tagSchema = z
  .string()
  .min(1, 'must be a non-empty string')
  .max(MAX_TAG_LENGTH, `must be at most ${MAX_TAG_LENGTH} characters`)
  .refine((s) => !s.includes('\u0000'), 'must not contain U+0000')
  .refine(isWellFormed, 'must not contain lone surrogates');

/** An expected version for a conditional write: a version, or 0 / null for "must not exist". */
export const ifVersionSchema = z.number().int('must be an integer').min(0, 'must be >= 0').nullable();

const writeFields = {
  run: tagSchema.optional(),
  type: tagSchema.optional(),
  ttl: z.number().finite('must be finite').positive('must be > 0 (milliseconds)').optional(),
  expiresAt: z.number().finite('must be finite (epoch milliseconds)').optional(),
  ifVersion: ifVersionSchema.optional(),
};

const noTtlAndExpiresAt = (o: { ttl?: number | undefined; expiresAt?: number | undefined }): boolean =>
  o.ttl === undefined || o.expiresAt === undefined;
const TTL_CONFLICT = { message: 'give either ttl or expiresAt, not both' };

/** Options of `put()`. */
export const putOptionsSchema = z.strictObject(writeFields).refine(noTtlAndExpiresAt, TTL_CONFLICT);

/** Options of `delete()`. */
export const deleteOptionsSchema = z.strictObject({ ifVersion: ifVersionSchema.optional() });

/** Options of every `scan()`, `byRun()` and `byType()`. */
export const scanOptionsSchema = z
  .strictObject({
    prefix: z.string().optional(),
    gt: z.string().optional(),
    gte: z.string().optional(),
    lt: z.string().optional(),
    lte: z.string().optional(),
    reverse: z.boolean().optional(),
    limit: z.number().int('must be an integer').min(0, 'must be >= 0').optional(),
  })
  .refine((o) => o.gt === undefined || o.gte === undefined, { message: 'give either gt or gte, not both' })
  .refine((o) => o.lt === undefined || o.lte === undefined, { message: 'give either lt or lte, not both' });

/** One operation of `batch()`. */
export const batchOpSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('put'), key: z.unknown(), value: z.unknown(), ...writeFields }).refine(noTtlAndExpiresAt, TTL_CONFLICT),
  z.strictObject({ op: z.literal('delete'), key: z.unknown(), ifVersion: ifVersionSchema.optional() }),
]);

/** The operations of `batch()`. */
export const batchSchema = z.array(batchOpSchema);

/** The isolation levels of transactions. */
export const ISOLATION_LEVELS = ['snapshot', 'serializable'] as const;

/** Options of `transaction()` and `begin()`. */
export const transactionOptionsSchema = z.strictObject({
  isolation: z.enum(ISOLATION_LEVELS).optional(),
  retries: z.number().int('must be an integer').min(0, 'must be >= 0').max(1000, 'must be <= 1000').optional(),
});

const clockSchema = z.custom<Clock>(
  (c) => typeof c === 'object' && c !== null && typeof (c as { now?: unknown }).now === 'function',
  'must be an object with a now() method returning epoch milliseconds',
);

/** Background maintenance policy: TTL cleaning and version GC. */
export const maintenanceOptionsSchema = z.strictObject({
  /** How often the TTL cleaner and version GC run, in ms (0 = never by timer). */
  intervalMs: z.number().int().min(0).max(3_600_000).default(1000),
  /** Longest a single pass may hold the event loop, in ms. */
  sliceMs: z.number().positive().max(1000).default(2),
});

/** Options of `open()`. */
export const openOptionsSchema = z.strictObject({
  clock: clockSchema.optional(),
  maxKeyBytes: z.number().int().min(1).max(65_535).default(1024),
  maxValueBytes: z.number().int().min(1).max(1024 * 1024 * 1024).default(16 * 1024 * 1024),
  /** How many versions of history behind the newest stay readable with `snapshotAt()` even when no snapshot pins them. */
  retainVersions: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  maintenance: maintenanceOptionsSchema.default({ intervalMs: 1000, sliceMs: 2 }),
});

export type PutOptionsParsed = z.output<typeof putOptionsSchema>;
export type ScanOptionsParsed = z.output<typeof scanOptionsSchema>;
export type BatchOpParsed = z.output<typeof batchOpSchema>;
export type TransactionOptionsParsed = z.output<typeof transactionOptionsSchema>;
export type OpenOptionsParsed = z.output<typeof openOptionsSchema>;
export type MaintenanceOptionsParsed = z.output<typeof maintenanceOptionsSchema>;
