import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';
import type { FileSystem } from './file-system.js';
import type { Clock } from './types.js';
import { DEFAULT_MAX_STRUCTURES, MAX_SHARED_STRUCTURES } from './value-codec.js';

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

/**
 * Durability of a write: `'always'` resolves after fdatasync (group commit);
 * `'interval'` after the write reaches the OS, with fdatasync on a timer;
 * `'none'` after the write reaches the OS, never fsync'ed by EpochDB.
 */
export const SYNC_MODES = ['always', 'interval', 'none'] as const;
export type SyncMode = (typeof SYNC_MODES)[number];
export const syncSchema = z.enum(SYNC_MODES);

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
export const putOptionsSchema = z.strictObject({ ...writeFields, sync: syncSchema.optional() }).refine(noTtlAndExpiresAt, TTL_CONFLICT);

/** Options of `delete()`. */
export const deleteOptionsSchema = z.strictObject({ ifVersion: ifVersionSchema.optional(), sync: syncSchema.optional() });

/** Options of `batch()` (the second argument). */
export const batchOptionsSchema = z.strictObject({ sync: syncSchema.optional() });

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
  sync: syncSchema.optional(),
});

const clockSchema = z.custom<Clock>(
  (c) => typeof c === 'object' && c !== null && typeof (c as { now?: unknown }).now === 'function',
  'must be an object with a now() method returning epoch milliseconds',
);

/**
 * Background maintenance policy, in one place: the main-thread slices (TTL
 * cleaning and version GC), the checkpoint trigger and retry, and the worker
 * pool that builds checkpoints and verifies files.
 */
export const maintenanceOptionsSchema = z.strictObject({
  /** How often a maintenance slice starts by timer, in ms (0 = never by timer). */
  intervalMs: z.number().int().min(0).max(3_600_000).default(1000),
  /** Longest a single slice may hold the event loop, in ms. */
  sliceMs: z.number().positive().max(1000).default(2),
  /**
   * Pressure: a commit that leaves at least this many superseded versions
   * waiting for GC (or finds expired entries waiting) starts a slice at once
   * instead of waiting for the timer. 0 turns pressure scheduling off.
   */
  gcPressureVersions: z.number().int().min(0).default(10_000),
  /** After a failed checkpoint (a crashed worker, a full disk), try again after this long, in ms, doubling up to 60 s. */
  checkpointRetryMs: z.number().int().min(1).max(3_600_000).default(5000),
  /** Worker threads for checkpoints and verification (0: run them inline). Same as the top-level `workers`. */
  workers: z.number().int().min(0).max(64).optional(),
  /** Checkpoint once the WAL since the last one passes this many bytes. Same as the top-level `checkpointWalBytes`. */
  checkpointWalBytes: z.number().int().min(1024).optional(),
});

/** Bytes per value-memory segment by default: few, large buffers. */
export const DEFAULT_VALUE_SEGMENT_BYTES = 8 * 1024 * 1024;
/**
 * Frozen entries the read cache keeps by default: none. Measured (docs/memory.md):
 * cached entries live long enough to be promoted to V8's old space, and under
 * random reads that costs more in garbage collection than the decodes it saves.
 */
export const DEFAULT_VALUE_CACHE_ENTRIES = 0;

/**
 * The default memory budget: half the machine's memory. Values live off the
 * V8 heap, so the heap limit does not bound them; the heap's own share (keys
 * and indexes) is held under {@link defaultMaxHeapBytes} separately.
 */
export function defaultMaxMemoryBytes(): number {
  return Math.floor(totalmem() / 2);
}

/**
 * The ceiling for the store's estimated heap bytes (keys, indexes, queues):
 * 60% of V8's heap limit, leaving the rest to the application and to garbage
 * collection headroom, so a filling process gets LIMIT_EXCEEDED instead of
 * dying at the heap limit.
 */
export function defaultMaxHeapBytes(): number {
  return Math.floor(getHeapStatistics().heap_size_limit * 0.6);
}

/** Worker threads by default: one, leaving the other core of a small machine to the app. */
export const DEFAULT_WORKERS = 1;
/** The WAL written since the last checkpoint that triggers the next one, by default. */
export const DEFAULT_CHECKPOINT_WAL_BYTES = 64 * 1024 * 1024;

/** Options of `open()`. */
export const openOptionsSchema = z.strictObject({
  clock: clockSchema.optional(),
  maxKeyBytes: z.number().int().min(1).max(65_535).default(1024),
  maxValueBytes: z.number().int().min(1).max(1024 * 1024 * 1024).default(16 * 1024 * 1024),
  /** How many versions of history behind the newest stay readable with `snapshotAt()` even when no snapshot pins them. */
  retainVersions: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  /** Most operations one transaction or batch may hold. */
  maxTransactionOps: z.number().int().min(1).max(10_000_000).default(100_000),
  /** Most encoded bytes (values, keys, tags) one transaction or batch may hold. */
  maxTransactionBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /** How long a snapshot or transaction may stay open before it is ended, ms (0: forever). */
  snapshotLeaseMs: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(60_000),
  /**
   * Memory budget of the stored data in bytes (value memory exactly, keys and indexes on the heap by
   * estimate); writes past it are refused with LIMIT_EXCEEDED (0: no budget). Default: half the
   * machine's memory (see {@link defaultMaxMemoryBytes}).
   */
  maxMemoryBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(() => defaultMaxMemoryBytes()),
  /** Bytes per value-memory segment (off the V8 heap). */
  valueSegmentBytes: z.number().int().min(4096).max(1024 * 1024 * 1024).multipleOf(8).default(DEFAULT_VALUE_SEGMENT_BYTES),
  /** Decoded, frozen entries kept for hot keys, so a key read again is not decoded again (0: every read decodes). */
  valueCacheEntries: z.number().int().min(0).max(10_000_000).default(DEFAULT_VALUE_CACHE_ENTRIES),
  /**
   * Object shapes (msgpackr record structures) the database's shared structure table takes before new
   * shapes are stored self-describing (default 4096; at most 8160). A table written with a higher limit
   * still reads in full.
   */
  maxStructures: z.number().int().min(0).max(MAX_SHARED_STRUCTURES).default(DEFAULT_MAX_STRUCTURES),
  maintenance: maintenanceOptionsSchema.prefault({}),
  /** Worker threads for checkpoints and `verify()` (0: run them inline); also `maintenance.workers`. Default 1. */
  workers: z.number().int().min(0).max(64).optional(),
  /** Directory to persist to; without it the database lives in memory only. */
  dir: z.string().min(1, 'must be a non-empty path').optional(),
  /** Create missing parent directories of `dir` too (by default only `dir` itself is created, so a typo makes no new tree). */
  createParents: z.boolean().default(false),
  /** Default durability of writes (see {@link SYNC_MODES}). */
  sync: syncSchema.default('always'),
  /** fdatasync period in `'interval'` mode, ms. */
  syncIntervalMs: z.number().int().min(1).max(3_600_000).default(1000),
  /** Checkpoint automatically once the WAL since the last checkpoint passes this many bytes; also `maintenance.checkpointWalBytes`. Default 64 MiB. */
  checkpointWalBytes: z.number().int().min(1024).optional(),
  /** Rotate WAL segments at this size. */
  walSegmentBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
  /** Checkpoint in close(): `'auto'` when it is worth its cost, `true` always, `false` never. */
  checkpointOnClose: z.union([z.boolean(), z.literal('auto')]).default('auto'),
  /** `'strict'`: corruption fails open(). `'salvage'`: keep the longest consistent prefix and move damaged files aside. */
  recovery: z.enum(['strict', 'salvage']).default('strict'),
  /** The file system to persist through (default: the real one). For fault-injection and simulation tests. */
  fileSystem: z
    .custom<FileSystem>((f) => typeof f === 'object' && f !== null && typeof (f as { open?: unknown }).open === 'function', 'must implement the FileSystem interface')
    .optional(),
  /** Called with recovery progress and events (torn tail truncated, files moved aside). */
  onRecoveryEvent: z.custom<(event: RecoveryEvent) => void>((f) => typeof f === 'function', 'must be a function').optional(),
  /** Open an existing `dir` that another process may hold, without its lock and without writing a byte; writes are `READ_ONLY`. */
  readOnly: z.boolean().default(false),
  /** With `readOnly`: keep reading the WAL as the writer appends to it. */
  follow: z.boolean().default(false),
  /** With `follow`: how often the WAL is looked at, ms. */
  followIntervalMs: z.number().int().min(1).max(3_600_000).default(100),
})
  .superRefine((o, ctx) => {
    if (o.readOnly && o.dir === undefined) ctx.addIssue({ code: 'custom', path: ['readOnly'], message: 'needs dir (a memory-only database has nothing to open read-only)' });
    if (o.readOnly && o.recovery === 'salvage') ctx.addIssue({ code: 'custom', path: ['recovery'], message: "'salvage' moves files: not with readOnly" });
    if (o.follow && !o.readOnly) ctx.addIssue({ code: 'custom', path: ['follow'], message: 'needs readOnly: true (a writer has the newest state already)' });
    for (const name of ['workers', 'checkpointWalBytes'] as const) {
      if (o[name] !== undefined && o.maintenance[name] !== undefined && o[name] !== o.maintenance[name]) {
        ctx.addIssue({ code: 'custom', path: ['maintenance', name], message: `contradicts the top-level ${name} (${o[name]}); give it once` });
      }
    }
  })
  // The two spellings of the pool size and the checkpoint trigger resolve to one value each.
  .transform((o) => ({
    ...o,
    workers: o.maintenance.workers ?? o.workers ?? DEFAULT_WORKERS,
    checkpointWalBytes: o.maintenance.checkpointWalBytes ?? o.checkpointWalBytes ?? DEFAULT_CHECKPOINT_WAL_BYTES,
  }));


/** What recovery reports as it opens a directory. */
export type RecoveryEvent =
  | { readonly type: 'progress'; readonly phase: 'checkpoint' | 'wal'; readonly file: string; readonly bytesDone: number; readonly bytesTotal: number }
  | { readonly type: 'truncated'; readonly file: string; readonly offset: number; readonly bytesDropped: number }
  | { readonly type: 'checkpoint-fallback'; readonly file: string; readonly reason: string }
  | { readonly type: 'salvaged'; readonly file: string; readonly movedTo: string; readonly reason: string };

export type PutOptionsParsed = z.output<typeof putOptionsSchema>;
export type ScanOptionsParsed = z.output<typeof scanOptionsSchema>;
export type BatchOpParsed = z.output<typeof batchOpSchema>;
export type TransactionOptionsParsed = z.output<typeof transactionOptionsSchema>;
export type OpenOptionsParsed = z.output<typeof openOptionsSchema>;
export type MaintenanceOptionsParsed = z.output<typeof maintenanceOptionsSchema>;
