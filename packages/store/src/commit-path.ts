import {
  ConflictError,
  InvalidValueError,
  LimitExceededError,
  MAX_COMMIT_BYTES,
  VersionMismatchError,
  type Clock,
  type CommitOp,
  type CommitRecord,
  type SyncMode,
  type Version,
} from '@epochdb/core';
import { CommitLog, type KeyChange } from './commit-log.js';
import type { AppliedChange, ApplyListener, CommitContext, CommitListener, CommitValidator, Committed, TransactionCheck } from './commit-types.js';
import type { Leases } from './leases.js';
import { expiryOf, type PendingWrite } from './pending-write.js';
import { recordSize } from './value-memory.js';
import { KEY_HEAP_BYTES, TreeWrites, type VersionChains } from './version-chains.js';
import type { VersionId, Versions } from './versions.js';
import { writeBytes } from './write-options.js';

/** What the commit path works on: the store's parts, its limits and its version counter. */
export interface CommitDeps {
  readonly versions: Versions;
  readonly chains: VersionChains;
  readonly leases: Leases;
  readonly clock: Clock;
  readonly limits: { readonly maxTransactionOps: number; readonly maxTransactionBytes: number; readonly maxMemoryBytes: number; readonly maxHeapBytes: number };
  /** The store's version counter, shared with it. */
  readonly state: { version: Version };
  /** Whether nothing older than the newest version can be read (superseded versions go at once). */
  readonly eager: () => boolean;
  /** The store's estimated heap bytes. */
  readonly heapBytes: () => number;
}

/**
 * The commit path: every write of the store (puts, batches, transactions,
 * the TTL cleaner's expiries) commits here, atomically, in one synchronous
 * step: everything that can fail is checked before the first mutation, then
 * the version is taken, the records appended, the trees updated and the
 * record handed to the listeners (the WAL among them) in version order.
 */
export class CommitPath {
  readonly #deps: CommitDeps;
  readonly listeners = new Set<CommitListener>();
  readonly applyListeners = new Set<ApplyListener>();
  readonly validators = new Set<CommitValidator>();
  /** Recent commits for serializable transactions' range checks. */
  readonly commitLog = new CommitLog();
  /** The primary-tree writes of the commit being made (reused: emptied by every commit). */
  readonly #tree = new TreeWrites();
  /** Runs first in every commit; throwing refuses it (a failed database turns read-only). */
  gate: (() => void) | undefined;

  constructor(deps: CommitDeps) {
    this.#deps = deps;
  }

  /**
   * Commits `writes` atomically: checks conflicts, `ifVersion`s and limits
   * (throwing before any mutation), takes the next version, applies
   * everything, and hands the record to the listeners.
   */
  commit(writes: readonly PendingWrite[], check: TransactionCheck | undefined, sync: SyncMode | undefined): Committed {
    this.gate?.();
    const now = this.#deps.clock.now();
    if (check !== undefined) this.#checkConflicts(writes, check);
    for (const write of writes) {
      if (write.ifVersion === undefined) continue;
      const expected = write.ifVersion ?? 0;
      const actual = this.#liveVersion(write.key, now);
      if (actual !== expected) throw new VersionMismatchError(write.key, expected, actual);
    }
    const last = new Map<string, PendingWrite>();
    for (const write of writes) last.set(write.key, write);
    this.#checkLimits(writes, last);
    if (this.validators.size > 0) {
      const final = [...last.values()];
      for (const validator of this.validators) validator(final, now);
    }
    this.#reserve(last.values());

    const versions = this.#deps.versions;
    const chains = this.#deps.chains;
    const version = this.#deps.state.version + 1;
    const eager = this.#deps.eager();
    const logging = this.#deps.leases.serializableStarts.size > 0;
    const changes: KeyChange[] = [];
    const ops: CommitOp[] = [];
    const applied: AppliedChange[] | undefined = this.applyListeners.size > 0 ? [] : undefined;
    const tree = this.#tree;
    const index = chains.heads;
    try {
      for (const write of last.values()) {
        // The current head, looked up just before `apply` sets the new one (its slot is then still in cache).
        const before = index.get(write.key);
        let id: VersionId;
        let op: CommitOp;
        if (write.kind === 'put') {
          const prepared = write.prepared!;
          const expiresAt = expiryOf(write, now);
          id = versions.value(version, prepared.encoded, prepared.copyOnRead, write.run, write.type, expiresAt);
          op = putOp(write, prepared.encoded, expiresAt);
        } else {
          if (write.kind === 'expire' && (before === undefined || versions.version(before) !== write.seenVersion || !versions.isExpiredAt(before, now))) continue;
          id = versions.tombstone(version, write.kind === 'expire');
          op = { kind: write.kind, key: write.key };
        }
        // Read what the old head contributes before `apply` may free it.
        const beforeTags = before === undefined || versions.isTombstone(before) ? undefined : versions.tagsOf(before);
        const beforeExpiry = logging && before !== undefined ? versions.expiresAt(before) : undefined;
        // `before` is the current head: no second walk down the tree.
        if (!chains.apply(write.key, id, eager, before, tree)) continue;
        ops.push(Object.freeze(op));
        if (logging) {
          changes.push({ key: write.key, before: before === undefined ? undefined : { ...beforeTags, expiresAt: beforeExpiry }, after: write.kind === 'put' ? tagsOf(write) : {}, expiry: write.kind === 'expire' });
        }
        if (applied !== undefined) {
          // The new entry's value is decoded from value memory (and cached for the next reader); `before`
          // contributes only its tags, so nothing can fail here halfway through the commit.
          applied.push({ key: write.key, kind: write.kind, before: beforeTags, after: write.kind === 'put' ? versions.entry(write.key, id) : undefined });
        }
      }
    } finally {
      // The tree takes the commit's keys in key order (nothing else reads it until the commit returns).
      chains.writeTree(tree);
    }
    this.#deps.state.version = version;
    if (logging) this.commitLog.append(version, changes);
    // Structures the values use that no record carries yet go into this one: a structure is durable no later than its first value.
    const structures = versions.codec.takePending();
    const record: CommitRecord = Object.freeze({ version, time: now, ops: Object.freeze(ops), ...(structures === undefined ? {} : { structures }) });
    const durable = this.#notify(record, { sync });
    if (applied !== undefined && applied.length > 0) {
      for (const listener of this.applyListeners) listener(version, now, applied);
    }
    return { version, record, durable };
  }


  /**
   * Allocates the value memory the commit's records need before anything
   * changes: a machine out of memory refuses the commit whole
   * (`LIMIT_EXCEEDED`), never half-applies it.
   */
  #reserve(writes: Iterable<PendingWrite>): void {
    const sizes: number[] = [];
    for (const write of writes) {
      sizes.push(write.kind === 'put' ? putRecordSize(write) : recordSize(0));
    }
    try {
      this.#deps.versions.memory.reserve(sizes);
    } catch (cause) {
      throw new LimitExceededError(`write refused: value memory could not grow for this commit (${(cause as Error).message}); nothing was changed (maxMemoryBytes)`, 'maxMemoryBytes', { cause });
    }
  }

  /** Refuses a commit past `maxTransactionOps`, `maxTransactionBytes`, the commit size limit or the memory budget. */
  #checkLimits(writes: readonly PendingWrite[], last: ReadonlyMap<string, PendingWrite>): void {
    let bytes = 0;
    for (const write of last.values()) bytes += writeBytes(write);
    if (bytes > MAX_COMMIT_BYTES) {
      throw new InvalidValueError(`commit of ${last.size} operations is about ${bytes} bytes encoded, over the limit of ${MAX_COMMIT_BYTES} bytes for one commit`);
    }
    // The TTL cleaner's own commits (only expiries) are not held to the caller-facing limits.
    if (writes.every((w) => w.kind === 'expire')) return;
    if (last.size > this.#deps.limits.maxTransactionOps) {
      throw new LimitExceededError(`commit of ${last.size} operations is over the limit of ${this.#deps.limits.maxTransactionOps} (maxTransactionOps); split it`, 'maxTransactionOps');
    }
    if (bytes > this.#deps.limits.maxTransactionBytes) {
      throw new LimitExceededError(`commit of ${last.size} operations is about ${bytes} bytes encoded, over the limit of ${this.#deps.limits.maxTransactionBytes} bytes (maxTransactionBytes); split it`, 'maxTransactionBytes');
    }
    if (this.#deps.limits.maxMemoryBytes > 0 || this.#deps.limits.maxHeapBytes > 0) this.#checkMemoryBudget(last);
  }

  /**
   * Refuses a commit whose puts would grow the stored data past
   * `maxMemoryBytes` (live value memory exactly, plus the heap estimate) or the
   * heap estimate past `maxHeapBytes`. Net growth: a put that replaces a
   * version nothing else needs frees that version. Deletes and expiry are never refused.
   */
  #checkMemoryBudget(writes: ReadonlyMap<string, PendingWrite>): void {
    // First as if every put were a new key freeing nothing: when even that fits, so does the exact
    // growth (never more), and no key's head needs looking up.
    let growth = 0;
    let heapGrowth = 0;
    for (const write of writes.values()) {
      if (write.kind !== 'put') continue;
      growth += putRecordSize(write);
      heapGrowth += KEY_HEAP_BYTES + write.key.length;
    }
    if (!this.#overBudget(growth, heapGrowth)) return;
    const eager = this.#deps.eager();
    const index = this.#deps.chains.heads;
    growth = 0;
    heapGrowth = 0;
    for (const write of writes.values()) {
      if (write.kind !== 'put') continue;
      const before = index.get(write.key);
      growth += putRecordSize(write);
      if (before === undefined) heapGrowth += KEY_HEAP_BYTES + write.key.length;
      else if (eager) growth -= this.#deps.versions.recordBytes(before);
    }
    this.#overBudget(growth, heapGrowth, true);
  }

  /**
   * Whether growing value memory by `growth` and the heap estimate by
   * `heapGrowth` would pass `maxMemoryBytes` or `maxHeapBytes`; `refuse`: throw
   * the {@link LimitExceededError} that says which instead.
   */
  #overBudget(growth: number, heapGrowth: number, refuse = false): boolean {
    if (growth + heapGrowth <= 0) return false;
    const heap = this.#deps.heapBytes();
    const used = this.#deps.versions.memory.stats().valueLiveBytes + heap;
    if (this.#deps.limits.maxMemoryBytes > 0 && used + growth + heapGrowth > this.#deps.limits.maxMemoryBytes) {
      if (!refuse) return true;
      throw new LimitExceededError(
        `write refused: the database holds ${used} bytes (value memory plus the estimated heap) and this commit would add about ${growth + heapGrowth}, over the memory budget of ${this.#deps.limits.maxMemoryBytes} bytes (maxMemoryBytes); delete data or raise the budget`,
        'maxMemoryBytes',
      );
    }
    if (this.#deps.limits.maxHeapBytes > 0 && heapGrowth > 0 && heap + heapGrowth > this.#deps.limits.maxHeapBytes) {
      if (!refuse) return true;
      throw new LimitExceededError(
        `write refused: keys and indexes take about ${heap} bytes of the V8 heap and this commit would add about ${heapGrowth}, over the heap ceiling of ${this.#deps.limits.maxHeapBytes} bytes derived from V8's heap limit (part of maxMemoryBytes); delete data or start node with a larger --max-old-space-size`,
        'maxMemoryBytes',
      );
    }
    return false;
  }

  #checkConflicts(writes: readonly PendingWrite[], check: TransactionCheck): void {
    const changed = (key: string): boolean => this.#deps.versions.changedSince(this.#deps.chains.heads.get(key), check.start, check.now);
    for (const write of writes) {
      if (changed(write.key)) {
        throw new ConflictError(`transaction conflict: key ${JSON.stringify(write.key)} was written by another commit after this transaction began (version ${check.start})`, write.key);
      }
    }
    if (check.isolation !== 'serializable') return;
    for (const key of check.readKeys ?? []) {
      if (changed(key)) {
        throw new ConflictError(`serialization conflict: key ${JSON.stringify(key)}, read by this transaction, was changed by another commit after it began (version ${check.start})`, key);
      }
    }
    const overlap = check.ranges === undefined ? undefined : this.commitLog.findOverlap(check.start, check.now, check.ranges);
    if (overlap !== undefined) {
      throw new ConflictError(`serialization conflict: key ${JSON.stringify(overlap)}, in a range this transaction scanned, was changed by another commit after it began (version ${check.start})`, overlap);
    }
  }

  #notify(record: CommitRecord, context: CommitContext): Promise<void> | undefined {
    let waits: Promise<void>[] | undefined;
    for (const listener of this.listeners) {
      const result = listener(record, context);
      if (result !== undefined) (waits ??= []).push(result);
    }
    if (waits === undefined) return undefined;
    return waits.length === 1 ? waits[0] : Promise.all(waits).then(() => undefined);
  }

  #liveVersion(key: string, now: number): Version {
    const id = this.#deps.chains.heads.get(key);
    return id !== undefined && this.#deps.versions.isVisibleAt(id, now) ? this.#deps.versions.version(id) : 0;
  }
}

/** Bytes of value memory the record of a put takes. */
function putRecordSize(write: PendingWrite): number {
  return recordSize(write.prepared!.encoded.byteLength, { expiry: write.ttl !== undefined || write.expiresAt !== undefined, tags: write.run !== undefined || write.type !== undefined });
}

/**
 * The record op of a put: `kind`, `key`, `encoded`, then `run`, `type` and
 * `expiresAt` where present (in that order: the WAL encodes the object as it is).
 */
function putOp(write: PendingWrite, encoded: Uint8Array, expiresAt: number | undefined): CommitOp {
  if (write.run === undefined && write.type === undefined) {
    return expiresAt === undefined ? { kind: 'put', key: write.key, encoded } : { kind: 'put', key: write.key, encoded, expiresAt };
  }
  return { kind: 'put', key: write.key, encoded, ...tagsOf(write), ...(expiresAt === undefined ? {} : { expiresAt }) };
}

/** The run and type tags of a write (absent ones left out). */
function tagsOf(write: PendingWrite): { run?: string; type?: string } {
  const tags: { run?: string; type?: string } = {};
  if (write.run !== undefined) tags.run = write.run;
  if (write.type !== undefined) tags.type = write.type;
  return tags;
}
