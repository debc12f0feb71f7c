/**
 * The deterministic simulation runner shared by simulation.test.ts,
 * crash-points.test.ts and regressions.test.ts.
 *
 * A scenario is a config (fs seed, default sync mode, O_DSYNC writes or not,
 * tiny WAL segments / automatic checkpoints or not) and a list of plain
 * command descriptors. They run in order against a persistent database on a
 * {@link SimFileSystem} and against a reference model that keeps one full
 * state per committed version. After every command the database's visible
 * state (getEntry of every key, a full scan, byRun/byType of every tag) and
 * every open snapshot are compared with the model.
 *
 * Crashes (`crash`: the k-th file-system operation from now kills the
 * machine, by power loss or process crash) are followed by a reopen on the
 * crashed image, which must succeed (strict recovery) and hold exactly the
 * model state at some version r with
 *   lower <= r <= (last version committed in memory)
 * where lower is the newest version made durable by an acknowledged
 * `sync: 'always'` commit, a resolved `flushed()` or `checkpoint()`, or a clean
 * close — and, for a process crash (everything written to the OS survives),
 * also every acknowledged commit of any mode. Equality with the model state at
 * a version means a prefix of the history: no hole, no half batch/transaction.
 * The next commit must then get version r + 1 (versions continue from the
 * recovered one, never repeat within a run of the database).
 *
 * The LOCK file of the crashed "process" holds our own (live) pid; before the
 * reopen it is rewritten to name a dead pid, as a crashed process's would.
 * (Lock takeover itself is tested in test/persist.)
 */
import { hostname } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { EpochError, ManualClock, open, type Database, type Entry, type Isolation, type Snapshot, type SyncMode } from 'epochdb';
import { SimFileSystem } from '../support/sim-fs.js';

export const KEYS = ['a', 'b', 'c', 'd', 'e'] as const;
export const RUNS = ['r1', 'r2'] as const;
export const TYPES = ['t1', 't2'] as const;
const DIR = '/db';
const START = 1_000_000;

export type Sync = SyncMode | undefined;
export type WriteOp = { op: 'put'; key: string; n: number; run?: string | undefined; type?: string | undefined; ttl?: number | undefined } | { op: 'delete'; key: string };

export type Cmd =
  | { t: 'put'; key: string; n: number; run?: string | undefined; type?: string | undefined; ttl?: number | undefined; sync?: Sync }
  | { t: 'del'; key: string; sync?: Sync }
  | { t: 'batch'; ops: WriteOp[]; bad?: boolean; sync?: Sync }
  | { t: 'tx'; isolation: Isolation; read: string; writes: WriteOp[]; fail?: boolean; sync?: Sync }
  | { t: 'group'; puts: { key: string; n: number; sync?: Sync }[] }
  | { t: 'clock'; ms: number }
  | { t: 'snapshot' }
  | { t: 'checkpoint' }
  | { t: 'flushed' }
  | { t: 'crash'; after: number; powerLoss: boolean }
  | { t: 'reopen'; checkpointOnClose: boolean };

export interface SimConfig {
  readonly seed: number;
  readonly sync: SyncMode;
  readonly durableWrites: boolean;
  /** walSegmentBytes and checkpointWalBytes at their minimum (1024): rotation and automatic checkpoints all the time. */
  readonly small: boolean;
}

export interface SimReport {
  crashes: number;
  reopens: number;
  commits: number;
  fsOps: number;
  /** Recovered versions below the last in-memory version (work lost by a crash, allowed by the contract). */
  rolledBack: number;
  /** Crashes armed but never reached by the workload (forced at its end). */
  forcedCrashes: number;
}

interface Stored {
  readonly value: unknown;
  readonly version: number;
  readonly run?: string;
  readonly type?: string;
  readonly expiresAt?: number;
}
type State = ReadonlyMap<string, Stored>;

export class SimFailure extends Error {}

function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new SimFailure(message());
}

let deadPid: number | undefined;
/** A pid no process has (for rewriting a crashed process's LOCK). */
function findDeadPid(): number {
  if (deadPid !== undefined) return deadPid;
  for (let pid = 4_194_000; pid > 1000; pid -= 7) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return (deadPid = pid);
    }
  }
  throw new Error('no free pid found');
}

const isFailure = (error: unknown): boolean => error instanceof EpochError && (error.code === 'IO_ERROR' || error.code === 'FAILED');

const describeError = (error: unknown): string => (error instanceof Error ? `${error.constructor.name}${error instanceof EpochError ? `(${error.code})` : ''}: ${error.message}` : String(error));

/** The object without its undefined-valued fields. */
function strip<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}

/** Structures the simulated database's table takes: fewer than the shapes {@link simValue} makes. */
const SIM_MAX_STRUCTURES = 6;

/** A value of one of 11 shapes, by its counter: more shapes than the table takes, nested so one value can use several. */
function simValue(key: string, n: number): Record<string, unknown> {
  return { k: key, n, [`f${n % 11}`]: { depth: n % 3, list: [n, { [`g${n % 4}`]: true }] } };
}

function normalize(e: Entry | Stored | undefined, key: string): unknown {
  if (e === undefined) return undefined;
  return { key, value: e.value, version: e.version, run: e.run, type: e.type, expiresAt: e.expiresAt };
}

export async function runScenario(config: SimConfig, commands: readonly Cmd[]): Promise<SimReport> {
  const clock = new ManualClock(START);
  let fs = new SimFileSystem({ seed: config.seed, durableWrites: config.durableWrites });
  const states: State[] = [new Map()];
  const report: SimReport = { crashes: 0, reopens: 0, commits: 0, fsOps: 0, rolledBack: 0, forcedCrashes: 0 };
  /** Newest version that must survive a power loss. */
  let durable = 0;
  /** Newest acknowledged version (must survive a process crash). */
  let acked = 0;
  let checkpointOnClose = true;
  let db: Database | undefined;
  let snapshots: { snap: Snapshot; version: number; now: number }[] = [];
  let pendingCrash: { powerLoss: boolean } | undefined;
  const current = (): State => states[states.length - 1]!;
  const modelVersion = (): number => states.length - 1;
  const visible = (s: Stored, now: number): boolean => s.expiresAt === undefined || s.expiresAt > now;

  const openDb = (): Promise<Database> =>
    open({
      dir: DIR,
      fileSystem: fs,
      clock,
      sync: config.sync,
      syncIntervalMs: 3_600_000, // the interval timer never fires during a run: 'interval' acks stay unsynced
      walSegmentBytes: config.small ? 1024 : 1 << 20,
      checkpointWalBytes: config.small ? 1024 : 1 << 30,
      checkpointOnClose,
      maintenance: { intervalMs: 0 },
      workers: 0,
      // A table this small fills in every run: crashes land before, between and after the records carrying structures.
      maxStructures: SIM_MAX_STRUCTURES,
    });

  const compare = (reader: Pick<Database, 'getEntry' | 'scan' | 'byRun' | 'byType' | 'has' | 'get'>, state: State, now: number, where: string): void => {
    const expected = [...state].filter(([, s]) => visible(s, now)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const key of KEYS) {
      const s = state.get(key);
      const want = s !== undefined && visible(s, now) ? normalize(s, key) : undefined;
      const got = normalize(reader.getEntry(key), key);
      check(isDeepStrictEqual(got, want), () => `${where}: getEntry(${key}) = ${JSON.stringify(got)}, model ${JSON.stringify(want)}`);
      check(reader.has(key) === (want !== undefined), () => `${where}: has(${key}) disagrees with getEntry`);
    }
    const scanned = [...reader.scan()].map((e) => normalize(e, e.key));
    const want = expected.map(([k, s]) => normalize(s, k));
    check(isDeepStrictEqual(scanned, want), () => `${where}: scan() = ${JSON.stringify(scanned)}, model ${JSON.stringify(want)}`);
    for (const run of RUNS) {
      const got = [...reader.byRun(run)].map((e) => e.key);
      const w = expected.filter(([, s]) => s.run === run).map(([k]) => k);
      check(isDeepStrictEqual(got, w), () => `${where}: byRun(${run}) = ${JSON.stringify(got)}, model ${JSON.stringify(w)}`);
    }
    for (const type of TYPES) {
      const got = [...reader.byType(type)].map((e) => e.key);
      const w = expected.filter(([, s]) => s.type === type).map(([k]) => k);
      check(isDeepStrictEqual(got, w), () => `${where}: byType(${type}) = ${JSON.stringify(got)}, model ${JSON.stringify(w)}`);
    }
  };

  const checkAll = (where: string): void => {
    if (db === undefined) return;
    check(db.version === modelVersion(), () => `${where}: db.version ${db!.version}, model ${modelVersion()}`);
    compare(db, current(), clock.now(), where);
    for (const s of snapshots) compare(s.snap, states[s.version]!, s.now, `${where} (snapshot at ${s.version})`);
  };

  const apply = (state: State, ops: readonly WriteOp[], now: number, version: number, valueOf: (op: WriteOp & { op: 'put' }) => unknown): State => {
    const next = new Map(state);
    for (const op of ops) {
      if (op.op === 'delete') next.delete(op.key);
      else {
        const s: { -readonly [P in keyof Stored]: Stored[P] } = { value: valueOf(op), version };
        if (op.run !== undefined) s.run = op.run;
        if (op.type !== undefined) s.type = op.type;
        if (op.ttl !== undefined) s.expiresAt = now + op.ttl;
        next.set(op.key, s);
      }
    }
    return next;
  };

  const ack = (version: number, sync: Sync): void => {
    acked = Math.max(acked, version);
    if ((sync ?? config.sync) === 'always') durable = Math.max(durable, version);
  };

  /** Runs one commit; `next` is the model state it produces. Returns false if the machine crashed under it. */
  const commit = async (label: string, next: State | undefined, run: () => Promise<unknown>, sync: Sync, expectedError?: (e: unknown) => boolean): Promise<void> => {
    const before = db!.version;
    let result: unknown;
    let error: unknown;
    let failed = false;
    try {
      result = await run();
    } catch (e) {
      error = e;
      failed = true;
    }
    const after = db!.version;
    if (after === before + 1) {
      check(next !== undefined, () => `${label}: committed (version ${after}) but should not have`);
      states.push(next);
      report.commits++;
    } else {
      check(after === before, () => `${label}: version jumped from ${before} to ${after}`);
      check(next === undefined || failed, () => `${label}: resolved without committing`);
    }
    if (!failed) {
      if (next !== undefined && typeof result === 'number') check(result === after, () => `${label}: resolved to version ${String(result)}, expected ${after}`);
      if (next !== undefined) ack(after, sync);
      return;
    }
    if (fs.crashed && isFailure(error)) return;
    check(expectedError?.(error) === true, () => `${label}: unexpected error ${describeError(error)}`);
    check(after === before, () => `${label}: failed with an expected error but committed`);
  };

  const reopenAfterCrash = async (powerLoss: boolean): Promise<void> => {
    for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve));
    report.fsOps += fs.ops;
    const image = fs.crash({ powerLoss });
    report.crashes++;
    // The old database runs on against a dead machine: nothing it does reaches the image.
    if (db !== undefined) await db.close().catch(() => undefined);
    db = undefined;
    snapshots = [];
    for (const name of ['LOCK', 'LOCK.takeover']) {
      if (image.peek(`${DIR}/${name}`) !== undefined) image.plant(`${DIR}/${name}`, Buffer.from(JSON.stringify({ pid: findDeadPid(), host: hostname(), since: 'crashed' })));
    }
    fs = image;
    const lower = powerLoss ? durable : Math.max(durable, acked);
    try {
      db = await openDb();
    } catch (error) {
      throw new SimFailure(`reopen after a ${powerLoss ? 'power loss' : 'process crash'} failed: ${describeError(error)}; files: ${fs.list(DIR).join(', ')}`);
    }
    report.reopens++;
    const r = db.version;
    check(r >= lower && r <= modelVersion(), () => `after a ${powerLoss ? 'power loss' : 'process crash'}: recovered version ${r}, must be in [${lower}, ${modelVersion()}] (durable ${durable}, acknowledged ${acked})`);
    const events = db.recovery?.events.map((e) => e.type) ?? [];
    check(!events.includes('checkpoint-fallback') && !events.includes('salvaged'), () => `a crash alone caused recovery events ${events.join(', ')}`);
    if (r < modelVersion()) report.rolledBack++;
    states.length = r + 1;
    acked = Math.min(acked, r);
    durable = Math.min(durable, r);
    checkAll(`after recovery at ${r}`);
  };

  const guard = async (label: string, body: () => Promise<void>): Promise<void> => {
    try {
      await body();
    } catch (error) {
      if (error instanceof SimFailure || !fs.crashed || !isFailure(error)) throw error instanceof SimFailure ? error : new SimFailure(`${label}: ${describeError(error)}`);
    }
  };

  db = await openDb();
  for (const [index, cmd] of commands.entries()) {
    const label = `#${index} ${JSON.stringify(cmd)}`;
    if (db === undefined) {
      // A crash during a clean reopen left no database; recover first.
      await reopenAfterCrash(pendingCrash!.powerLoss);
      pendingCrash = undefined;
    }
    const d = db!;
    const now = clock.now();
    const version = d.version + 1;
    switch (cmd.t) {
      case 'put': {
        const value = simValue(cmd.key, cmd.n);
        const next = apply(current(), [{ op: 'put', ...cmd }], now, version, () => value);
        const options = strip({ run: cmd.run, type: cmd.type, ttl: cmd.ttl, sync: cmd.sync });
        await commit(label, next, () => d.put(cmd.key, value, options), cmd.sync);
        break;
      }
      case 'del': {
        const next = apply(current(), [{ op: 'delete', key: cmd.key }], now, version, () => undefined);
        await commit(label, next, () => d.delete(cmd.key, cmd.sync ? { sync: cmd.sync } : undefined), cmd.sync);
        break;
      }
      case 'batch': {
        const ops = cmd.ops.map((o) =>
          o.op === 'delete'
            ? { op: 'delete' as const, key: o.key }
            : { op: 'put' as const, key: o.key, value: simValue(o.key, o.n), ...strip({ run: o.run, type: o.type, ttl: o.ttl }) },
        );
        if (cmd.bad === true) ops.push({ op: 'delete', key: KEYS[0], ifVersion: 999_999 } as never);
        const next = cmd.bad === true ? undefined : apply(current(), cmd.ops, now, version, (o) => simValue(o.key, o.n));
        await commit(label, next, () => d.batch(ops, cmd.sync ? { sync: cmd.sync } : undefined), cmd.sync, (e) => e instanceof EpochError && e.code === 'VERSION_MISMATCH');
        break;
      }
      case 'tx': {
        const seenStored = current().get(cmd.read);
        const seen = seenStored !== undefined && visible(seenStored, now) ? seenStored.value : null;
        const next = cmd.fail === true || cmd.writes.length === 0 ? undefined : apply(current(), cmd.writes, now, version, (o) => ({ n: o.n, seen }));
        const boom = new Error('callback failed');
        await commit(
          label,
          next,
          () =>
            d.transaction(
              (tx) => {
                const got = tx.get(cmd.read) ?? null;
                check(isDeepStrictEqual(got, seen), () => `${label}: tx.get(${cmd.read}) = ${JSON.stringify(got)}, model ${JSON.stringify(seen)}`);
                for (const w of cmd.writes) {
                  if (w.op === 'delete') tx.delete(w.key);
                  else tx.put(w.key, { n: w.n, seen: got }, strip({ run: w.run, type: w.type, ttl: w.ttl }));
                }
                if (cmd.fail === true) throw boom;
              },
              { isolation: cmd.isolation, ...strip({ sync: cmd.sync }) },
            ),
          cmd.sync,
          (e) => e === boom,
        );
        break;
      }
      case 'group': {
        const before = d.version;
        const nexts: State[] = [];
        let state = current();
        for (const [i, p] of cmd.puts.entries()) nexts.push((state = apply(state, [{ op: 'put', key: p.key, n: p.n }], now, before + i + 1, () => simValue(p.key, p.n))));
        // Same turn of the event loop: one group commit.
        const results = await Promise.allSettled(cmd.puts.map((p) => d.put(p.key, simValue(p.key, p.n), p.sync ? { sync: p.sync } : undefined)));
        const committed = d.version - before;
        check(committed >= 0 && committed <= cmd.puts.length, () => `${label}: ${committed} commits for ${cmd.puts.length} puts`);
        check(committed === cmd.puts.length || fs.crashed, () => `${label}: only ${committed} of ${cmd.puts.length} committed`);
        states.push(...nexts.slice(0, committed));
        report.commits += committed;
        for (const [i, r] of results.entries()) {
          if (r.status === 'fulfilled') {
            check(r.value === before + i + 1, () => `${label}: put ${i} resolved to ${r.value}, expected ${before + i + 1}`);
            ack(r.value, cmd.puts[i]!.sync);
          } else {
            check(fs.crashed && isFailure(r.reason), () => `${label}: put ${i} failed: ${describeError(r.reason)}`);
          }
        }
        break;
      }
      case 'clock':
        clock.advance(cmd.ms);
        break;
      case 'snapshot':
        snapshots.push({ snap: d.snapshot(), version: d.version, now });
        if (snapshots.length > 3) snapshots.shift()!.snap.release();
        break;
      case 'checkpoint': {
        const at = d.version;
        await guard(label, async () => {
          await d.checkpoint();
          durable = Math.max(durable, at);
        });
        break;
      }
      case 'flushed': {
        const at = d.version;
        await guard(label, async () => {
          await d.flushed();
          durable = Math.max(durable, at);
        });
        break;
      }
      case 'crash':
        if (pendingCrash !== undefined) break;
        fs.armCrash(cmd.after);
        pendingCrash = { powerLoss: cmd.powerLoss };
        break;
      case 'reopen': {
        for (const s of snapshots) s.snap.release();
        snapshots = [];
        try {
          const at = d.version;
          // A database that failed (a background fdatasync, say) closes without making everything durable.
          const healthy = d.stats().failure === undefined;
          await d.close();
          if (healthy) durable = acked = at;
          db = undefined;
          checkpointOnClose = cmd.checkpointOnClose;
          db = await openDb();
          report.reopens++;
          check(db.version === at, () => `clean reopen: recovered version ${db!.version}, closed at ${at}`);
        } catch (error) {
          if (error instanceof SimFailure || !fs.crashed) throw error instanceof SimFailure ? error : new SimFailure(`${label}: ${describeError(error)}`);
          if (db === d) db = undefined;
        }
        break;
      }
    }
    if (pendingCrash !== undefined && fs.crashed) {
      await reopenAfterCrash(pendingCrash.powerLoss);
      pendingCrash = undefined;
    }
    checkAll(`after ${label}`);
  }
  if (pendingCrash !== undefined) {
    fs.crashNow();
    report.forcedCrashes++;
    await reopenAfterCrash(pendingCrash.powerLoss);
  }
  // Finally a clean close and reopen: exactly the model, and versions continue.
  for (const s of snapshots) s.snap.release();
  snapshots = [];
  const at = db!.version;
  await db!.close();
  db = await openDb();
  check(db.version === at, () => `final reopen: version ${db!.version}, closed at ${at}`);
  checkAll('final reopen');
  const v = await db.put(KEYS[0], 'last');
  check(v === at + 1, () => `first commit after the final reopen got version ${v}, expected ${at + 1}`);
  await db.close();
  report.fsOps += fs.ops;
  return report;
}
