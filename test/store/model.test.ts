/**
 * Model-based property test: the backbone of the store's test suite.
 *
 * fast-check generates a list of plain command descriptors (writes, batches,
 * clock advances, snapshots, transactions, TTL cleaning, GC) that run in order
 * against the real database and against a deliberately naive reference model
 * (plain Maps, one full copy of the state per committed version). After every
 * command, every observable thing is compared with the model: each key of a
 * small alphabet through get/has/getEntry, full and random-option scans,
 * byRun/byType for every tag, the version counters, the stats, and every open
 * snapshot. Descriptors are data (no closures), so counterexamples print
 * readably and shrink well; anything that depends on the state (an
 * `ifVersion` that is "right", which transaction to use) is resolved against
 * the model when the command runs.
 *
 * Variants: the public `Database` from `open()` (retainVersions 0 and 5; no
 * background maintenance, so nothing is reclaimed), the same with a
 * transaction-heavy command mix (conflicts, serializable validation), and the
 * `MvccStore` itself with `reclaimExpired` / `collectGarbage` as commands and
 * `checkInvariants()` after every command.
 *
 * Model rules worth knowing: every successful put, delete (even of a missing
 * key), batch and non-empty transaction commit takes exactly one version;
 * failed ones take none; a reclaimExpired pass takes one when it reclaims
 * anything. Expired-but-unreclaimed keys are invisible to reads but still count
 * in `stats().keys` and still make `ifVersion` see "absent" (version 0).
 * Returned entries are frozen; returned values deep-equal what was written and
 * are deep-frozen or private copies (the caller can never change the store;
 * writers' objects are copied too, both checked by mutating them).
 *
 * Bugs this test found in packages/ get a named `regression:` test at the end.
 * `MODEL_RUNS=5000 npx vitest run test/store/model.test.ts` searches deeper.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MvccStore, type StoreStats } from '@epochdb/store';
import {
  ConflictError,
  ManualClock,
  SnapshotReleasedError,
  TransactionFinishedError,
  UNCOMMITTED_VERSION,
  VersionMismatchError,
  VersionUnavailableError,
  open,
  type BatchOp,
  type DeleteOptions,
  type Entry,
  type Isolation,
  type PutOptions,
  type ReadApi,
  type ScanOptions,
  type Snapshot,
  type Transaction,
} from 'epochdb';

// ============================================================== alphabets

/**
 * Few keys so commands collide often. They cover prefixes of each other
 * ('a'/'ab', 'b'/'ba'), U+0000 inside a key (the index separator) and U+FFFF
 * (where `prefixEnd` has no successor).
 */
const KEYS = ['a', 'ab', 'b', 'ba', 'c', 'k\u0000x', '\uffff'];
/** Tags where one is a prefix of the other, to catch index partitions bleeding into each other. */
const RUNS = ['r', 'r2'];
const TYPES = ['t', 'tt'];
const PREFIXES = ['', 'a', 'b', 'ba', 'k', 'k\u0000', '\uffff', 'z'];
const BOUNDS = ['', 'a', 'ab', 'b', 'b\uffff', 'ba', 'bb', 'k', 'k\u0000x', 'k\u0001', '\uffff', '\uffff\uffff'];
const START_TIME = 1_000;

// ============================================================== reference model

/** One committed version of one key, as the model keeps it. */
interface Stored {
  readonly value: unknown;
  readonly version: number;
  readonly run?: string;
  readonly type?: string;
  readonly expiresAt?: number;
}
type View = ReadonlyMap<string, Stored>;

/** A write after its descriptor was resolved against the model (absolute `ifVersion`, absolute `expiresAt`). */
type ModelWrite =
  | {
      readonly kind: 'put';
      readonly key: string;
      readonly value: unknown;
      readonly run: string | undefined;
      readonly type: string | undefined;
      readonly ttl: number | undefined;
      readonly expiresAt: number | undefined;
      readonly ifVersion: number | null | undefined;
    }
  | { readonly kind: 'delete'; readonly key: string; readonly ifVersion: number | null | undefined };

/** What one commit did to one key: what conflict checks look at. */
interface Change {
  readonly version: number;
  readonly key: string;
  readonly before: Stored | undefined;
  readonly after: Stored | undefined;
  /** A delete made by the TTL cleaner. */
  readonly expire: boolean;
}

/**
 * A change a transaction started at time `now` cannot have seen: the TTL
 * cleaner deleting a value that had already expired by then. Such changes
 * never make a transaction conflict.
 */
function invisibleTo(now: number, c: Change): boolean {
  return c.expire && c.before?.expiresAt !== undefined && c.before.expiresAt <= now;
}

interface ModelSnapshot {
  readonly real: Snapshot;
  readonly version: number;
  /** Clock time at creation: TTL is judged against it forever. */
  readonly now: number;
}

interface ModelTx {
  readonly real: Transaction;
  readonly start: number;
  readonly now: number;
  readonly isolation: Isolation;
  /** Buffered writes, in the order the transaction first wrote each key (as a JS Map keeps them). */
  readonly writes: Map<string, ModelWrite>;
  /** Keys read from the snapshot (not from own writes): validated under 'serializable'. */
  readonly readKeys: Set<string>;
  readonly ranges: { readonly options: ScanOptions; readonly index: IndexRead | undefined }[];
}

interface IndexRead {
  readonly name: 'run' | 'type';
  readonly tag: string;
}

function makeStored(value: unknown, version: number, run: string | undefined, type: string | undefined, expiresAt: number | undefined): Stored {
  const s: { -readonly [P in keyof Stored]: Stored[P] } = { value, version };
  if (run !== undefined) s.run = run;
  if (type !== undefined) s.type = type;
  if (expiresAt !== undefined) s.expiresAt = expiresAt;
  return s;
}

/** The one visibility rule: not expired at `now` (deleted keys are simply absent from the model). */
function visibleAt(s: Stored, now: number): boolean {
  return s.expiresAt === undefined || s.expiresAt > now;
}

function filterVisible(state: View, now: number): Map<string, Stored> {
  return new Map([...state].filter(([, s]) => visibleAt(s, now)));
}

/** The Entry a reader must return for a stored version (no `undefined`-valued fields). */
function entryOf(key: string, s: Stored): Entry {
  return { key, ...s };
}

/**
 * A read entry as a plain object with only its defined fields, so it can be
 * compared with the model's whatever class or shape the store uses for
 * entries (`run: undefined` and the like are allowed). Its value goes through
 * {@link handOut}.
 */
function plain(e: Entry | undefined): Entry | undefined {
  if (e === undefined) return undefined;
  return entryOf(e.key, makeStored(handOut(e.value), e.version, e.run, e.type, e.expiresAt));
}

/** Model's own range test (independent of KeyRange): prefix and bounds, ignoring limit. */
function inRange(key: string, o: ScanOptions): boolean {
  if (o.prefix !== undefined && !key.startsWith(o.prefix)) return false;
  if (o.gt !== undefined && !(key > o.gt)) return false;
  if (o.gte !== undefined && !(key >= o.gte)) return false;
  if (o.lt !== undefined && !(key < o.lt)) return false;
  if (o.lte !== undefined && !(key <= o.lte)) return false;
  return true;
}

/** JS string order = UTF-16 code unit order. */
const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** What scan/byRun/byType must return from a visible state. */
function expectedScan(view: View, options: ScanOptions, index?: IndexRead): Entry[] {
  let keys = [...view.keys()]
    .filter((k) => inRange(k, options))
    .filter((k) => index === undefined || view.get(k)![index.name] === index.tag)
    .sort(byKey);
  if (options.reverse === true) keys.reverse();
  if (options.limit !== undefined) keys = keys.slice(0, options.limit);
  return keys.map((k) => entryOf(k, view.get(k)!));
}

class Model {
  version = 0;
  /** Newest state: every key whose newest version is a value, expired or not. */
  readonly current = new Map<string, Stored>();
  /** `history[v]` is the full state right after version `v` committed. */
  readonly history: View[] = [new Map()];
  /** Every put, effective delete and expire, in commit order. */
  readonly changes: Change[] = [];
  readonly snapshots: ModelSnapshot[] = [];
  readonly txs: ModelTx[] = [];

  constructor(readonly retainVersions: number) {}

  liveVersion(key: string, now: number): number {
    const s = this.current.get(key);
    return s !== undefined && visibleAt(s, now) ? s.version : 0;
  }

  liveView(now: number): View {
    return filterVisible(this.current, now);
  }

  snapshotView(snap: ModelSnapshot): View {
    return filterVisible(this.history[snap.version]!, snap.now);
  }

  /** A transaction sees its start state (judged at its start time) overlaid with its own writes. */
  txView(tx: ModelTx): View {
    const view = filterVisible(this.history[tx.start]!, tx.now);
    for (const w of tx.writes.values()) {
      if (w.kind === 'delete') {
        view.delete(w.key);
        continue;
      }
      const expiresAt = w.ttl !== undefined ? tx.now + w.ttl : w.expiresAt;
      if (expiresAt !== undefined && expiresAt <= tx.now) view.delete(w.key);
      else view.set(w.key, makeStored(w.value, UNCOMMITTED_VERSION, w.run, w.type, expiresAt));
    }
    return view;
  }

  /** The GC horizon: the oldest pinned version (snapshots and transactions) or the retention window. */
  oldestVersion(): number {
    const pins = [...this.snapshots.map((s) => s.version), ...this.txs.map((t) => t.start)];
    const retained = this.version - this.retainVersions;
    return Math.max(0, pins.length === 0 ? retained : Math.min(Math.min(...pins), retained));
  }

  /** The first failing `ifVersion`, all checked against the state before the commit. */
  firstMismatch(writes: readonly ModelWrite[], now: number): { key: string; expected: number; actual: number } | undefined {
    for (const w of writes) {
      if (w.ifVersion === undefined) continue;
      const expected = w.ifVersion ?? 0;
      const actual = this.liveVersion(w.key, now);
      if (expected !== actual) return { key: w.key, expected, actual };
    }
    return undefined;
  }

  /**
   * The keys that make `tx` lose, or undefined. Written keys and read keys
   * report the first one in order; for range reads any overlapping key may be
   * reported, so all candidates are returned. Only changes committed after the
   * transaction began and visible to it count (see {@link invisibleTo}).
   */
  conflict(tx: ModelTx): string[] | undefined {
    const since = this.changes.filter((c) => c.version > tx.start && !invisibleTo(tx.now, c));
    const changed = (key: string): boolean => since.some((c) => c.key === key);
    for (const key of tx.writes.keys()) if (changed(key)) return [key];
    if (tx.isolation !== 'serializable') return undefined;
    for (const key of tx.readKeys) if (changed(key)) return [key];
    const hits = since
      .filter((c) =>
        tx.ranges.some(
          (r) => inRange(c.key, r.options) && (r.index === undefined || c.before?.[r.index.name] === r.index.tag || c.after?.[r.index.name] === r.index.tag),
        ),
      )
      .map((c) => c.key);
    return hits.length > 0 ? hits : undefined;
  }

  /**
   * Applies validated writes as one commit (for a key given twice the last
   * write wins); returns the new version. `expire`: the TTL cleaner's deletes.
   */
  commit(writes: readonly ModelWrite[], now: number, expire = false): number {
    const version = ++this.version;
    const last = new Map<string, ModelWrite>();
    for (const w of writes) last.set(w.key, w);
    for (const w of last.values()) {
      const before = this.current.get(w.key);
      let after: Stored | undefined;
      if (w.kind === 'put') {
        after = makeStored(w.value, version, w.run, w.type, w.ttl !== undefined ? now + w.ttl : w.expiresAt);
        this.current.set(w.key, after);
      } else {
        // Deleting a missing key changes nothing (the commit still takes its version).
        if (before === undefined) continue;
        this.current.delete(w.key);
      }
      this.changes.push({ version, key: w.key, before, after, expire });
    }
    this.history.push(new Map(this.current));
    return version;
  }

  /**
   * How many versions a full GC pass must leave in memory: for each key, every
   * version above the horizon plus the newest at or below it, except a
   * deletion with nothing newer. A deletion that is the newest at or below the
   * horizon but has newer versions may or may not still be held (deletions
   * committed while nothing was pinned are dropped at once), hence a range.
   */
  storedVersionsAfterGc(): [number, number] {
    const horizon = this.oldestVersion();
    const byKey = new Map<string, Change[]>();
    for (const c of this.changes) byKey.set(c.key, [...(byKey.get(c.key) ?? []), c]);
    let min = 0;
    let max = 0;
    for (const list of byKey.values()) {
      const above = list.filter((c) => c.version > horizon).length;
      const newestAtOrBelow = list.filter((c) => c.version <= horizon).at(-1);
      min += above;
      max += above;
      if (newestAtOrBelow === undefined) continue;
      if (newestAtOrBelow.after !== undefined) {
        min++;
        max++;
      } else if (above > 0) {
        max++;
      }
    }
    return [min, max];
  }

  /** Keys whose newest version has expired at `now`: what the TTL cleaner must reclaim. */
  expiredKeys(now: number): string[] {
    return [...this.current].filter(([, s]) => s.expiresAt !== undefined && s.expiresAt <= now).map(([k]) => k);
  }
}

// ============================================================== command descriptors

/** How to choose `ifVersion`: the key's live version (right), 0/null (right iff absent), or live + n (always wrong). */
type IfVersionSpec = 'current' | 'zero' | 'null' | 'off-by-1' | 'off-by-2' | undefined;
/** A relative TTL, or an absolute expiry given relative to the clock when the command runs. */
type ExpirySpec = { readonly ttl: number } | { readonly expiresIn: number } | undefined;

interface PutSpec {
  readonly key: string;
  readonly value: unknown;
  readonly run: string | undefined;
  readonly type: string | undefined;
  readonly expiry: ExpirySpec;
  readonly ifVersion: IfVersionSpec;
}
interface DeleteSpec {
  readonly key: string;
  readonly ifVersion: IfVersionSpec;
}
type BatchSpec = ({ readonly op: 'put' } & PutSpec) | ({ readonly op: 'delete' } & DeleteSpec);
interface ReadSpec {
  readonly index: IndexRead | undefined;
  readonly options: ScanOptions;
}

/** `which` picks an open snapshot/transaction modulo how many are open (no-op when none is). */
type Cmd =
  | { readonly kind: 'put'; readonly write: PutSpec; readonly scanAcross: boolean }
  | { readonly kind: 'delete'; readonly write: DeleteSpec; readonly scanAcross: boolean }
  | { readonly kind: 'batch'; readonly ops: readonly BatchSpec[]; readonly scanAcross: boolean }
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'snapshot' }
  | { readonly kind: 'snapshotAt'; readonly back: number }
  | { readonly kind: 'release'; readonly which: number }
  | { readonly kind: 'begin'; readonly isolation: Isolation | undefined }
  | { readonly kind: 'txPut'; readonly which: number; readonly write: PutSpec }
  | { readonly kind: 'txDelete'; readonly which: number; readonly write: DeleteSpec }
  | { readonly kind: 'txRead'; readonly which: number; readonly key: string }
  | { readonly kind: 'txScan'; readonly which: number; readonly read: ReadSpec }
  | { readonly kind: 'commit'; readonly which: number }
  | { readonly kind: 'abort'; readonly which: number }
  | { readonly kind: 'reclaimExpired' }
  | { readonly kind: 'collectGarbage' };

/** One step: a command, then a full comparison that includes one scan with `probe` options. */
interface Step {
  readonly cmd: Cmd;
  readonly probe: ScanOptions;
}

// ============================================================== arbitraries

/** Small JSON-ish values (plus -0, NaN, ±Infinity and large integers, which the codec promises to keep). */
const valueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; leaf: unknown; array: unknown[]; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('array'), tie('object')),
  leaf: fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -1000, max: 1000 }),
    fc.double(),
    fc.constantFrom(2 ** 32, 2 ** 53 - 1, -(2 ** 31) - 1, -0),
    fc.string({ maxLength: 5 }),
    fc.string({ unit: 'grapheme', maxLength: 3 }),
  ),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.dictionary(fc.constantFrom('x', 'y', 'z', 'key'), tie('value'), { maxKeys: 3, noNullPrototype: true }),
})).value;

const keyArb = fc.constantFrom(...KEYS);
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 2 });

const ifVersionArb: fc.Arbitrary<IfVersionSpec> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 5 },
  { arbitrary: fc.constantFrom<IfVersionSpec>('current', 'zero', 'null', 'off-by-1', 'off-by-2'), weight: 3 },
);

const expiryArb: fc.Arbitrary<ExpirySpec> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 4 },
  // Fractional values probe the TTL index, which files expiries under whole milliseconds.
  { arbitrary: fc.record({ ttl: fc.constantFrom(1, 5, 10, 30, 0.5, 2.5) }), weight: 2 },
  { arbitrary: fc.record({ expiresIn: fc.constantFrom(-5, 0, 1, 7, 2.5, 30) }), weight: 1 },
);

const putSpecArb: fc.Arbitrary<PutSpec> = fc.record({
  key: keyArb,
  value: valueArb,
  run: maybe(fc.constantFrom(...RUNS)),
  type: maybe(fc.constantFrom(...TYPES)),
  expiry: expiryArb,
  ifVersion: ifVersionArb,
});
const deleteSpecArb: fc.Arbitrary<DeleteSpec> = fc.record({ key: keyArb, ifVersion: ifVersionArb });

const scanOptionsArb: fc.Arbitrary<ScanOptions> = fc
  .record({
    prefix: maybe(fc.constantFrom(...PREFIXES)),
    low: maybe(fc.tuple(fc.constantFrom('gt', 'gte'), fc.constantFrom(...BOUNDS))),
    high: maybe(fc.tuple(fc.constantFrom('lt', 'lte'), fc.constantFrom(...BOUNDS))),
    reverse: maybe(fc.boolean()),
    limit: maybe(fc.integer({ min: 0, max: 4 })),
  })
  .map(({ prefix, low, high, reverse, limit }) => {
    // Only defined fields, so counterexamples print short.
    const o: { -readonly [P in keyof ScanOptions]: ScanOptions[P] } = {};
    if (prefix !== undefined) o.prefix = prefix;
    if (low !== undefined) o[low[0] as 'gt' | 'gte'] = low[1];
    if (high !== undefined) o[high[0] as 'lt' | 'lte'] = high[1];
    if (reverse !== undefined) o.reverse = reverse;
    if (limit !== undefined) o.limit = limit;
    return o as ScanOptions;
  });

const readSpecArb: fc.Arbitrary<ReadSpec> = fc.record({
  index: fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 2 },
    { arbitrary: fc.constantFrom(...RUNS).map((tag): IndexRead => ({ name: 'run', tag })), weight: 1 },
    { arbitrary: fc.constantFrom(...TYPES).map((tag): IndexRead => ({ name: 'type', tag })), weight: 1 },
  ),
  // Whole-partition scans half the time: wide ranges make serializable range conflicts common.
  options: fc.oneof(fc.constant({}), scanOptionsArb),
});

const whichArb = fc.nat(3);

/** How often each command kind is generated; kinds left out are never generated. */
type Mix = Partial<Record<Cmd['kind'], number>>;

/** Everything but maintenance: for the Database, which exposes no cleaner or GC. */
const DATABASE_MIX: Mix = {
  put: 6, delete: 3, batch: 3, advance: 3, snapshot: 2, snapshotAt: 2, release: 2,
  begin: 3, txPut: 4, txDelete: 1, txRead: 3, txScan: 2, commit: 3, abort: 1,
};
/** The same plus the TTL cleaner and version GC as commands. */
const STORE_MIX: Mix = { ...DATABASE_MIX, reclaimExpired: 2, collectGarbage: 2 };
/**
 * Transaction-heavy: several transactions interleaved with plain writes, so
 * conflicts (written keys, read keys, scanned ranges and index partitions,
 * with the commit log trimmed as serializable transactions finish) are common.
 */
const TRANSACTION_MIX: Mix = {
  put: 5, delete: 2, batch: 2, advance: 1,
  begin: 5, txPut: 6, txDelete: 1, txRead: 3, txScan: 4, commit: 3, abort: 1,
};

function cmdArb(mix: Mix): fc.Arbitrary<Cmd> {
  const arbitraries: { [K in Cmd['kind']]: fc.Arbitrary<Extract<Cmd, { kind: K }>> } = {
    put: fc.record({ kind: fc.constant('put'), write: putSpecArb, scanAcross: fc.boolean() }),
    delete: fc.record({ kind: fc.constant('delete'), write: deleteSpecArb, scanAcross: fc.boolean() }),
    batch: fc.record({
      kind: fc.constant('batch'),
      ops: fc.array(
        fc.oneof(
          { arbitrary: putSpecArb.map((p): BatchSpec => ({ op: 'put', ...p })), weight: 2 },
          { arbitrary: deleteSpecArb.map((d): BatchSpec => ({ op: 'delete', ...d })), weight: 1 },
        ),
        { maxLength: 4 },
      ),
      scanAcross: fc.boolean(),
    }),
    advance: fc.record({ kind: fc.constant('advance'), ms: fc.constantFrom(0, 1, 2, 3, 5, 10, 30) }),
    snapshot: fc.constant({ kind: 'snapshot' }),
    snapshotAt: fc.record({ kind: fc.constant('snapshotAt'), back: fc.integer({ min: -1, max: 8 }) }),
    release: fc.record({ kind: fc.constant('release'), which: whichArb }),
    // Serializable three times in five: it has the most to validate at commit.
    begin: fc.record({ kind: fc.constant('begin'), isolation: fc.constantFrom<Isolation | undefined>(undefined, 'snapshot', 'serializable', 'serializable', 'serializable') }),
    txPut: fc.record({ kind: fc.constant('txPut'), which: whichArb, write: putSpecArb }),
    txDelete: fc.record({ kind: fc.constant('txDelete'), which: whichArb, write: deleteSpecArb }),
    txRead: fc.record({ kind: fc.constant('txRead'), which: whichArb, key: keyArb }),
    txScan: fc.record({ kind: fc.constant('txScan'), which: whichArb, read: readSpecArb }),
    commit: fc.record({ kind: fc.constant('commit'), which: whichArb }),
    abort: fc.record({ kind: fc.constant('abort'), which: whichArb }),
    reclaimExpired: fc.constant({ kind: 'reclaimExpired' }),
    collectGarbage: fc.constant({ kind: 'collectGarbage' }),
  };
  const weighted = Object.entries(mix).map(([kind, weight]): fc.WeightedArbitrary<Cmd> => ({ weight, arbitrary: arbitraries[kind as Cmd['kind']] }));
  return fc.oneof(...weighted);
}

function stepsArb(mix: Mix, maxLength = 40): fc.Arbitrary<Step[]> {
  return fc.array(fc.record({ cmd: cmdArb(mix), probe: scanOptionsArb }), { maxLength, size: 'max' });
}

// ============================================================== the system under test

/** What the Database and the MvccStore have in common. */
interface Target extends ReadApi {
  readonly oldestVersion: number;
  put(key: string, value: unknown, options?: PutOptions): Promise<number>;
  delete(key: string, options?: DeleteOptions): Promise<number>;
  batch(ops: readonly BatchOp[]): Promise<number>;
  snapshot(): Snapshot;
  snapshotAt(version: number): Snapshot;
  begin(options?: { isolation?: Isolation }): Transaction;
  stats(): StoreStats;
}

interface Harness {
  readonly clock: ManualClock;
  readonly target: Target;
  /** Only in the store variant: maintenance commands and invariant checks. */
  readonly store: MvccStore | undefined;
  readonly retainVersions: number;
  close(): Promise<void> | void;
}

async function openDatabaseHarness(retainVersions: number): Promise<Harness> {
  const clock = new ManualClock(START_TIME);
  const db = await open({ clock, maintenance: { intervalMs: 0 }, ...(retainVersions > 0 ? { retainVersions } : {}) });
  return { clock, target: db, store: undefined, retainVersions, close: () => db.close() };
}

function openStoreHarness(retainVersions: number): Harness {
  const clock = new ManualClock(START_TIME);
  const store = new MvccStore({ clock, retainVersions });
  return { clock, target: store, store, retainVersions, close: () => store.close() };
}

// ============================================================== checks

/** Whether `value` and everything inside it is frozen (primitives count as frozen). */
function isDeepFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeepFrozen);
}

/**
 * A value a reader returned, as the check should see it. A returned value
 * must not let the caller change the store: it is deep-frozen, or a private
 * copy (the store decodes some values afresh on every read). A value that is
 * not deep-frozen is copied for the comparison and then scribbled on, so if
 * the store handed out something it shares, every later read shows it.
 */
function handOut(value: unknown): unknown {
  if (isDeepFrozen(value)) return value;
  const copy = structuredClone(value);
  scribble(value);
  return copy;
}

/** Labels of the entries a reader returned that are not frozen; must stay empty. */
function unfrozen(entries: readonly (Entry | undefined)[], label: string): string[] {
  return entries.filter((e) => e !== undefined && !Object.isFrozen(e)).map((e) => `${label} ${JSON.stringify(e!.key)}`);
}

/** Everything a side-effect-free reader shows, in one comparable object (one diff on failure). */
interface Observation {
  readonly keys: Record<string, { readonly getEntry: Entry | undefined; readonly get: unknown; readonly has: boolean }>;
  readonly scans: Record<string, Entry[]>;
  readonly notFrozen: string[];
}

/** The reads every check makes: scan with and without the probe options, and byRun/byType for every tag. */
function scanCalls(probe: ScanOptions): { name: string; index: IndexRead | undefined; options: ScanOptions }[] {
  const calls: { name: string; index: IndexRead | undefined; options: ScanOptions }[] = [];
  const indexes: (IndexRead | undefined)[] = [undefined, ...RUNS.map((tag): IndexRead => ({ name: 'run', tag })), ...TYPES.map((tag): IndexRead => ({ name: 'type', tag }))];
  for (const index of indexes) {
    for (const options of [{}, probe]) {
      const call = index === undefined ? 'scan' : `${index.name === 'run' ? 'byRun' : 'byType'}(${index.tag})`;
      calls.push({ name: `${call} ${JSON.stringify(options)}`, index, options });
    }
  }
  return calls;
}

function readScan(reader: ReadApi, index: IndexRead | undefined, options: ScanOptions): Entry[] {
  if (index === undefined) return [...reader.scan(options)];
  return [...(index.name === 'run' ? reader.byRun(index.tag, options) : reader.byType(index.tag, options))];
}

function observe(reader: ReadApi, probe: ScanOptions): Observation {
  const keys: Record<string, Observation['keys'][string]> = {};
  const notFrozen: string[] = [];
  for (const key of KEYS) {
    const entry = reader.getEntry(key);
    const value = reader.get(key);
    keys[JSON.stringify(key)] = { getEntry: plain(entry), get: handOut(value), has: reader.has(key) };
    notFrozen.push(...unfrozen([entry], 'getEntry'));
  }
  const scans: Record<string, Entry[]> = {};
  for (const { name, index, options } of scanCalls(probe)) {
    const got = readScan(reader, index, options);
    scans[name] = got.map((e) => plain(e)!);
    notFrozen.push(...unfrozen(got, name));
  }
  return { keys, scans, notFrozen };
}

function expectedObservation(view: View, probe: ScanOptions): Observation {
  const keys: Record<string, Observation['keys'][string]> = {};
  for (const key of KEYS) {
    const s = view.get(key);
    keys[JSON.stringify(key)] = { getEntry: s === undefined ? undefined : entryOf(key, s), get: s?.value, has: s !== undefined };
  }
  const scans: Record<string, Entry[]> = {};
  for (const { name, index, options } of scanCalls(probe)) scans[name] = expectedScan(view, options, index);
  return { keys, scans, notFrozen: [] };
}

/** Compares a side-effect-free reader (the live store or a snapshot) with the visible state it must show. */
function checkReader(reader: ReadApi, view: View, probe: ScanOptions, label: string): void {
  expect(observe(reader, probe), label).toStrictEqual(expectedObservation(view, probe));
}

/** Everything observable after a command, compared with the model. */
function checkEverything(h: Harness, model: Model, probe: ScanOptions): void {
  const now = h.clock.now();
  const stats = h.target.stats();
  const expectedStats = {
    version: model.version,
    oldestVersion: model.oldestVersion(),
    // Keys whose newest version is a value, counting expired ones nobody reclaimed yet.
    keys: model.current.size,
    ttlEntries: [...model.current.values()].filter((s) => s.expiresAt !== undefined).length,
    openSnapshots: model.snapshots.length,
    openTransactions: model.txs.length,
  };
  expect(h.target.version, 'version').toBe(model.version);
  expect(h.target.oldestVersion, 'oldestVersion').toBe(expectedStats.oldestVersion);
  expect(
    {
      version: stats.version,
      oldestVersion: stats.oldestVersion,
      keys: stats.keys,
      ttlEntries: stats.ttlEntries,
      openSnapshots: stats.openSnapshots,
      openTransactions: stats.openTransactions,
    },
    'stats()',
  ).toStrictEqual(expectedStats);
  checkReader(h.target, model.liveView(now), probe, 'live');
  for (const snap of model.snapshots) {
    expect(snap.real.version).toBe(snap.version);
    checkReader(snap.real, model.snapshotView(snap), probe, `snapshot@${snap.version} (made at t=${snap.now})`);
  }
  if (h.store !== undefined) {
    h.store.checkInvariants();
    // What background maintenance polls to decide whether to run the cleaner: no misses, and no
    // false alarms (which made it spin; see the regression test at the end).
    expect(h.store.hasExpired(), `hasExpired() at t=${now}`).toBe(model.expiredKeys(now).length > 0);
  }
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

async function settle<T>(promise: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

function expectMismatch(outcome: Outcome<unknown>, mismatch: { key: string; expected: number; actual: number }): void {
  expect(outcome.ok, `expected VersionMismatchError ${JSON.stringify(mismatch)}`).toBe(false);
  const error = (outcome as { error: unknown }).error;
  expect(error).toBeInstanceOf(VersionMismatchError);
  expect(error).toMatchObject(mismatch);
}

// ============================================================== running commands

function resolveIfVersion(spec: IfVersionSpec, model: Model, key: string, now: number): number | null | undefined {
  switch (spec) {
    case undefined:
      return undefined;
    case 'current':
      return model.liveVersion(key, now);
    case 'zero':
      return 0;
    case 'null':
      return null;
    case 'off-by-1':
      return model.liveVersion(key, now) + 1;
    case 'off-by-2':
      return model.liveVersion(key, now) + 2;
  }
}

/**
 * Turns a put descriptor into the call's options and the model's write. The
 * store gets a private copy of the value (`input`), which the caller scribbles
 * on afterwards: the store must have copied it.
 */
function resolvePut(spec: PutSpec, model: Model, now: number): { write: ModelWrite; options: PutOptions; input: unknown } {
  const ifVersion = resolveIfVersion(spec.ifVersion, model, spec.key, now);
  const ttl = spec.expiry !== undefined && 'ttl' in spec.expiry ? spec.expiry.ttl : undefined;
  const expiresAt = spec.expiry !== undefined && 'expiresIn' in spec.expiry ? now + spec.expiry.expiresIn : undefined;
  const options: { -readonly [P in keyof PutOptions]: PutOptions[P] } = {};
  if (spec.run !== undefined) options.run = spec.run;
  if (spec.type !== undefined) options.type = spec.type;
  if (ttl !== undefined) options.ttl = ttl;
  if (expiresAt !== undefined) options.expiresAt = expiresAt;
  if (ifVersion !== undefined) options.ifVersion = ifVersion;
  const write: ModelWrite = { kind: 'put', key: spec.key, value: spec.value, run: spec.run, type: spec.type, ttl, expiresAt, ifVersion };
  return { write, options, input: structuredClone(spec.value) };
}

function resolveDelete(spec: DeleteSpec, model: Model, now: number): { write: ModelWrite; options: DeleteOptions | undefined } {
  const ifVersion = resolveIfVersion(spec.ifVersion, model, spec.key, now);
  return { write: { kind: 'delete', key: spec.key, ifVersion }, options: ifVersion === undefined ? undefined : { ifVersion } };
}

/**
 * Mutates every unfrozen object inside `value`: what was handed to a write
 * (the store must have kept its own copy) or what a read returned (see
 * {@link handOut}).
 */
function scribble(value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  for (const child of Object.values(value)) scribble(child);
  if (Object.isFrozen(value)) return;
  if (Array.isArray(value)) value.push('scribbled');
  else (value as Record<string, unknown>).scribbled = true;
}

/**
 * Runs a write (put/delete/batch) and checks its outcome against the model.
 * With `scanAcross`, a scan is started (and its first entry read) before the
 * write and finished after it: it must not see the write.
 */
async function runWrite(h: Harness, model: Model, writes: readonly ModelWrite[], call: () => Promise<number>, scanAcross: boolean): Promise<void> {
  const now = h.clock.now();
  let finishScan: (() => void) | undefined;
  if (scanAcross) {
    const expected = expectedScan(model.liveView(now), {});
    const iterator = h.target.scan();
    const first = iterator.next();
    finishScan = () => expect((first.done === true ? [] : [first.value, ...iterator]).map(plain), 'a scan started before a write must not see it').toStrictEqual(expected);
  }
  const mismatch = model.firstMismatch(writes, now);
  const outcome = await settle(call());
  if (mismatch !== undefined) expectMismatch(outcome, mismatch);
  else expect(outcome, 'write outcome').toStrictEqual({ ok: true, value: model.commit(writes, now) });
  finishScan?.();
}

function pick<T>(list: readonly T[], which: number): T | undefined {
  return list.length === 0 ? undefined : list[which % list.length];
}

function remove<T>(list: T[], item: T): void {
  list.splice(list.indexOf(item), 1);
}

async function runCommand(h: Harness, model: Model, cmd: Cmd): Promise<void> {
  const { clock, target } = h;
  const now = clock.now();
  switch (cmd.kind) {
    case 'put': {
      const { write, options, input } = resolvePut(cmd.write, model, now);
      await runWrite(h, model, [write], () => target.put(write.key, input, options), cmd.scanAcross);
      scribble(input);
      return;
    }
    case 'delete': {
      const { write, options } = resolveDelete(cmd.write, model, now);
      await runWrite(h, model, [write], () => target.delete(write.key, options), cmd.scanAcross);
      return;
    }
    case 'batch': {
      const writes: ModelWrite[] = [];
      const ops: BatchOp[] = [];
      const inputs: unknown[] = [];
      for (const spec of cmd.ops) {
        if (spec.op === 'put') {
          const { write, options, input } = resolvePut(spec, model, now);
          writes.push(write);
          ops.push({ op: 'put', key: spec.key, value: input, ...options });
          inputs.push(input);
        } else {
          const { write, options } = resolveDelete(spec, model, now);
          writes.push(write);
          ops.push({ op: 'delete', key: spec.key, ...options });
        }
      }
      if (ops.length === 0) {
        // Nothing to commit: resolves to the current version without taking one.
        expect(await target.batch(ops), 'empty batch').toBe(model.version);
        return;
      }
      await runWrite(h, model, writes, () => target.batch(ops), cmd.scanAcross);
      inputs.forEach(scribble);
      return;
    }
    case 'advance':
      clock.advance(cmd.ms);
      return;
    case 'snapshot': {
      const real = target.snapshot();
      expect(real.version).toBe(model.version);
      model.snapshots.push({ real, version: model.version, now });
      return;
    }
    case 'snapshotAt': {
      const version = Math.max(0, model.version - cmd.back);
      if (version > model.version || version < model.oldestVersion()) {
        expect(() => target.snapshotAt(version), `snapshotAt(${version})`).toThrow(VersionUnavailableError);
        return;
      }
      const real = target.snapshotAt(version);
      expect(real.version).toBe(version);
      model.snapshots.push({ real, version, now });
      return;
    }
    case 'release': {
      const snap = pick(model.snapshots, cmd.which);
      if (snap === undefined) return;
      const inFlight = snap.real.scan();
      snap.real.release();
      remove(model.snapshots, snap);
      expect(snap.real.released).toBe(true);
      expect(() => snap.real.get('a')).toThrow(SnapshotReleasedError);
      expect(() => inFlight.next(), 'a scan of a released snapshot must not go on').toThrow(SnapshotReleasedError);
      snap.real.release(); // idempotent: must not unpin twice (stats and oldestVersion are checked next)
      return;
    }
    case 'begin': {
      const real = target.begin(cmd.isolation === undefined ? undefined : { isolation: cmd.isolation });
      expect(real.version).toBe(model.version);
      expect(real.isolation).toBe(cmd.isolation ?? 'snapshot');
      model.txs.push({ real, start: model.version, now, isolation: cmd.isolation ?? 'snapshot', writes: new Map(), readKeys: new Set(), ranges: [] });
      return;
    }
    case 'txPut': {
      const tx = pick(model.txs, cmd.which);
      if (tx === undefined) return;
      const { write, options, input } = resolvePut(cmd.write, model, now);
      tx.real.put(write.key, input, options);
      scribble(input);
      tx.writes.set(write.key, write);
      return;
    }
    case 'txDelete': {
      const tx = pick(model.txs, cmd.which);
      if (tx === undefined) return;
      const { write, options } = resolveDelete(cmd.write, model, now);
      tx.real.delete(write.key, options);
      tx.writes.set(write.key, write);
      return;
    }
    case 'txRead': {
      const tx = pick(model.txs, cmd.which);
      if (tx === undefined) return;
      const s = model.txView(tx).get(cmd.key);
      const what = `tx@${tx.start}: ${JSON.stringify(cmd.key)}`;
      const entry = tx.real.getEntry(cmd.key);
      expect(plain(entry), `${what} getEntry`).toStrictEqual(s === undefined ? undefined : entryOf(cmd.key, s));
      expect(handOut(tx.real.get(cmd.key)), `${what} get`).toStrictEqual(s?.value);
      expect(tx.real.has(cmd.key), `${what} has`).toBe(s !== undefined);
      expect(unfrozen([entry], what)).toStrictEqual([]);
      // Reads of own writes are not validated; reads of the snapshot are (under 'serializable').
      if (!tx.writes.has(cmd.key)) tx.readKeys.add(cmd.key);
      return;
    }
    case 'txScan': {
      const tx = pick(model.txs, cmd.which);
      if (tx === undefined) return;
      const { index, options } = cmd.read;
      const got = [...(index === undefined ? tx.real.scan(options) : index.name === 'run' ? tx.real.byRun(index.tag, options) : tx.real.byType(index.tag, options))];
      const what = `tx@${tx.start}: ${index === undefined ? 'scan' : `by ${index.name} ${index.tag}`}(${JSON.stringify(options)})`;
      expect(got.map(plain), what).toStrictEqual(expectedScan(model.txView(tx), options, index));
      expect(unfrozen(got, what)).toStrictEqual([]);
      tx.ranges.push({ options, index });
      return;
    }
    case 'commit': {
      const tx = pick(model.txs, cmd.which);
      if (tx === undefined) return;
      remove(model.txs, tx);
      const writes = [...tx.writes.values()];
      const conflict = writes.length === 0 ? undefined : model.conflict(tx);
      const mismatch = writes.length === 0 || conflict !== undefined ? undefined : model.firstMismatch(writes, now);
      const outcome = await settle(tx.real.commit());
      if (writes.length === 0) {
        // A read-only transaction commits without taking a version.
        expect(outcome, 'read-only commit').toStrictEqual({ ok: true, value: tx.start });
      } else if (conflict !== undefined) {
        expect(outcome.ok, `expected a ConflictError on one of ${JSON.stringify(conflict)}`).toBe(false);
        const error = (outcome as { error: unknown }).error;
        expect(error).toBeInstanceOf(ConflictError);
        expect(conflict).toContain((error as ConflictError).key);
      } else if (mismatch !== undefined) {
        expectMismatch(outcome, mismatch);
      } else {
        expect(outcome, 'commit outcome').toStrictEqual({ ok: true, value: model.commit(writes, now) });
      }
      expect(tx.real.active).toBe(false);
      expect(() => tx.real.get('a')).toThrow(TransactionFinishedError);
      return;
    }
    case 'abort': {
      const tx = pick(model.txs, cmd.which);
      if (tx === undefined) return;
      tx.real.abort();
      tx.real.abort(); // idempotent
      remove(model.txs, tx);
      expect(tx.real.active).toBe(false);
      expect(() => tx.real.put('a', 1)).toThrow(TransactionFinishedError);
      return;
    }
    case 'reclaimExpired': {
      const expired = model.expiredKeys(now);
      expect(h.store!.reclaimExpired(100), `reclaimExpired() at t=${now}`).toBe(expired.length);
      // One commit for everything it reclaimed, none when it found nothing.
      if (expired.length > 0) model.commit(expired.map((key): ModelWrite => ({ kind: 'delete', key, ifVersion: undefined })), now, true);
      return;
    }
    case 'collectGarbage': {
      // Mostly checked by what follows: snapshots must still read their past, and checkInvariants().
      const store = h.store!;
      store.collectGarbage(100);
      expect(store.hasGarbage(), 'hasGarbage() after a full pass').toBe(false);
      const [min, max] = model.storedVersionsAfterGc();
      const stored = store.stats().storedVersions;
      expect(stored >= min && stored <= max, `storedVersions ${stored} after a full GC pass, expected ${min}..${max}`).toBe(true);
      return;
    }
  }
}

/** Runs the steps, checking everything after each one; on failure, says which step. */
async function runSteps(h: Harness, steps: readonly Step[]): Promise<void> {
  const model = new Model(h.retainVersions);
  try {
    checkEverything(h, model, {});
    for (const [i, step] of steps.entries()) {
      try {
        await runCommand(h, model, step.cmd);
        checkEverything(h, model, step.probe);
      } catch (error) {
        if (error instanceof Error) error.message = `step ${i} ${step.cmd.kind}: ${error.message}`;
        throw error;
      }
    }
  } finally {
    for (const tx of model.txs) tx.real.abort();
    for (const snap of model.snapshots) snap.real.release();
    await h.close();
  }
}

// ============================================================== the properties

/** Keeps the whole file under ~10 s on a 2-core machine; `MODEL_RUNS=5000` for a deep search. */
const NUM_RUNS = Number(process.env.MODEL_RUNS ?? 200);
/** Per-property timeout: vitest's default (30 s) with room for deep searches. */
const TIMEOUT_MS = Math.max(30_000, NUM_RUNS * 100);

describe('model-based: the store behaves like a map of versioned states', () => {
  it('Database (retainVersions 0) matches the model', async () => {
    await fc.assert(
      fc.asyncProperty(stepsArb(DATABASE_MIX), async (steps) => runSteps(await openDatabaseHarness(0), steps)),
      { numRuns: NUM_RUNS },
    );
  }, TIMEOUT_MS);

  it('Database (retainVersions 5) matches the model', async () => {
    await fc.assert(
      fc.asyncProperty(stepsArb(DATABASE_MIX), async (steps) => runSteps(await openDatabaseHarness(5), steps)),
      { numRuns: NUM_RUNS },
    );
  }, TIMEOUT_MS);

  it('transaction-heavy interleavings match the model (conflicts, serializable validation)', async () => {
    await fc.assert(
      fc.asyncProperty(stepsArb(TRANSACTION_MIX, 60), async (steps) => runSteps(await openDatabaseHarness(0), steps)),
      { numRuns: NUM_RUNS },
    );
  }, TIMEOUT_MS);

  it('MvccStore with reclaimExpired and collectGarbage matches the model and keeps its invariants', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0, 1, 3), stepsArb(STORE_MIX), async (retainVersions, steps) => runSteps(openStoreHarness(retainVersions), steps)),
      { numRuns: NUM_RUNS * 2 },
    );
  }, TIMEOUT_MS * 2);

  // Found by the store variant above (hasExpired() compared with the model).
  // The TTL index filed an expiry under Math.floor(expiresAt) and hasExpired()
  // compared that with the clock, but an entry expires only once
  // expiresAt <= now. So for a sub-millisecond expiry (ttl: 0.5, or
  // expiresAt: 1000.5) hasExpired() said true although nothing had expired and
  // reclaimExpired() found nothing; background maintenance then kept
  // scheduling follow-up slices (setImmediate) until the clock passed the
  // fraction (forever with a ManualClock). Fixed by rounding the index time up.
  it('regression: hasExpired() reports a sub-millisecond expiry as expired before it expires', async () => {
    const clock = new ManualClock(1_000);
    const store = new MvccStore({ clock });
    await store.put('a', 1, { expiresAt: 1_000.5 });
    expect(store.get('a')).toBe(1); // not expired at t=1000
    expect(store.reclaimExpired(100)).toBe(0); // nothing to reclaim
    expect(store.hasExpired()).toBe(false); // was true
    clock.advance(1);
    expect(store.get('a')).toBeUndefined();
    expect(store.hasExpired()).toBe(true); // now it has expired...
    expect(store.reclaimExpired(100)).toBe(1); // ...and is reclaimed
    expect(store.hasExpired()).toBe(false);
  });
});
