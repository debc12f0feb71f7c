/**
 * Model-based property test of persistence: what a database shows after it is
 * closed and opened again.
 *
 * fast-check generates command sequences (put with run/type/ttl/expiresAt and
 * a per-write sync, delete, batch, committed snapshot and serializable
 * transactions, clock advances, explicit checkpoints, and close + reopen) that
 * run against a real database in a real temporary directory and against a
 * deliberately simple reference model (a Map of key -> stored entry and a
 * version counter). Each session between reopens gets its own options: sync
 * mode, sometimes tiny `walSegmentBytes` / `checkpointWalBytes` (so segments
 * rotate and checkpoints happen by themselves), and `checkpointOnClose` on or
 * off (off: the state comes back from the WAL alone, or from an automatic
 * checkpoint plus the WAL after it). The clock may advance while the database
 * is "down", so entries expire between close and open.
 *
 * After every command, and in particular after every reopen, the whole state is
 * compared with the model: getEntry/get/has of every key (value, version, run,
 * type, expiresAt), a full scan, byRun/byType for every tag, and db.version.
 * Every write checks the version it resolves to (model.version + 1: versions
 * continue across reopens). A reopen also checks the recovery report (no
 * recovery events after a clean close; checkpoint version + replayed records =
 * the model's version) and that close() left no LOCK or temporary file behind.
 *
 * Model rules: every put, delete (even of a missing key), non-empty batch and
 * transaction with writes takes exactly one version; an empty batch and a
 * read-only transaction take none; within one commit the last write to a key
 * wins; an entry is visible while `expiresAt === undefined || expiresAt > now`.
 * No background maintenance runs (intervalMs 0), so nothing expires by
 * deletion, only by time.
 *
 * Against the WalWriter before 3c3bcaa (a segment rotated while appends were
 * queued was named after the newest appended record, so recovery saw a gap and
 * refused to open) it fails within a few runs: CorruptionError "write-ahead log
 * records 7..7 are missing" on the reopen after a 'none'/'interval' session with
 * 1 KiB segments and checkpointOnClose: false.
 *
 * `REOPEN_RUNS=1500 npx vitest run test/persist/reopen.test.ts` searches deeper (~1 min).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, open, type BatchOp, type Database, type Entry, type OpenOptions, type PutOptions, type SyncMode, type Transaction } from 'epochdb';

// ============================================================== alphabets

/** Few keys, so commands collide; prefixes of each other, U+0000 inside a key, U+FFFF. */
const KEYS = ['a', 'ab', 'b', 'c', 'k\u0000x', '\uffff'];
/** Tags where one is a prefix of the other. */
const RUNS = ['r', 'r2'];
const TYPES = ['t', 'tt'];
const START_TIME = 1_700_000_000_000;

// ============================================================== reference model

interface Stored {
  readonly value: unknown;
  readonly version: number;
  readonly run?: string;
  readonly type?: string;
  readonly expiresAt?: number;
}

/** A write resolved against the clock (absolute expiry). */
type ModelWrite =
  | { readonly kind: 'put'; readonly key: string; readonly value: unknown; readonly run?: string; readonly type?: string; readonly expiresAt?: number }
  | { readonly kind: 'delete'; readonly key: string };

class Model {
  version = 0;
  /** Newest value of every key, expired or not (deleted keys are absent). */
  readonly current = new Map<string, Stored>();

  /** One commit: takes the next version; for a key written twice the last write wins. */
  commit(writes: readonly ModelWrite[]): number {
    const version = ++this.version;
    const last = new Map<string, ModelWrite>();
    for (const w of writes) last.set(w.key, w);
    for (const w of last.values()) {
      if (w.kind === 'delete') {
        this.current.delete(w.key);
        continue;
      }
      const s: { -readonly [P in keyof Stored]: Stored[P] } = { value: w.value, version };
      if (w.run !== undefined) s.run = w.run;
      if (w.type !== undefined) s.type = w.type;
      if (w.expiresAt !== undefined) s.expiresAt = w.expiresAt;
      this.current.set(w.key, s);
    }
    return version;
  }

  /** What readers must see at `now`, in key order. */
  visible(now: number): Map<string, Stored> {
    const keys = [...this.current.keys()].filter((k) => {
      const s = this.current.get(k)!;
      return s.expiresAt === undefined || s.expiresAt > now;
    });
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return new Map(keys.map((k) => [k, this.current.get(k)!]));
  }
}

/** An entry as a plain object with only its defined fields (the store may carry `run: undefined` and the like). */
function plain(e: Entry | undefined): Record<string, unknown> | undefined {
  if (e === undefined) return undefined;
  const out: Record<string, unknown> = { key: e.key, value: e.value, version: e.version };
  if (e.run !== undefined) out.run = e.run;
  if (e.type !== undefined) out.type = e.type;
  if (e.expiresAt !== undefined) out.expiresAt = e.expiresAt;
  return out;
}

function expectedEntry(key: string, s: Stored | undefined): Record<string, unknown> | undefined {
  return s === undefined ? undefined : { key, ...s };
}

// ============================================================== command descriptors

/** A relative TTL, or an absolute expiry given relative to the clock when the command runs. */
type ExpirySpec = { readonly ttl: number } | { readonly expiresIn: number } | undefined;

interface PutSpec {
  readonly key: string;
  readonly value: unknown;
  readonly run: string | undefined;
  readonly type: string | undefined;
  readonly expiry: ExpirySpec;
}
type WriteSpec = ({ readonly op: 'put' } & PutSpec) | { readonly op: 'delete'; readonly key: string };

/** Options of one session (from open() to close()). */
interface Session {
  readonly sync: SyncMode;
  readonly walSegmentBytes: number | undefined;
  readonly checkpointWalBytes: number | undefined;
  readonly checkpointOnClose: boolean;
}

type Cmd =
  | { readonly kind: 'put'; readonly write: PutSpec; readonly sync: SyncMode | undefined }
  | { readonly kind: 'delete'; readonly key: string; readonly sync: SyncMode | undefined }
  | { readonly kind: 'batch'; readonly ops: readonly WriteSpec[]; readonly sync: SyncMode | undefined }
  | { readonly kind: 'tx'; readonly isolation: 'snapshot' | 'serializable'; readonly ops: readonly WriteSpec[]; readonly readKey: string; readonly sync: SyncMode | undefined }
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'checkpoint' }
  | { readonly kind: 'reopen'; readonly downMs: number; readonly session: Session };

// ============================================================== arbitraries

/** JSON-ish values plus the non-JSON ones the codec promises to keep: Map, Date, Uint8Array, bigint, -0 (also NaN, ±Infinity). */
const valueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; leaf: unknown; array: unknown[]; object: Record<string, unknown>; map: Map<unknown, unknown> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('array'), tie('object'), tie('map')),
  leaf: fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -1000, max: 1000 }),
    fc.double(),
    fc.constantFrom(-0, 2 ** 32, 2 ** 53 - 1, -(2 ** 31) - 1),
    fc.string({ maxLength: 6 }),
    fc.string({ unit: 'grapheme', maxLength: 3 }),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
    fc.integer({ min: -8.64e15, max: 8.64e15 }).map((t) => new Date(t)),
    fc.uint8Array({ maxLength: 6 }),
  ),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.dictionary(fc.constantFrom('x', 'y', 'z', 'key'), tie('value'), { maxKeys: 3, noNullPrototype: true }),
  map: fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 3 }), fc.integer({ min: -5, max: 5 })), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
})).value;

/** Mostly small values, now and then a bigger one, so tiny WAL segments fill up within a few writes. */
const putValueArb: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: valueArb, weight: 3 },
  { arbitrary: fc.tuple(fc.integer({ min: 100, max: 500 }), valueArb).map(([n, v]) => ({ pad: 'v'.repeat(n), v })), weight: 1 },
);

const keyArb = fc.constantFrom(...KEYS);
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 2 });

const expiryArb: fc.Arbitrary<ExpirySpec> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 3 },
  { arbitrary: fc.record({ ttl: fc.constantFrom(1, 5, 20, 50, 2.5, 1000) }), weight: 2 },
  { arbitrary: fc.record({ expiresIn: fc.constantFrom(-5, 0, 3, 20, 0.5, 10_000) }), weight: 1 },
);

const putSpecArb: fc.Arbitrary<PutSpec> = fc.record({
  key: keyArb,
  value: putValueArb,
  run: maybe(fc.constantFrom(...RUNS)),
  type: maybe(fc.constantFrom(...TYPES)),
  expiry: expiryArb,
});

const writeSpecArb: fc.Arbitrary<WriteSpec> = fc.oneof(
  { arbitrary: putSpecArb.map((p): WriteSpec => ({ op: 'put', ...p })), weight: 3 },
  { arbitrary: keyArb.map((key): WriteSpec => ({ op: 'delete', key })), weight: 1 },
);

/** Session options; `syncModes` restricts the default sync mode (fsync costs real time). */
function sessionArb(syncModes: readonly SyncMode[]): fc.Arbitrary<Session> {
  return fc.record({
    sync: fc.constantFrom(...syncModes),
    // Tiny sizes half the time: segments rotate and checkpoints run by themselves within a few writes.
    walSegmentBytes: fc.constantFrom(undefined, 1024, 2048),
    checkpointWalBytes: fc.constantFrom(undefined, 1024, 2048, 4096),
    checkpointOnClose: fc.boolean(),
  });
}

function cmdArb(syncModes: readonly SyncMode[]): fc.Arbitrary<Cmd> {
  const perWriteSync = maybe(fc.constantFrom<SyncMode>(...syncModes));
  return fc.oneof(
    { weight: 10, arbitrary: fc.record({ kind: fc.constant('put' as const), write: putSpecArb, sync: perWriteSync }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyArb, sync: perWriteSync }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('batch' as const), ops: fc.array(writeSpecArb, { maxLength: 4 }), sync: perWriteSync }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('tx' as const),
        isolation: fc.constantFrom<'snapshot' | 'serializable'>('snapshot', 'serializable'),
        ops: fc.array(writeSpecArb, { maxLength: 3 }),
        readKey: keyArb,
        sync: perWriteSync,
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(0, 1, 3, 10, 30, 100) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('reopen' as const), downMs: fc.constantFrom(0, 0, 1, 5, 25, 2000), session: sessionArb(syncModes) }) },
  );
}

/** A first session, the commands, and the session of the final reopen every run ends with. */
interface Run {
  readonly first: Session;
  readonly cmds: readonly Cmd[];
  readonly finalDownMs: number;
  readonly last: Session;
}

function runArb(syncModes: readonly SyncMode[], maxCommands: number): fc.Arbitrary<Run> {
  return fc.record({
    first: sessionArb(syncModes),
    cmds: fc.array(cmdArb(syncModes), { maxLength: maxCommands, size: 'max' }),
    finalDownMs: fc.constantFrom(0, 10, 2000),
    last: sessionArb(syncModes),
  });
}

// ============================================================== running

interface Harness {
  readonly dir: string;
  readonly clock: ManualClock;
  db: Database;
  session: Session;
}

function openOptions(h: { dir: string; clock: ManualClock }, session: Session): OpenOptions {
  return {
    dir: h.dir,
    clock: h.clock,
    maintenance: { intervalMs: 0 },
    sync: session.sync,
    checkpointOnClose: session.checkpointOnClose,
    ...(session.walSegmentBytes === undefined ? {} : { walSegmentBytes: session.walSegmentBytes }),
    ...(session.checkpointWalBytes === undefined ? {} : { checkpointWalBytes: session.checkpointWalBytes }),
  };
}

/** Resolves a put descriptor against the clock: the call's options and the model's write. */
function resolvePut(spec: PutSpec, now: number): { options: PutOptions; write: ModelWrite } {
  const options: { -readonly [P in keyof PutOptions]: PutOptions[P] } = {};
  let expiresAt: number | undefined;
  if (spec.run !== undefined) options.run = spec.run;
  if (spec.type !== undefined) options.type = spec.type;
  if (spec.expiry !== undefined && 'ttl' in spec.expiry) {
    options.ttl = spec.expiry.ttl;
    expiresAt = now + spec.expiry.ttl;
  } else if (spec.expiry !== undefined) {
    expiresAt = now + spec.expiry.expiresIn;
    options.expiresAt = expiresAt;
  }
  const write: ModelWrite = {
    kind: 'put',
    key: spec.key,
    value: spec.value,
    ...(spec.run === undefined ? {} : { run: spec.run }),
    ...(spec.type === undefined ? {} : { type: spec.type }),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
  return { options, write };
}

/** Everything a reader shows, in one object, so a failure is one readable diff. */
function observe(db: Database): unknown {
  const keys: Record<string, unknown> = {};
  for (const key of KEYS) keys[JSON.stringify(key)] = { entry: plain(db.getEntry(key)), get: db.get(key), has: db.has(key) };
  return {
    version: db.version,
    keys,
    scan: [...db.scan()].map(plain),
    byRun: Object.fromEntries(RUNS.map((run) => [run, [...db.byRun(run)].map(plain)])),
    byType: Object.fromEntries(TYPES.map((type) => [type, [...db.byType(type)].map(plain)])),
  };
}

function expected(model: Model, now: number): unknown {
  const view = model.visible(now);
  const keys: Record<string, unknown> = {};
  for (const key of KEYS) {
    const s = view.get(key);
    keys[JSON.stringify(key)] = { entry: expectedEntry(key, s), get: s?.value, has: s !== undefined };
  }
  const tagged = (name: 'run' | 'type', tag: string): unknown[] => [...view].filter(([, s]) => s[name] === tag).map(([k, s]) => expectedEntry(k, s));
  return {
    version: model.version,
    keys,
    scan: [...view].map(([k, s]) => expectedEntry(k, s)),
    byRun: Object.fromEntries(RUNS.map((run) => [run, tagged('run', run)])),
    byType: Object.fromEntries(TYPES.map((type) => [type, tagged('type', type)])),
  };
}

function checkState(h: Harness, model: Model, label: string): void {
  expect(observe(h.db), label).toStrictEqual(expected(model, h.clock.now()));
}

/** Closes, lets `downMs` pass, opens with `session` and checks what recovery reports. */
async function reopen(h: Harness, model: Model, downMs: number, session: Session): Promise<void> {
  const { checkpointOnClose } = h.session;
  await h.db.close();
  const left = await readdir(h.dir);
  expect(left, 'close() releases the lock').not.toContain('LOCK');
  expect(left.filter((name) => name.endsWith('.tmp')), 'close() leaves no temporary files').toStrictEqual([]);
  h.clock.advance(downMs);
  h.db = await open(openOptions(h, session));
  h.session = session;
  const report = h.db.recovery!;
  expect(report.events, 'a clean close needs no repair').toStrictEqual([]);
  expect(report.checkpointVersion + report.replayedRecords, 'checkpoint + replayed WAL records reach the model version').toBe(model.version);
  if (checkpointOnClose) expect(report, 'close() checkpointed everything').toMatchObject({ checkpointVersion: model.version, replayedRecords: 0 });
}

async function runCommand(h: Harness, model: Model, cmd: Cmd): Promise<void> {
  const now = h.clock.now();
  switch (cmd.kind) {
    case 'put': {
      const { options, write } = resolvePut(cmd.write, now);
      const version = await h.db.put(cmd.write.key, structuredClone(cmd.write.value), cmd.sync === undefined ? options : { ...options, sync: cmd.sync });
      expect(version, 'put() resolves to the next version').toBe(model.commit([write]));
      return;
    }
    case 'delete': {
      const version = await h.db.delete(cmd.key, cmd.sync === undefined ? undefined : { sync: cmd.sync });
      expect(version, 'delete() resolves to the next version').toBe(model.commit([{ kind: 'delete', key: cmd.key }]));
      return;
    }
    case 'batch': {
      const ops: BatchOp[] = [];
      const writes: ModelWrite[] = [];
      for (const spec of cmd.ops) {
        if (spec.op === 'delete') {
          ops.push({ op: 'delete', key: spec.key });
          writes.push({ kind: 'delete', key: spec.key });
          continue;
        }
        const { options, write } = resolvePut(spec, now);
        ops.push({ op: 'put', key: spec.key, value: structuredClone(spec.value), ...options });
        writes.push(write);
      }
      const version = await h.db.batch(ops, cmd.sync === undefined ? undefined : { sync: cmd.sync });
      expect(version, 'batch() resolves to the next version (an empty one to the current)').toBe(writes.length === 0 ? model.version : model.commit(writes));
      return;
    }
    case 'tx': {
      const writes: ModelWrite[] = [];
      const visible = model.visible(now);
      await h.db.transaction(
        (tx: Transaction) => {
          // Reads inside see the committed state (serializable: they are validated, and nothing else commits).
          expect(plain(tx.getEntry(cmd.readKey)), 'tx.getEntry').toStrictEqual(expectedEntry(cmd.readKey, visible.get(cmd.readKey)));
          if (cmd.isolation === 'serializable') expect([...tx.scan()].length, 'tx.scan()').toBe(visible.size);
          for (const spec of cmd.ops) {
            if (spec.op === 'delete') {
              tx.delete(spec.key);
              writes.push({ kind: 'delete', key: spec.key });
            } else {
              const { options, write } = resolvePut(spec, now);
              tx.put(spec.key, structuredClone(spec.value), options);
              writes.push(write);
            }
          }
        },
        cmd.sync === undefined ? { isolation: cmd.isolation } : { isolation: cmd.isolation, sync: cmd.sync },
      );
      // A transaction with writes takes one version; a read-only one takes none.
      if (writes.length > 0) model.commit(writes);
      return;
    }
    case 'advance':
      h.clock.advance(cmd.ms);
      return;
    case 'checkpoint': {
      const before = h.db.stats();
      await h.db.checkpoint();
      // An automatic checkpoint may have been running too (one runs at a time); a checkpoint at
      // the version of the newest one is skipped (rewriting it would destroy the fallback).
      const after = h.db.stats();
      expect(after.lastCheckpointVersion, 'after checkpoint() the newest checkpoint is at the current version').toBe(model.version);
      if (before.lastCheckpointVersion < model.version) expect(after.checkpoints, 'checkpoint() wrote a checkpoint').toBeGreaterThan(before.checkpoints);
      return;
    }
    case 'reopen':
      await reopen(h, model, cmd.downMs, cmd.session);
      return;
  }
}

async function runScenario(run: Run): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'epochdb-reopen-'));
  const clock = new ManualClock(START_TIME);
  const model = new Model();
  let h: Harness | undefined;
  try {
    h = { dir, clock, session: run.first, db: await open(openOptions({ dir, clock }, run.first)) };
    checkState(h, model, 'fresh database');
    const steps: Cmd[] = [...run.cmds, { kind: 'reopen', downMs: run.finalDownMs, session: run.last }];
    for (const [i, cmd] of steps.entries()) {
      try {
        await runCommand(h, model, cmd);
        checkState(h, model, `after ${cmd.kind}`);
      } catch (error) {
        if (error instanceof Error) error.message = `step ${i} ${cmd.kind}: ${error.message}`;
        throw error;
      }
    }
    // Versions continue after the last reopen too.
    expect(await h.db.put('a', 'after the last reopen'), 'the first write after a reopen').toBe(model.version + 1);
  } finally {
    await h?.db.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

// ============================================================== the properties

const RUNS_SCALE = Number(process.env.REOPEN_RUNS ?? 200);
const TIMEOUT_MS = Math.max(60_000, RUNS_SCALE * 300);
/**
 * Every run does real file I/O (fsyncs at open, checkpoint and close), so
 * shrinking a counterexample can take minutes: fast-check stops after this long
 * and reports the smallest counterexample found so far (the error names the step).
 */
const SEARCH_LIMIT_MS = Math.max(20_000, RUNS_SCALE * 100);

const session = (overrides: Partial<Session> = {}): Session => ({ sync: 'none', walSegmentBytes: undefined, checkpointWalBytes: undefined, checkpointOnClose: true, ...overrides });
const put = (key: string, value: unknown, extra: Partial<PutSpec> = {}): Cmd => ({ kind: 'put', write: { key, value, run: undefined, type: undefined, expiry: undefined, ...extra }, sync: undefined });

/**
 * Hand-written runs fast-check tries first, so the case "an entry expires
 * while the database is down" is exercised on every run of the suite: the key
 * had an older value without TTL (which must not come back), the TTL'd value
 * is in a checkpoint (explicit, or the one close() writes) or only in the WAL,
 * and the database is reopened after the expiry, twice.
 */
const EXPIRES_WHILE_DOWN: Run[] = [false, true].flatMap((checkpointOnClose) =>
  [false, true].map(
    (explicitCheckpoint): Run => ({
      first: session({ checkpointOnClose }),
      cmds: [
        put('a', 'old, no TTL', { run: 'r', type: 't' }),
        put('a', new Map([['new', new Date(1)]]), { run: 'r2', type: 'tt', expiry: { ttl: 20 } }),
        put('b', 1n, { run: 'r', expiry: { expiresIn: 20 } }),
        put('c', -0, { run: 'r', expiry: { ttl: 1000 } }),
        ...(explicitCheckpoint ? [{ kind: 'checkpoint' } as const] : []),
        { kind: 'advance', ms: 5 },
        { kind: 'reopen', downMs: 25, session: session({ checkpointOnClose: !checkpointOnClose }) },
        { kind: 'reopen', downMs: 0, session: session({ checkpointOnClose: false }) },
        put('b', 'b again'),
      ],
      finalDownMs: 2000,
      last: session({ checkpointOnClose: false }),
    }),
  ),
);

describe('persistence: after every reopen the database holds exactly the model state', () => {
  it("sync 'none' / 'interval' (per-write overrides included)", async () => {
    await fc.assert(fc.asyncProperty(runArb(['none', 'interval'], 40), runScenario), {
      numRuns: RUNS_SCALE,
      interruptAfterTimeLimit: SEARCH_LIMIT_MS,
      examples: EXPIRES_WHILE_DOWN.map((run): [Run] => [run]),
    });
  }, TIMEOUT_MS);

  it("sync 'always' (every write fdatasync'ed; some per-write 'none')", async () => {
    await fc.assert(fc.asyncProperty(runArb(['always', 'always', 'none'], 30), runScenario), {
      numRuns: Math.max(5, Math.round(RUNS_SCALE / 6)),
      interruptAfterTimeLimit: SEARCH_LIMIT_MS,
    });
  }, TIMEOUT_MS);
});
