/**
 * Fault injection through the injectable FileSystem: a wrapper around the real
 * `nodeFileSystem` makes a chosen write(), writeDurable() (O_DSYNC) or
 * datasync() on a WAL segment reject with an EIO error (optionally after
 * writing part of the data), or holds a write until released, and counts the
 * calls.
 *
 * The contract checked at the WalWriter / Persistence level and through the
 * public open({ fileSystem }):
 * - the appends whose write or sync failed reject with IoError (IO_ERROR);
 * - every later append (and flushed(), checkpoint()) rejects with
 *   DatabaseFailedError (FAILED); nothing is ever acknowledged after a failure;
 * - an fdatasync is never retried after a failure (no later call reaches the disk);
 * - reopening with the real file system finds every acknowledged record;
 * - group commit: N concurrent 'always' appends cost far fewer syncs than N,
 *   N sequential awaited ones cost N.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatabaseFailedError, decodeValue, encodeValue, EpochError, IoError, type CommitRecord, type FileHandle, type FileSystem, type SyncMode } from '@epochdb/core';
import { Persistence, WalWriter, nodeFileSystem, recover, type PersistenceOptions } from '@epochdb/persist';
import { open } from 'epochdb';
import { timerTurns, untilTurn } from '../support/timers.js';

// ============================================================== directories and records

const root = mkdtempSync(join(tmpdir(), 'epochdb-faults-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = (): string => join(root, `d${dirCount++}`);

const record = (version: number, size = 16): CommitRecord => ({
  version,
  time: 1_700_000_000_000 + version,
  ops: [{ kind: 'put', key: `k${version}`, encoded: encodeValue(`value-${version}-${'x'.repeat(size)}`) }],
});

const eio = (syscall: string): NodeJS.ErrnoException => Object.assign(new Error(`EIO: i/o error, ${syscall}`), { code: 'EIO', errno: -5, syscall });

const isSegment = (path: string): boolean => /^wal-\d{16}\.log$/.test(basename(path));

// ============================================================== the faulty file system

type FaultOp = 'write' | 'writeDurable' | 'datasync' | 'open';

interface Fault {
  readonly op: FaultOp;
  /** Which files (by name) the fault applies to; WAL segments unless told. */
  readonly file: (name: string) => boolean;
  /** How many matching calls to let through first. */
  skip: number;
  /** For writes: write this many bytes first (a short write, then the error). */
  readonly partial?: number;
}

/**
 * `nodeFileSystem` with faults on WAL segment files: counts write, writeDurable
 * and datasync calls on segment handles, fails the chosen ones, and can hold
 * writes until released. `durable: false` hides writeDurable, so 'always'
 * commits take the write + fdatasync path.
 */
class FaultyFileSystem implements FileSystem {
  readonly calls = { write: 0, writeDurable: 0, datasync: 0, open: 0 };
  readonly injected: FaultOp[] = [];
  #faults: Fault[] = [];
  #hold: Promise<void> | undefined;
  #held = 0;
  readonly #durable: boolean;

  constructor(options: { durable?: boolean } = {}) {
    this.#durable = options.durable ?? true;
  }

  /** fdatasync-equivalent calls: datasync plus O_DSYNC writes. */
  get syncs(): number {
    return this.calls.datasync + this.calls.writeDurable;
  }

  /** The next matching call (after `skip` that pass) rejects with EIO. */
  fail(op: FaultOp, options: { skip?: number; partial?: number; file?: (name: string) => boolean } = {}): void {
    this.#faults.push({ op, file: options.file ?? isSegment, skip: options.skip ?? 0, ...(options.partial === undefined ? {} : { partial: options.partial }) });
  }

  /** Writes that have waited on {@link FaultyFileSystem.hold} so far. */
  get held(): number {
    return this.#held;
  }

  /** Writes (plain and durable) wait until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.#hold = new Promise((resolve) => (release = resolve));
    return () => {
      this.#hold = undefined;
      release();
    };
  }

  #take(op: FaultOp, path: string): Fault | undefined {
    const index = this.#faults.findIndex((f) => f.op === op && f.file(basename(path)));
    if (index < 0) return undefined;
    const fault = this.#faults[index]!;
    if (fault.skip > 0) {
      fault.skip--;
      return undefined;
    }
    this.#faults.splice(index, 1);
    this.injected.push(op);
    return fault;
  }

  async open(path: string, flags: 'r' | 'r+' | 'w' | 'wx', mode?: number): Promise<FileHandle> {
    // Calls are counted on WAL segments only; faults apply to whatever files they name.
    const segment = isSegment(path);
    if (segment) this.calls.open++;
    if (this.#take('open', path) !== undefined) throw eio('open');
    const real = await nodeFileSystem.open(path, flags, mode);
    const write = async (kind: 'write' | 'writeDurable', data: Uint8Array, position: number): Promise<void> => {
      if (segment) this.calls[kind]++;
      if (segment && this.#hold !== undefined) {
        this.#held++;
        await this.#hold;
      }
      const fault = this.#take(kind, path);
      if (fault !== undefined) {
        if (fault.partial !== undefined) await real.write(data.subarray(0, fault.partial), position);
        throw eio(kind === 'write' ? 'write' : 'write (O_DSYNC)');
      }
      await (kind === 'write' ? real.write(data, position) : real.writeDurable!(data, position));
    };
    const handle: FileHandle = {
      write: (data, position) => write('write', data, position),
      read: (position, length) => real.read(position, length),
      datasync: async () => {
        if (segment) this.calls.datasync++;
        if (this.#take('datasync', path) !== undefined) throw eio('fdatasync');
        await real.datasync();
      },
      truncate: (length) => real.truncate(length),
      size: () => real.size(),
      close: () => real.close(),
    };
    if (this.#durable && real.writeDurable !== undefined) handle.writeDurable = (data, position) => write('writeDurable', data, position);
    return handle;
  }

  readFile = (path: string): Promise<Buffer> => nodeFileSystem.readFile(path);
  readdir = (path: string): Promise<string[]> => nodeFileSystem.readdir(path);
  mkdir = (path: string, mode?: number): Promise<void> => nodeFileSystem.mkdir(path, mode);
  rename = (from: string, to: string): Promise<void> => nodeFileSystem.rename(from, to);
  unlink = (path: string): Promise<void> => nodeFileSystem.unlink(path);
  size = (path: string): Promise<number | undefined> => nodeFileSystem.size(path);
  syncDir = (path: string): Promise<void> => nodeFileSystem.syncDir(path);
}

// ============================================================== helpers

const OPTIONS: Omit<PersistenceOptions, 'dir'> = {
  sync: 'always',
  syncIntervalMs: 1000,
  walSegmentBytes: 1 << 20,
  checkpointWalBytes: 1 << 30,
  recovery: 'strict',
};

async function openPersistence(fs: FileSystem, options: Partial<PersistenceOptions> = {}): Promise<{ dir: string; persistence: Persistence }> {
  const dir = options.dir ?? freshDir();
  const { persistence } = await Persistence.open({ ...OPTIONS, fs, ...options, dir });
  return { dir, persistence };
}

/** Reopens `dir` with the real file system: the versions recovered (checked contiguous from 1, each with its own key and value) and the events. */
async function recovered(dir: string): Promise<{ versions: number[]; events: string[] }> {
  const { persistence, recovered: r } = await Persistence.open({ ...OPTIONS, dir });
  await persistence.close();
  const versions = r.records.map((rec) => rec.version);
  expect(versions, 'recovered versions are contiguous from 1').toEqual(versions.map((_, i) => i + 1));
  for (const rec of r.records) {
    const op = rec.ops[0]!;
    expect(op.key).toBe(`k${rec.version}`);
    expect(op.kind === 'put' && (decodeValue(op.encoded) as string).startsWith(`value-${rec.version}-`)).toBe(true);
  }
  return { versions, events: r.events.filter((e) => e.type !== 'progress').map((e) => e.type) };
}

async function rejection(promise: Promise<unknown>): Promise<EpochError> {
  try {
    await promise;
  } catch (error) {
    expect(error, `a raw ${(error as Error)?.constructor?.name} escaped: ${String(error)}`).toBeInstanceOf(EpochError);
    return error as EpochError;
  }
  return expect.fail('expected a rejection, but it resolved (acknowledged)');
}

async function expectIoError(promise: Promise<unknown>): Promise<IoError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(IoError);
  expect(error.code).toBe('IO_ERROR');
  expect((error.cause as NodeJS.ErrnoException | undefined)?.code).toBe('EIO');
  return error as IoError;
}

async function expectFailed(promise: Promise<unknown>): Promise<void> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(DatabaseFailedError);
  expect(error.code).toBe('FAILED');
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function appendAll(persistence: Persistence, versions: number[], sync: SyncMode): Promise<void> {
  for (const v of versions) await persistence.append(record(v), sync);
}

/** Waits for `condition`, checking every 5 ms timer turn (a turn count, not a wall-clock deadline, bounds it). */
const waitFor = (condition: () => boolean, what = 'a condition'): Promise<void> => untilTurn(condition, what, 5);

// ============================================================== Persistence: single faults

describe('Persistence: a failed write or fdatasync fails the WAL for good', () => {
  const cases: Array<{ label: string; durable: boolean; sync: SyncMode; fault: FaultOp; partial?: number; written: 'no' | 'maybe' | 'torn' }> = [
    { label: "'always', O_DSYNC write fails", durable: true, sync: 'always', fault: 'writeDurable', written: 'no' },
    { label: "'always', O_DSYNC write fails after a short write", durable: true, sync: 'always', fault: 'writeDurable', partial: 11, written: 'torn' },
    { label: "'always', write fails (write + fdatasync path)", durable: false, sync: 'always', fault: 'write', written: 'no' },
    { label: "'always', write fails after a short write", durable: false, sync: 'always', fault: 'write', partial: 5, written: 'torn' },
    { label: "'always', fdatasync fails", durable: false, sync: 'always', fault: 'datasync', written: 'maybe' },
    { label: "'none', write fails", durable: true, sync: 'none', fault: 'write', written: 'no' },
    { label: "'interval', write fails after a short write", durable: true, sync: 'interval', fault: 'write', partial: 20, written: 'torn' },
  ];

  for (const c of cases) {
    it(c.label, async () => {
      const fs = new FaultyFileSystem({ durable: c.durable });
      const { dir, persistence } = await openPersistence(fs, { syncIntervalMs: 10 });
      await appendAll(persistence, range(1, 5), c.sync);
      fs.fail(c.fault, c.partial === undefined ? {} : { partial: c.partial });

      const error = await expectIoError(persistence.append(record(6), c.sync));
      expect(fs.injected).toEqual([c.fault]);
      expect(persistence.failed).toBe(error);
      const syncsAtFailure = fs.syncs;
      const writesAtFailure = fs.calls.write + fs.calls.writeDurable;

      // Everything afterwards is refused, and nothing more reaches the file.
      await expectFailed(persistence.append(record(7), 'always'));
      await expectFailed(persistence.append(record(7), 'none'));
      await expectFailed(persistence.flushed());
      await expectFailed(persistence.checkpoint(5, []));
      await timerTurns(10, 4); // the interval timer (10 ms) has had several turns
      await persistence.close();
      expect(fs.syncs, 'no fdatasync after the failure (never retried)').toBe(syncsAtFailure);
      expect(fs.calls.write + fs.calls.writeDurable, 'no write after the failure').toBe(writesAtFailure);
      expect(readdirSync(dir).some((n) => n.endsWith('.ckpt'))).toBe(false);
      expect(existsSync(join(dir, 'LOCK'))).toBe(false);

      const after = await recovered(dir);
      if (c.written === 'maybe') expect(after.versions.length, 'acknowledged 1..5 present; the failed 6 may be').toBeOneOf([5, 6]);
      else expect(after.versions).toEqual(range(1, 5));
      expect(after.events).toEqual(c.written === 'torn' ? ['truncated'] : []);
    });
  }

  it('concurrent appends of the same group all reject with IoError; appends queued behind the failing group reject with FAILED', async () => {
    for (const durable of [true, false]) {
      const fs = new FaultyFileSystem({ durable });
      const { dir, persistence } = await openPersistence(fs);
      await appendAll(persistence, range(1, 3), 'always');
      const release = fs.hold();
      fs.fail(durable ? 'writeDurable' : 'write', { partial: 30 });
      // One group (same turn of the event loop), mixed sync modes.
      const group = range(4, 9).map((v, i) => persistence.append(record(v), (['always', 'none', 'interval'] as const)[i % 3]!));
      await waitFor(() => fs.held > 0, "the group's write is in flight and held");
      const queued = range(10, 12).map((v) => persistence.append(record(v), 'always'));
      release();
      const errors = await Promise.all(group.map(expectIoError));
      expect(new Set(errors).size, 'one failure, one error').toBe(1);
      for (const p of queued) await expectFailed(p);
      await expectFailed(persistence.append(record(13), 'always'));
      await persistence.close();
      expect(await recovered(dir)).toEqual({ versions: range(1, 3), events: ['truncated'] });
    }
  });

  it("'interval': the timer's fdatasync failure fails the writer; later appends reject, nothing is retried", async () => {
    const fs = new FaultyFileSystem();
    const { dir, persistence } = await openPersistence(fs, { sync: 'interval', syncIntervalMs: 10 });
    // Baseline: the timer syncs pending 'interval' writes by itself.
    const before = fs.calls.datasync;
    await appendAll(persistence, range(1, 3), 'interval');
    await waitFor(() => fs.calls.datasync > before);

    fs.fail('datasync');
    await persistence.append(record(4), 'interval'); // acknowledged: written to the OS
    await waitFor(() => persistence.failed !== undefined);
    expect(persistence.failed).toBeInstanceOf(IoError);
    expect(fs.injected).toEqual(['datasync']);
    const syncs = fs.syncs;
    await expectFailed(persistence.append(record(5), 'interval'));
    await expectFailed(persistence.append(record(5), 'always'));
    await expectFailed(persistence.flushed());
    await timerTurns(10, 5); // the interval timer has had five more turns
    await persistence.close();
    expect(fs.syncs, 'the failed fdatasync is never retried').toBe(syncs);
    // 4 was acknowledged (written to the OS): the process did not crash, so it is there.
    expect((await recovered(dir)).versions).toEqual(range(1, 4));
  });

  it("'none' writes are never fdatasync'ed by the timer, only by flushed()/close()", async () => {
    const fs = new FaultyFileSystem();
    const { dir, persistence } = await openPersistence(fs, { sync: 'none', syncIntervalMs: 5 });
    const before = fs.syncs;
    await appendAll(persistence, range(1, 10), 'none');
    await timerTurns(5, 8); // the interval timer (5 ms) has had eight turns
    expect(fs.syncs).toBe(before);
    await persistence.flushed();
    expect(fs.syncs).toBe(before + 1);
    await persistence.close();
    expect((await recovered(dir)).versions).toEqual(range(1, 10));
  });

  it('a failed rotation (the next segment cannot be created) keeps the acknowledged batch and fails every later append', async () => {
    for (const fault of ['open', 'datasync'] as const) {
      const fs = new FaultyFileSystem();
      const { dir, persistence } = await openPersistence(fs, { walSegmentBytes: 200 });
      fs.fail(fault);
      // Each record is ~40 bytes: the segment passes 200 bytes within 5 appends and rotates.
      let acknowledged = 0;
      let failure: EpochError | undefined;
      for (let v = 1; v <= 20 && failure === undefined; v++) {
        try {
          await persistence.append(record(v), 'none');
          acknowledged = v;
        } catch (error) {
          failure = error as EpochError;
        }
      }
      expect(fs.injected, fault).toEqual([fault]);
      expect(failure, fault).toBeInstanceOf(DatabaseFailedError);
      expect(persistence.failed, fault).toBeInstanceOf(IoError);
      await persistence.close();
      const after = await recovered(dir);
      expect(after.versions.slice(0, acknowledged), `${fault}: every acknowledged record survives`).toEqual(range(1, acknowledged));
    }
  });

  it('a fault while opening (creating the first segment, reading a segment) is a typed IoError and releases the lock', async () => {
    const fs = new FaultyFileSystem();
    fs.fail('open');
    const dir = freshDir();
    const error = await rejection(Persistence.open({ ...OPTIONS, fs, dir }));
    expect(error).toBeInstanceOf(IoError);
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);

    const { persistence } = await openPersistence(nodeFileSystem, { dir });
    await appendAll(persistence, range(1, 3), 'always');
    await persistence.close();
    const reading: FileSystem = { ...nodeFileSystem, readFile: async (path) => (isSegment(path) ? Promise.reject(eio('read')) : nodeFileSystem.readFile(path)) };
    const readError = await rejection(Persistence.open({ ...OPTIONS, fs: reading, dir }));
    expect(readError).toBeInstanceOf(IoError);
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
    expect((await recovered(dir)).versions).toEqual(range(1, 3));
  });
});

// ============================================================== regressions: syncs outside the batch path

describe('fdatasync failures outside a write batch (flushed, checkpoint rotation, close)', () => {
  it('regression: a failed fdatasync in flushed() must fail the writer with IoError, and must never be retried', async () => {
    // WalWriter.flushed() calls #datasync() directly: its error escapes raw (not an
    // IoError), #failed stays unset, and the next 'always' append runs fdatasync again.
    // After a failed fsync the kernel may have dropped the dirty pages and cleared the
    // error, so the retry "succeeds" and acknowledges records that may never reach disk.
    const fs = new FaultyFileSystem();
    const { persistence } = await openPersistence(fs);
    await appendAll(persistence, range(1, 3), 'none');
    fs.fail('datasync');
    const syncsBefore = fs.calls.datasync;
    const flushError = await persistence.flushed().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(fs.calls.datasync).toBe(syncsBefore + 1);
    const retried = await persistence.append(record(4), 'always').then(
      () => 'acknowledged',
      (error: unknown) => (error as EpochError).code,
    );
    await persistence.close();
    expect.soft(flushError, 'flushed() rejects with IoError').toBeInstanceOf(IoError);
    expect.soft(persistence.failed, 'the writer is failed').toBeInstanceOf(IoError);
    expect.soft(retried, 'a later append is refused, not acknowledged').toBe('FAILED');
    expect.soft(fs.calls.datasync, 'fdatasync was retried after its failure').toBe(syncsBefore + 1);
  });

  it('regression: a failed fdatasync while a checkpoint rotates the WAL must fail the writer with IoError', async () => {
    // Persistence.checkpoint() -> WalWriter.rotate() -> #rotate() -> #datasync(): same
    // escape as flushed(): a raw EIO error, the writer keeps accepting and acknowledging.
    const fs = new FaultyFileSystem();
    const { persistence } = await openPersistence(fs);
    await appendAll(persistence, range(1, 3), 'interval');
    fs.fail('datasync');
    const checkpointError = await persistence.checkpoint(3, []).then(
      () => undefined,
      (error: unknown) => error,
    );
    const later = await persistence.append(record(4), 'always').then(
      () => 'acknowledged',
      (error: unknown) => (error as EpochError).code,
    );
    await persistence.close();
    expect.soft(checkpointError, 'checkpoint() rejects with a typed error').toBeInstanceOf(EpochError);
    expect.soft(persistence.failed, 'the writer is failed').toBeInstanceOf(IoError);
    expect.soft(later, 'a later append is refused').toBe('FAILED');
  });

  it('regression: db.close() whose final fdatasync fails rejects with a typed IoError, not a raw EIO error', async () => {
    const fs = new FaultyFileSystem();
    const dir = freshDir();
    const db = await open({ dir, fileSystem: fs, sync: 'none', checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    await db.put('a', 1);
    fs.fail('datasync');
    const error = await db.close().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(fs.injected).toEqual(['datasync']);
    expect(existsSync(join(dir, 'LOCK')), 'the lock is released anyway').toBe(false);
    expect(error, `close() rejected with ${String(error)}`).toBeInstanceOf(IoError);
  });
});

// ============================================================== checkpoint files

describe('a failed checkpoint write', () => {
  const isCheckpointTemp = (name: string): boolean => /\.ckpt\.[0-9a-f]+\.tmp$/.test(name);

  it('leaves the database writable, no temporary file behind, and the state intact on reopen', async () => {
    for (const op of ['write', 'datasync'] as const) {
      const fs = new FaultyFileSystem();
      const dir = freshDir();
      const db = await open({ dir, fileSystem: fs, maintenance: { intervalMs: 0 } });
      await db.put('a', 1);
      fs.fail(op, { file: isCheckpointTemp });
      await db.checkpoint().then(() => expect.fail(`${op}: checkpoint() resolved`), () => undefined); // the error's type: see the regression below
      expect(fs.injected, op).toEqual([op]);
      expect(readdirSync(dir).filter((n) => n.endsWith('.tmp') || n.endsWith('.ckpt')), op).toEqual([]);
      expect(await db.put('b', 2), `${op}: the WAL is not failed by a checkpoint failure`).toBe(2);
      await db.checkpoint(); // a later one succeeds
      await db.put('c', 3);
      fs.fail(op, { file: isCheckpointTemp });
      await db.close().catch(() => undefined); // the checkpoint on close fails; the WAL is still flushed and closed
      expect(existsSync(join(dir, 'LOCK'))).toBe(false);
      const again = await open({ dir, maintenance: { intervalMs: 0 } });
      expect([again.version, again.get('a'), again.get('b'), again.get('c')], op).toEqual([3, 1, 2, 3]);
      expect(again.recovery?.checkpointVersion, op).toBe(2);
      await again.close();
    }
  });

  it('regression: db.checkpoint() and db.close() reject with a typed IoError when the checkpoint file cannot be written, not a raw EIO error', async () => {
    // writeCheckpoint() rethrows the file-system error as is; Persistence.checkpoint(),
    // Database.checkpoint() and Database.close() pass it on: callers get a plain
    // Error with code 'EIO' where every other file-system failure is an IoError.
    const fs = new FaultyFileSystem();
    const dir = freshDir();
    const db = await open({ dir, fileSystem: fs, maintenance: { intervalMs: 0 } });
    await db.put('a', 1);
    fs.fail('datasync', { file: isCheckpointTemp });
    const checkpointError = await db.checkpoint().then(() => undefined, (e: unknown) => e);
    fs.fail('datasync', { file: isCheckpointTemp });
    const closeError = await db.close().then(() => undefined, (e: unknown) => e);
    expect.soft(checkpointError, `checkpoint() rejected with ${String(checkpointError)}`).toBeInstanceOf(IoError);
    expect.soft(closeError, `close() rejected with ${String(closeError)}`).toBeInstanceOf(IoError);
  });
});

// ============================================================== WalWriter level

describe('WalWriter with a faulty file system', () => {
  async function writer(fs: FileSystem, options: { segmentBytes?: number; syncIntervalMs?: number; earlyWriteBytes?: number } = {}): Promise<{ dir: string; wal: WalWriter }> {
    const dir = freshDir();
    await recover({ fs: nodeFileSystem, dir, mode: 'strict' }); // creates the directory and its marker
    const wal = await WalWriter.create({ fs, dir, segmentBytes: options.segmentBytes ?? 1 << 20, syncIntervalMs: options.syncIntervalMs ?? 1000, earlyWriteBytes: options.earlyWriteBytes }, 1);
    return { dir, wal };
  }

  it('a failed O_DSYNC write: the group rejects with IoError, later appends with FAILED synchronously-rejected promises, close() still works', async () => {
    const fs = new FaultyFileSystem();
    const { dir, wal } = await writer(fs);
    for (const v of range(1, 4)) await wal.append(record(v), 'always');
    fs.fail('writeDurable');
    const group = [wal.append(record(5), 'always'), wal.append(record(6), 'always')];
    for (const p of group) await expectIoError(p);
    expect(wal.failed).toBeInstanceOf(IoError);
    let later: Promise<void> | undefined;
    expect(() => (later = wal.append(record(7), 'always')), 'append never throws synchronously').not.toThrow();
    await expectFailed(later!);
    await expectFailed(wal.flushed());
    await expectFailed(wal.rotate());
    await wal.close();
    const r = await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
    expect(r.records.map((x) => x.version)).toEqual(range(1, 4));
  });

  it('a failed early write (a group written inside the run that appends it): its whole group rejects with IoError, the group gathering behind it with FAILED, and nothing is written after it', async () => {
    for (const durable of [true, false]) {
      const fs = new FaultyFileSystem({ durable });
      const { dir, wal } = await writer(fs, { earlyWriteBytes: 200 });
      for (const v of range(1, 3)) await wal.append(record(v), 'always');
      const writesBefore = fs.calls.write + fs.calls.writeDurable;
      const release = fs.hold();
      fs.fail(durable ? 'writeDurable' : 'write', { partial: 25 });
      // One synchronous run, past earlyWriteBytes several times over.
      const appended = range(4, 23).map((v) => wal.append(record(v), 'always'));
      expect(fs.calls.write + fs.calls.writeDurable - writesBefore, `durable=${durable}: the early write started inside the run, and only one`).toBe(1);
      const early = appended.findIndex((p) => p !== appended[0]);
      expect(early, 'the run split into the early group and the one gathering behind it').toBeGreaterThan(0);
      expect(new Set(appended.slice(early)).size).toBe(1);
      release();
      const errors = await Promise.all(appended.slice(0, early).map(expectIoError));
      expect(new Set(errors).size, 'one failure, one error').toBe(1);
      for (const p of appended.slice(early)) await expectFailed(p);
      expect(fs.calls.write + fs.calls.writeDurable - writesBefore, 'no write after the failed one').toBe(1);
      expect(wal.failed).toBeInstanceOf(IoError);
      await expectFailed(wal.append(record(24), 'always'));
      await wal.close();
      expect(await recovered(dir)).toEqual({ versions: range(1, 3), events: ['truncated'] });
    }
  });

  it('group commit: N concurrent always-appends cost far fewer syncs than N; N sequential awaited ones cost N', async () => {
    const N = 40;
    for (const durable of [true, false]) {
      const fs = new FaultyFileSystem({ durable });
      const { dir, wal } = await writer(fs);
      let base = fs.syncs;
      await Promise.all(range(1, N).map((v) => wal.append(record(v), 'always')));
      const concurrent = fs.syncs - base;
      expect(concurrent, `durable=${durable}: ${concurrent} syncs for ${N} concurrent commits`).toBeLessThanOrEqual(2);
      expect(concurrent).toBeGreaterThanOrEqual(1);

      base = fs.syncs;
      const syncsCounter = wal.syncs;
      for (const v of range(N + 1, 2 * N)) await wal.append(record(v), 'always');
      expect(fs.syncs - base, `durable=${durable}: sequential`).toBe(N);
      expect(wal.syncs - syncsCounter, 'the writer counts what reached the disk').toBe(N);
      expect(durable ? fs.calls.datasync - 1 : fs.calls.writeDurable, 'the path taken').toBe(0); // (1: the segment header's fdatasync)

      // Many concurrent waves: still far fewer syncs than commits.
      base = fs.syncs;
      const waves: Promise<void>[] = [];
      for (let wave = 0; wave < 5; wave++) {
        for (let i = 0; i < N; i++) waves.push(wal.append(record(2 * N + wave * N + i + 1), 'always'));
        await Promise.resolve();
      }
      await Promise.all(waves);
      expect(fs.syncs - base, 'at most one sync per wave').toBeLessThanOrEqual(5);
      await wal.close();
      const r = await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
      expect(r.records.map((x) => x.version)).toEqual(range(1, 7 * N));
    }
  });

  it("'always' and 'none' in the same group: the group gets one sync and all of it is durable", async () => {
    const fs = new FaultyFileSystem({ durable: false });
    const { wal } = await writer(fs);
    const base = fs.calls.datasync;
    await Promise.all([wal.append(record(1), 'none'), wal.append(record(2), 'always'), wal.append(record(3), 'none')]);
    expect(fs.calls.datasync - base).toBe(1);
    const again = fs.calls.datasync;
    await wal.flushed();
    expect(fs.calls.datasync, 'nothing left dirty').toBe(again);
    await wal.close();
  });
});

// ============================================================== end to end through open({ fileSystem })

describe('the failed state through the public API (open({ fileSystem }))', () => {
  for (const fault of ['writeDurable', 'datasync'] as const) {
    it(`a failed ${fault}: the write rejects IO_ERROR, every later write FAILED, reads work, close() skips the checkpoint, reopen has every acknowledged write`, async () => {
      const fs = new FaultyFileSystem({ durable: fault === 'writeDurable' });
      const dir = freshDir();
      const db = await open({ dir, fileSystem: fs, maintenance: { intervalMs: 0 } }); // checkpointOnClose: true (default)
      for (let i = 0; i < 5; i++) expect(await db.put(`key${i}`, { i })).toBe(i + 1);
      fs.fail(fault);
      await expectIoError(db.put('lost', 'x'));

      let later: Promise<number> | undefined;
      expect(() => (later = db.put('later', 1)), 'write methods never throw synchronously').not.toThrow();
      await expectFailed(later!);
      await expectFailed(db.delete('key0'));
      await expectFailed(db.batch([{ op: 'put', key: 'b', value: 1 }]));
      await expectFailed(db.transaction((tx) => tx.put('t', 1)));
      await expectFailed(db.flushed());
      await expectFailed(db.checkpoint());
      expect(db.get('key3')).toEqual({ i: 3 });
      const syncs = fs.syncs;
      await db.close();
      expect(fs.syncs, 'close() after a failure syncs nothing').toBe(syncs);
      expect(readdirSync(dir).some((n) => n.endsWith('.ckpt')), 'no checkpoint of the in-memory state (which holds the failed write)').toBe(false);
      expect(existsSync(join(dir, 'LOCK'))).toBe(false);

      const again = await open({ dir, maintenance: { intervalMs: 0 } });
      for (let i = 0; i < 5; i++) expect(again.get(`key${i}`)).toEqual({ i });
      if (fault === 'writeDurable') {
        expect(again.has('lost'), 'a write that failed before reaching the file is not resurrected').toBe(false);
        expect(again.version).toBe(5);
      } else {
        expect(again.version).toBeOneOf([5, 6]);
      }
      expect(again.has('later')).toBe(false);
      expect(await again.put('next', 1)).toBe(again.version);
      await again.close();
    });
  }
});
