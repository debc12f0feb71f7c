/**
 * The life of a persistent database directory, end to end through the public
 * API, on real directories:
 *
 * (a) the directory lock: a second open in this process or by a live other
 *     process is LOCKED (naming the holder), a lock left by a dead process or
 *     a half-written one is taken over, a lock from another host is respected;
 * (b) everything EpochDB creates is owner-only (files 0600, directories 0700);
 * (c) online backup: a consistent copy of exactly one version while writes go
 *     on, that opens as a normal database; non-empty destinations are refused;
 *     memory-only databases back up too;
 * (d) flushed() and the 'interval' timer (fdatasync without further writes;
 *     nothing to sync means no sync; 'none' writes are never synced by the timer);
 * (e) automatic checkpoints bound what stays on disk;
 * (f) close(): every method refuses with CLOSED afterwards, writes issued while
 *     it runs are refused, writes issued before it are kept, closing twice is fine;
 * (g) per-write sync overrides, observed through stats().walSyncs.
 *
 * The child processes run the BUILT package (packages/epochdb/dist, as the
 * other child-process tests do): `npx tsc -b` first when the sources changed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { timerTurns, untilTurn } from '../support/timers.js';
import {
  DatabaseClosedError,
  EpochError,
  LockedError,
  ManualClock,
  nodeFileSystem,
  open,
  type Database,
  type Entry,
  type ErrorCode,
  type FileSystem,
  type OpenOptions,
} from 'epochdb';

const DIST = fileURLToPath(new URL('../../packages/epochdb/dist/index.js', import.meta.url));
const T0 = 1_700_000_000_000;

// ---------------------------------------------------------------- helpers

const dirs: string[] = [];
const dbs: Database[] = [];
const children: ChildProcess[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'epochdb-lifecycle-'));
  dirs.push(dir);
  return dir;
}

/** Opens a database that afterEach closes (closing twice is harmless). */
async function openDb(options: OpenOptions): Promise<Database> {
  const db = await open({ maintenance: { intervalMs: 0 }, ...options });
  dbs.push(db);
  return db;
}

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const db of dbs.splice(0)) await db.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** The rejection of `promise`, which must be an EpochError with `code`. */
async function rejection(promise: Promise<unknown>, code: ErrorCode): Promise<EpochError> {
  let error: unknown;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  expect(error, `expected a rejection with ${code}`).toBeInstanceOf(EpochError);
  expect((error as EpochError).code).toBe(code);
  return error as EpochError;
}

/** What `fn` throws, which must be an EpochError with `code`. */
function thrown(fn: () => unknown, code: ErrorCode): EpochError {
  let error: unknown;
  try {
    fn();
  } catch (caught) {
    error = caught;
  }
  expect(error, `expected a throw with ${code}`).toBeInstanceOf(EpochError);
  expect((error as EpochError).code).toBe(code);
  return error as EpochError;
}

/** An entry as a plain object with only its defined fields. */
function plain(e: Entry | undefined): Record<string, unknown> | undefined {
  if (e === undefined) return undefined;
  const out: Record<string, unknown> = { key: e.key, value: e.value, version: e.version };
  if (e.run !== undefined) out.run = e.run;
  if (e.type !== undefined) out.type = e.type;
  if (e.expiresAt !== undefined) out.expiresAt = e.expiresAt;
  return out;
}


/** The pid of a process that has exited (and been reaped), so nothing runs under it. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
  const pid = child.pid!;
  expect(() => process.kill(pid, 0), 'the pid must be free').toThrow();
  return pid;
}

/**
 * A child process (running the built package) that opens `dir`, writes
 * 'from-child', says "ready", and holds the database open until its stdin
 * closes; then it closes the database and exits.
 */
async function spawnHolder(dir: string): Promise<ChildProcess> {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npx tsc -b\` first`);
  const script = `
    const { open } = await import(${JSON.stringify(DIST)});
    const db = await open({ dir: ${JSON.stringify(dir)}, maintenance: { intervalMs: 0 } });
    await db.put('from-child', process.pid);
    process.stdin.on('end', async () => {
      await db.close();
      process.exit(0);
    });
    process.stdin.resume();
    process.stdout.write('ready\\n');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('ready\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before opening the database: ${stderr}`)));
    setTimeout(() => reject(new Error(`the holder did not open the database within 10 s: ${stderr}`)), 10_000).unref();
  });
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

// ---------------------------------------------------------------- (a) the lock

describe('(a) the directory lock', () => {
  it('a second open in this process is LOCKED, naming this process; the first keeps working; after close() it opens', async () => {
    const dir = await tempDir();
    const first = await openDb({ dir });
    await first.put('k', 1);
    const lockBefore = await readFile(join(dir, 'LOCK'), 'utf8');

    const error = await rejection(open({ dir }), 'LOCKED');
    expect(error).toBeInstanceOf(LockedError);
    expect(error.message).toContain(dir);
    expect(error.message).toContain('this process');
    // Still locked (a failed open must not release or replace someone else's lock).
    await rejection(open({ dir }), 'LOCKED');
    expect(await readFile(join(dir, 'LOCK'), 'utf8')).toBe(lockBefore);
    expect(JSON.parse(lockBefore)).toMatchObject({ pid: process.pid, host: hostname() });

    // The first database is unaffected.
    expect(await first.put('k', 2)).toBe(2);
    await first.close();
    expect(await readdir(dir)).not.toContain('LOCK');

    const second = await openDb({ dir });
    expect(second.get('k')).toBe(2);
    expect(second.version).toBe(2);
  });

  it('a LOCK left by a dead process on this host is taken over', async () => {
    const dir = await tempDir();
    const db = await openDb({ dir });
    await db.put('k', 'before the crash');
    await db.close();
    const pid = await deadPid();
    await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid, host: hostname(), since: new Date(0).toISOString() }), { mode: 0o600 });

    const again = await openDb({ dir });
    expect(again.get('k')).toBe('before the crash');
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
    // And the taken-over lock is a real one.
    const error = await rejection(open({ dir }), 'LOCKED');
    expect(error.message).toContain('this process');
  });

  it('a LOCK left by a dead process in a fresh directory is taken over too', async () => {
    const dir = join(await tempDir(), 'db');
    await mkdir(dir);
    await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid: await deadPid(), host: hostname(), since: 'x' }));
    const db = await openDb({ dir });
    expect(await db.put('k', 1)).toBe(1);
  });

  it('a half-written (unreadable) LOCK is treated as stale', async () => {
    const dir = await tempDir();
    await (await openDb({ dir })).close();
    await writeFile(join(dir, 'LOCK'), '{"pid": 12');
    const db = await openDb({ dir });
    expect(db.version).toBe(0);
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid });
  });

  it('a LOCK held on another host is respected (its pid cannot be checked from here), naming pid and host', async () => {
    const dir = await tempDir();
    await (await openDb({ dir })).close();
    const pid = await deadPid();
    await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid, host: 'some-other-host.example', since: '2026-01-01T00:00:00.000Z' }));
    const error = await rejection(open({ dir }), 'LOCKED');
    expect(error.message).toContain(`process ${pid} on some-other-host.example`);
    expect(await readFile(join(dir, 'LOCK'), 'utf8')).toContain('some-other-host.example');
  });

  it('two opens of the same fresh directory at once: exactly one wins, the other is LOCKED', async () => {
    for (let trial = 0; trial < 10; trial++) {
      const dir = join(await tempDir(), 'db');
      const results = await Promise.allSettled([open({ dir }), open({ dir })]);
      const opened = results.filter((r): r is PromiseFulfilledResult<Database> => r.status === 'fulfilled').map((r) => r.value);
      dbs.push(...opened);
      expect(opened.length, `trial ${trial}`).toBe(1);
      const failure = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(failure.reason).toBeInstanceOf(LockedError);
    }
  });

  it('a lock held by a live other process is LOCKED naming its pid; once it closes, the directory opens here with its writes', async () => {
    const dir = await tempDir();
    const child = await spawnHolder(dir);
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: child.pid, host: hostname() });

    const error = await rejection(open({ dir }), 'LOCKED');
    expect(error).toBeInstanceOf(LockedError);
    expect(error.message).toContain(`process ${child.pid} on ${hostname()}`);
    // Our failed attempt left the holder's lock alone.
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: child.pid });

    child.stdin!.end();
    expect(await exited(child)).toBe(0);
    const db = await openDb({ dir });
    expect(db.get('from-child')).toBe(child.pid);
    expect(db.version).toBe(1);
  });
});

// ---------------------------------------------------------------- (b) permissions

describe('(b) file permissions', () => {
  it('every file and directory EpochDB creates is owner-only, even with umask 0', async () => {
    // umask 0 makes the modes EpochDB asks for the modes it gets (process.umask cannot be set in worker threads).
    let previousUmask: number | undefined;
    try {
      previousUmask = process.umask(0);
    } catch {
      previousUmask = undefined;
    }
    try {
      const root = await tempDir();
      const dir = join(root, 'db'); // created by open()
      const db = await openDb({ dir, sync: 'none', walSegmentBytes: 1024, checkpointWalBytes: 1024 });
      for (let i = 0; i < 60; i++) await db.put(`k${i}`, 'x'.repeat(100), { type: 't' });
      await db.checkpoint();
      await db.put('after', 1);
      const backupDir = join(root, 'backup'); // created by backup()
      await db.backup(backupDir);

      const modes: Record<string, string> = {};
      const walk = async (path: string, label: string): Promise<void> => {
        const info = await stat(path);
        modes[label] = (info.mode & 0o777).toString(8);
        if (info.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name), `${label}/${name}`);
      };
      await walk(dir, 'db');
      await walk(backupDir, 'backup');
      const names = Object.keys(modes);
      // Make sure every kind of file was there to be checked.
      for (const pattern of [/^db\/EPOCHDB$/, /^db\/LOCK$/, /^db\/wal-\d+\.log$/, /^db\/checkpoint-\d+\.ckpt$/, /^backup\/EPOCHDB$/, /^backup\/checkpoint-\d+\.ckpt$/]) {
        expect(names.some((n) => pattern.test(n)), `a file matching ${pattern}`).toBe(true);
      }
      const open_ = Object.entries(modes).filter(([, mode]) => (parseInt(mode, 8) & 0o077) !== 0);
      expect(open_, 'files or directories readable or writable by group/others').toStrictEqual([]);
    } finally {
      if (previousUmask !== undefined) process.umask(previousUmask);
    }
  });
});

// ---------------------------------------------------------------- (c) backup

describe('(c) online backup', () => {
  it('a backup taken while writes continue holds exactly the state of one version, and opens as a normal writable database', async () => {
    const root = await tempDir();
    const clock = new ManualClock(T0);
    const db = await openDb({ dir: join(root, 'db'), clock, sync: 'none' });
    // Groups of 4 keys are always written together by one batch, with the batch's number.
    const GROUPS = 1600; // 6400 keys: the backup streams several chunks and yields between them
    const history: { version: number; group: number; value: number | undefined }[] = [];
    const writeGroup = async (group: number, value: number | undefined): Promise<void> => {
      const ops = [0, 1, 2, 3].map((i) =>
        value === undefined ? { op: 'delete' as const, key: `g${group}/${i}` } : { op: 'put' as const, key: `g${group}/${i}`, value: { group, value }, type: `t${group % 3}` },
      );
      history.push({ version: await db.batch(ops), group, value });
    };
    for (let g = 0; g < GROUPS; g += 100) {
      const ops = [];
      for (let group = g; group < g + 100; group++) {
        for (let i = 0; i < 4; i++) ops.push({ op: 'put' as const, key: `g${group}/${i}`, value: { group, value: 0 }, type: `t${group % 3}` });
      }
      const version = await db.batch(ops);
      for (let group = g; group < g + 100; group++) history.push({ version, group, value: 0 });
    }

    let stop = false;
    let n = 0;
    const writer = (async (): Promise<void> => {
      while (!stop) {
        n++;
        await writeGroup((n * 7919) % GROUPS, n % 5 === 0 ? undefined : n);
      }
    })();
    while (n < 3) await new Promise((resolve) => setImmediate(resolve)); // writes are flowing
    const dest = join(root, 'backup');
    const version = db.version; // backup() takes its snapshot synchronously, at this version
    const writesBefore = n;
    await db.backup(dest);
    const writesDuring = n - writesBefore;
    stop = true;
    await writer;
    expect(writesDuring, 'writes went on while the backup was written').toBeGreaterThan(0);
    expect(db.version).toBeGreaterThan(version);

    // The state at `version`: every batch at or below it, none above.
    const state = new Map<number, number | undefined>();
    for (const h of history) if (h.version <= version) state.set(h.group, h.value);
    const groupVersion = new Map<number, number>();
    for (const h of history) if (h.version <= version) groupVersion.set(h.group, h.version);
    const expected: Record<string, unknown>[] = [];
    for (const [group, value] of state) {
      if (value === undefined) continue;
      for (let i = 0; i < 4; i++) expected.push({ key: `g${group}/${i}`, value: { group, value }, version: groupVersion.get(group)!, type: `t${group % 3}` });
    }
    expected.sort((a, b) => ((a.key as string) < (b.key as string) ? -1 : 1));

    const copy = await openDb({ dir: dest, clock });
    expect(copy.version, 'the backup opens at the version it was taken at').toBe(version);
    const got = [...copy.scan()].map(plain);
    expect(got.length).toBe(expected.length);
    expect(got).toStrictEqual(expected);
    // Indexes are rebuilt too.
    expect([...copy.byType('t1')].map((e) => e.key)).toStrictEqual(expected.filter((e) => e.type === 't1').map((e) => e.key));

    // A normal database: writable, versions continue, durable across a reopen.
    expect(await copy.put('new', 'in the copy')).toBe(version + 1);
    await copy.close();
    const reopened = await openDb({ dir: dest, clock });
    expect(reopened.version).toBe(version + 1);
    expect(reopened.get('new')).toBe('in the copy');
    // The original never saw that write.
    expect(db.get('new')).toBeUndefined();
  });

  it('refuses a destination that is not empty (INVALID_OPTION), leaving it untouched; also the database\'s own directory', async () => {
    const root = await tempDir();
    const dir = join(root, 'db');
    const db = await openDb({ dir });
    await db.put('k', 1);
    const dest = join(root, 'dest');
    await mkdir(dest);
    await writeFile(join(dest, 'keep.txt'), 'mine');
    const error = await rejection(db.backup(dest), 'INVALID_OPTION');
    expect(error.message).toContain(dest);
    expect(await readdir(dest)).toStrictEqual(['keep.txt']);
    expect(await readFile(join(dest, 'keep.txt'), 'utf8')).toBe('mine');

    const before = (await readdir(dir)).sort();
    await rejection(db.backup(dir), 'INVALID_OPTION');
    expect((await readdir(dir)).sort()).toStrictEqual(before);

    // An existing but empty directory is fine.
    const empty = join(root, 'empty');
    await mkdir(empty);
    await db.backup(empty);
    expect((await openDb({ dir: empty })).get('k')).toBe(1);
  });

  it('backs up a memory-only database: entries with their versions, tags and expiry', async () => {
    const clock = new ManualClock(T0);
    const db = await openDb({ clock });
    await db.put('a', { nested: [1, 'two'] }, { run: 'r1', type: 'doc' });
    await db.put('b', new Map<unknown, unknown>([['when', new Date(5)], [1, new Uint8Array([1, 2])]]), { ttl: 60_000 });
    await db.put('c', 12n ** 30n);
    await db.delete('c');
    await db.put('d', -0, { expiresAt: T0 + 10 });
    await db.put('gone', 'expires before the backup', { ttl: 5 });
    clock.advance(5);
    const dest = join(await tempDir(), 'backup');
    await db.backup(dest);

    const copy = await openDb({ dir: dest, clock });
    expect(copy.version).toBe(db.version);
    expect([...copy.scan()].map(plain)).toStrictEqual([...db.scan()].map(plain));
    expect(plain(copy.getEntry('a'))).toStrictEqual({ key: 'a', value: { nested: [1, 'two'] }, version: 1, run: 'r1', type: 'doc' });
    expect(copy.getEntry('b')?.expiresAt).toBe(T0 + 60_000);
    expect(Object.is(copy.get('d'), -0)).toBe(true);
    expect(copy.has('c')).toBe(false);
    expect(copy.has('gone')).toBe(false);
    expect([...copy.byRun('r1')].map((e) => e.key)).toStrictEqual(['a']);
    clock.advance(5); // 'd' expires in the copy as it would have in the original
    expect(copy.has('d')).toBe(false);
  });
});

// ---------------------------------------------------------------- (d) flushed() and the interval timer

describe('(d) flushed() and the sync timer (real timers)', () => {
  it("flushed() fdatasyncs what 'none' writes left unsynced, and only then", async () => {
    const db = await openDb({ dir: await tempDir(), sync: 'none', syncIntervalMs: 3_600_000 });
    await db.put('k', 1);
    await db.put('k', 2);
    const before = db.stats().walSyncs;
    await db.flushed();
    expect(db.stats().walSyncs).toBe(before + 1);
    await db.flushed(); // nothing new to sync
    expect(db.stats().walSyncs).toBe(before + 1);
  });

  it('flushed() resolves for a memory-only database', async () => {
    const db = await openDb({});
    await db.put('k', 1);
    await expect(db.flushed()).resolves.toBeUndefined();
    expect(db.stats()).toMatchObject({ walSyncs: 0, persistent: false });
  });

  it("'interval': the timer fdatasyncs pending writes without any further write, and stays idle when nothing is pending", async () => {
    const PERIOD = 20;
    const db = await openDb({ dir: await tempDir(), sync: 'interval', syncIntervalMs: PERIOD });
    await db.put('k', 1);
    const afterWrite = db.stats().walSyncs;
    // Wait for the timer's own turns (its fdatasync completes asynchronously), never for a fixed time.
    await untilTurn(() => db.stats().walSyncs > afterWrite, 'the timer syncs the pending write', PERIOD);
    await timerTurns(PERIOD, 2); // a sync in flight when the condition held has finished
    const afterWait = db.stats().walSyncs;
    expect(afterWait, 'the timer synced the pending write').toBeGreaterThan(afterWrite);
    await timerTurns(PERIOD, 6); // several intervals, no writes
    expect(db.stats().walSyncs, 'nothing pending: no more syncs').toBe(afterWait);
    await db.put('k', 2);
    await untilTurn(() => db.stats().walSyncs > afterWait, 'the timer syncs the new write', PERIOD);
    expect(db.stats().walSyncs, 'a new write is synced by the timer again').toBeGreaterThan(afterWait);
  });

  it("'none': writes are never fdatasync'ed by the timer", async () => {
    const db = await openDb({ dir: await tempDir(), sync: 'none', syncIntervalMs: 20 });
    const before = db.stats().walSyncs;
    await db.put('k', 1);
    await timerTurns(20, 6); // the WAL's timer has had six turns
    expect(db.stats().walSyncs).toBe(before);
  });
});

// ---------------------------------------------------------------- (e) checkpoints bound disk use

describe('(e) automatic checkpoints bound what stays on disk', () => {
  // The policy, with the merge inline (workers: 0), so how much WAL piles up while a checkpoint
  // runs does not depend on how fast a worker thread starts on a loaded machine. The same with
  // the default worker thread follows.
  it.each([
    { workers: 0, segmentsAtAnyMoment: 24, bytesAtAnyMoment: 40 * 1024 },
    // A worker's first start (a fresh V8 isolate loading the persist code) takes tens of ms more
    // on a busy 2-core machine, and writes go on meanwhile: a looser bound at any moment, the same at rest.
    { workers: 1, segmentsAtAnyMoment: 64, bytesAtAnyMoment: 96 * 1024 },
  ])('many writes with small checkpointWalBytes (workers: $workers): at most 2 checkpoints and a bounded number of WAL segments, without calling checkpoint()', async ({ workers, segmentsAtAnyMoment, bytesAtAnyMoment }) => {
    // 'always': writes and checkpoints are both bound by fdatasync, so how much WAL piles up while a
    // checkpoint runs does not depend much on the disk. The writer yields to the event loop between
    // writes, as request handlers do (one that never yields: see the regression test at the end).
    const dir = await tempDir();
    const db = await openDb({ dir, sync: 'always', walSegmentBytes: 1024, checkpointWalBytes: 4096, workers });
    // With a worker: start it first (one checkpoint of one write), so what is measured is the
    // steady state, not how long a fresh thread takes to start on a busy machine.
    const warmUp = workers > 0 ? 1 : 0;
    if (warmUp > 0) {
      await db.put('warm-up', 0);
      await db.checkpoint();
    }
    let maxCheckpoints = 0;
    let maxSegments = 0;
    let maxBytes = 0;
    const WRITES = 600;
    const VALUE = 'v'.repeat(120);
    for (let i = 1; i <= WRITES; i++) {
      await db.put(`k${i % 50}`, `${VALUE}${i}`);
      await new Promise((resolve) => setImmediate(resolve));
      if (i % 25 === 0) {
        const names = await readdir(dir);
        maxCheckpoints = Math.max(maxCheckpoints, names.filter((n) => /^checkpoint-\d+\.ckpt$/.test(n)).length);
        maxSegments = Math.max(maxSegments, names.filter((n) => /^wal-\d+\.log$/.test(n)).length);
        let bytes = 0;
        for (const name of names) bytes += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
        maxBytes = Math.max(maxBytes, bytes);
      }
    }
    const stats = db.stats();
    expect(stats.checkpoints - warmUp, 'checkpoints ran by themselves').toBeGreaterThanOrEqual(5);
    expect(stats.checkpointErrors).toBe(0);
    expect(stats.lastCheckpointVersion).toBeGreaterThan(WRITES / 2);
    // A new checkpoint is complete before the one it supersedes is deleted, so a look taken in
    // between sees three for a moment.
    expect(maxCheckpoints, 'checkpoint files at any moment').toBeLessThanOrEqual(3);
    // ~95 KB of WAL were written (about 95 segments of 1 KiB, 7 records each); only the WAL since
    // the previous checkpoint (2 x 4 KiB plus what was written while a checkpoint ran) may stay.
    expect(maxSegments, 'WAL segments at any moment').toBeLessThanOrEqual(segmentsAtAnyMoment);
    expect(maxBytes, 'bytes in the directory at any moment').toBeLessThan(bytesAtAnyMoment);

    // Once the writes stop and a checkpoint still running has finished: the newest checkpoint and its fallback.
    await vi.waitFor(() => expect(db.stats().checkpointing).toBe(false), { timeout: 10_000, interval: 20 });
    const quiet = await readdir(dir);
    expect(quiet.filter((n) => /^checkpoint-\d+\.ckpt$/.test(n)).length, 'checkpoint files at rest').toBeLessThanOrEqual(2);
    expect(quiet.filter((n) => /^wal-\d+\.log$/.test(n)).length, 'WAL segments at rest').toBeLessThanOrEqual(24);
    expect(quiet.filter((n) => n.endsWith('.tmp')), 'no temporary files at rest').toStrictEqual([]);

    await db.close();
    const closed = await readdir(dir);
    expect(closed.filter((n) => /^checkpoint-\d+\.ckpt$/.test(n)).length, 'checkpoint files after close()').toBeLessThanOrEqual(2);
    const again = await openDb({ dir });
    expect(again.version).toBe(WRITES + warmUp);
    expect(again.get('k0')).toBe(`${VALUE}${WRITES}`);
    expect(again.recovery!.events).toStrictEqual([]);
  });

  it('concurrent writers with tiny segments and automatic checkpoints: reopened (WAL only, no final checkpoint) holds every acknowledged write', async () => {
    // End-to-end cover for segment rotation and checkpoints racing queued appends.
    const dir = await tempDir();
    const db = await openDb({ dir, sync: 'none', walSegmentBytes: 1024, checkpointWalBytes: 2048, checkpointOnClose: false });
    const last = new Map<string, number>();
    await Promise.all(
      [0, 1, 2, 3].map(async (lane) => {
        for (let i = 0; i < 150; i++) {
          const key = `l${lane}/${i % 7}`;
          await db.put(key, { lane, i, pad: 'p'.repeat(60) }, i % 3 === 0 ? { sync: 'always' } : undefined);
          last.set(key, i);
          if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    const version = db.version;
    expect(version).toBe(600);
    // Built on a worker thread: the first may still be running when the writes end.
    await vi.waitFor(() => expect(db.stats().checkpoints).toBeGreaterThan(0), { timeout: 10_000 });
    await db.close();
    const again = await openDb({ dir });
    expect(again.version).toBe(version);
    for (const [key, i] of last) expect((again.get(key) as { i: number }).i, key).toBe(i);
  });
});

// ---------------------------------------------------------------- (f) close()

describe('(f) close()', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });

  it('after close() every method throws or rejects CLOSED (also snapshots, transactions and iterators opened before)', async () => {
    const db = await openDb({ dir, clock: new ManualClock(T0) });
    await db.put('a', 1, { run: 'r', type: 't' });
    await db.put('b', 2);
    const snap = db.snapshot();
    const tx = db.begin();
    tx.put('c', 3);
    const iterator = db.scan();
    expect(iterator.next().value?.key).toBe('a');
    await db.close();
    expect(db.closed).toBe(true);

    // Synchronous reads throw.
    thrown(() => db.get('a'), 'CLOSED');
    thrown(() => db.getEntry('a'), 'CLOSED');
    thrown(() => db.has('a'), 'CLOSED');
    thrown(() => db.scan(), 'CLOSED');
    thrown(() => db.byRun('r'), 'CLOSED');
    thrown(() => db.byType('t'), 'CLOSED');
    thrown(() => db.snapshot(), 'CLOSED');
    thrown(() => db.snapshotAt(1), 'CLOSED');
    thrown(() => db.begin(), 'CLOSED');
    thrown(() => iterator.next(), 'CLOSED');
    thrown(() => snap.get('a'), 'CLOSED');
    thrown(() => [...snap.scan()], 'CLOSED');
    thrown(() => tx.get('a'), 'CLOSED');

    // Async methods return rejected promises (never throw synchronously).
    const calls: [string, () => Promise<unknown>][] = [
      ['put', () => db.put('a', 2)],
      ['delete', () => db.delete('a')],
      ['batch', () => db.batch([{ op: 'put', key: 'a', value: 3 }])],
      ['transaction', () => db.transaction((t) => t.put('a', 4))],
      ['flushed', () => db.flushed()],
      ['checkpoint', () => db.checkpoint()],
      ['backup', () => db.backup(join(dir, 'nope'))],
      ['tx.commit', () => tx.commit()],
    ];
    for (const [name, call] of calls) {
      let promise: Promise<unknown> | undefined;
      expect(() => (promise = call()), `${name}() must not throw synchronously`).not.toThrow();
      const error = await rejection(promise!, 'CLOSED');
      expect(error, name).toBeInstanceOf(DatabaseClosedError);
    }
    expect(existsSync(join(dir, 'nope')), 'a refused backup creates nothing').toBe(false);

    // Nothing of that reached the disk.
    const again = await openDb({ dir });
    expect(again.version).toBe(2);
    expect([...again.scan()].map((e) => [e.key, e.value])).toStrictEqual([['a', 1], ['b', 2]]);
  });

  it('writes issued while close() runs are refused with CLOSED; writes issued before it are acknowledged and kept', async () => {
    const db = await openDb({ dir, sync: 'always' });
    await db.put('base', 0);
    const tx = db.begin();
    tx.put('tx', 'from a transaction begun before close');
    const before = [db.put('a', 1), db.batch([{ op: 'put', key: 'b', value: 2 }, { op: 'delete', key: 'base' }]), db.put('c', 3, { sync: 'none' })];
    const closing = db.close();
    const during: [string, Promise<unknown>][] = [
      ['put', db.put('x', 1)],
      ['delete', db.delete('a')],
      ['batch', db.batch([{ op: 'put', key: 'y', value: 1 }])],
      ['transaction', db.transaction((t) => t.put('z', 1))],
      ['tx.commit', tx.commit()],
    ];
    expect(db.closed, 'not closed yet: the close is still running').toBe(false);
    for (const [name, promise] of during) {
      const error = await rejection(promise, 'CLOSED');
      expect(error, name).toBeInstanceOf(DatabaseClosedError);
    }
    expect(await Promise.all(before)).toStrictEqual([2, 3, 4]);
    await closing;
    expect(db.closed).toBe(true);

    const again = await openDb({ dir });
    expect(again.version).toBe(4);
    expect([...again.scan()].map((e) => [e.key, e.value])).toStrictEqual([['a', 1], ['b', 2], ['c', 3]]);
  });

  it('closing twice (at once and again later) is fine and the lock is released once', async () => {
    const db = await openDb({ dir });
    await db.put('k', 1);
    await expect(Promise.all([db.close(), db.close()])).resolves.toStrictEqual([undefined, undefined]);
    await expect(db.close()).resolves.toBeUndefined();
    expect(await readdir(dir)).not.toContain('LOCK');
    const other = await openDb({ dir });
    // A late close() of the old handle must not touch the new holder's lock.
    await db.close();
    expect(await readdir(dir)).toContain('LOCK');
    await rejection(open({ dir }), 'LOCKED');
    expect(other.get('k')).toBe(1);
  });

  it('checkpointOnClose: false leaves the state to the WAL; the default writes a final checkpoint', async () => {
    const a = await openDb({ dir, checkpointOnClose: false });
    await a.put('k', 1);
    await a.close();
    expect((await readdir(dir)).filter((n) => n.endsWith('.ckpt'))).toStrictEqual([]);
    const b = await openDb({ dir });
    expect(b.recovery).toMatchObject({ checkpointVersion: 0, replayedRecords: 1 });
    await b.put('k', 2);
    await b.close();
    const c = await openDb({ dir });
    expect(c.recovery).toMatchObject({ checkpointVersion: 2, replayedRecords: 0 });
    expect(c.get('k')).toBe(2);
  });
});

// ---------------------------------------------------------------- (g) per-write sync

describe('(g) per-write sync overrides (stats().walSyncs)', () => {
  it("on an 'always' database, { sync: 'none' } writes resolve without an fdatasync; default writes pay one each", async () => {
    const db = await openDb({ dir: await tempDir(), sync: 'always', syncIntervalMs: 3_600_000 });
    const syncs = (): number => db.stats().walSyncs;
    const s0 = syncs();
    await db.put('a', 1, { sync: 'none' });
    expect(syncs(), "put { sync: 'none' }").toBe(s0);
    await db.delete('a', { sync: 'none' });
    expect(syncs(), "delete { sync: 'none' }").toBe(s0);
    await db.batch([{ op: 'put', key: 'b', value: 1 }], { sync: 'none' });
    expect(syncs(), "batch { sync: 'none' }").toBe(s0);
    await db.transaction((tx) => tx.put('c', 1), { sync: 'none' });
    expect(syncs(), "transaction { sync: 'none' }").toBe(s0);
    await db.put('d', 1);
    expect(syncs(), 'default put').toBe(s0 + 1);
    await db.put('e', 1);
    expect(syncs(), 'another default put').toBe(s0 + 2);
    await db.put('f', 1, { sync: 'interval' });
    expect(syncs(), "put { sync: 'interval' }").toBe(s0 + 2);
    await db.delete('f');
    expect(syncs(), 'default delete').toBe(s0 + 3);
  });

  it("on a 'none' database, { sync: 'always' } writes pay an fdatasync; default writes do not", async () => {
    const db = await openDb({ dir: await tempDir(), sync: 'none', syncIntervalMs: 3_600_000 });
    const s0 = db.stats().walSyncs;
    await db.put('a', 1);
    await db.batch([{ op: 'put', key: 'b', value: 1 }]);
    expect(db.stats().walSyncs).toBe(s0);
    await db.put('c', 1, { sync: 'always' });
    expect(db.stats().walSyncs).toBe(s0 + 1);
    await db.transaction((tx) => tx.put('d', 1), { sync: 'always' });
    expect(db.stats().walSyncs).toBe(s0 + 2);
  });
});

// ---------------------------------------------------------------- regressions

describe('regressions', () => {
  // Fixed in f0c95d4 (found here and by the crash tests at the same time). A writer that awaits
  // each write and then writes again, without yielding to the event loop in between (a bulk load:
  // `for (...) await db.put(...)`), kept the WAL flush loop busy forever: WalWriter's drain
  // (`while (flushing) await flushing`), which rotate() and flushed() waited on, only finished when
  // the loop found its queue empty, and the writer's next append always arrived before the loop
  // looked. So the automatic checkpoint waited in rotate() until the writer paused, checkpointDue
  // stayed false meanwhile (one was "running"), and the WAL grew without bound. Measured then:
  // 3000 such writes, checkpointWalBytes 4096 -> 0 checkpoints, 480 KB of WAL in 429 segments,
  // for 'none' and 'always' alike.
  it('regression: a writer that never yields still gets automatic checkpoints, and the WAL stays bounded', async () => {
    const dir = await tempDir();
    // The merge inline (workers: 0): what is tested is the WAL's queue, not how fast a worker
    // thread starts on a busy machine (the 300 ms of writes can be over before one has).
    const db = await openDb({ dir, sync: 'always', walSegmentBytes: 1024, checkpointWalBytes: 4096, workers: 0 });
    for (let i = 1; i <= 600; i++) await db.put(`k${i % 50}`, 'v'.repeat(120)); // ~95 KB of WAL
    const segments = (await readdir(dir)).filter((n) => /^wal-\d+\.log$/.test(n)).length;
    expect({ checkpoints: db.stats().checkpoints > 0, segmentsBounded: segments <= 40 }, `${db.stats().checkpoints} checkpoints, ${segments} WAL segments`).toStrictEqual({
      checkpoints: true,
      segmentsBounded: true,
    });
  });

  // The same starvation seen directly (fixed in f0c95d4): flushed() and checkpoint() called while
  // such a writer ran used to settle only once it stopped.
  it('regression: flushed() and checkpoint() settle while a writer keeps writing', async () => {
    const db = await openDb({ dir: await tempDir(), sync: 'none' });
    let stop = false;
    let writes = 0;
    const writer = (async (): Promise<void> => {
      while (!stop) await db.put('k', writes++);
    })();
    const settled = { flushed: false, checkpoint: false };
    const flushed = db.flushed().then(() => void (settled.flushed = true));
    const checkpoint = db.checkpoint().then(() => void (settled.checkpoint = true));
    try {
      // The writer never stops meanwhile; the checkpoint's worker may take a moment to start.
      await vi.waitFor(() => expect(settled, 'while the writer keeps writing').toStrictEqual({ flushed: true, checkpoint: true }), { timeout: 10_000, interval: 20 });
      expect(writes, 'the writer was running').toBeGreaterThan(10);
      expect(stop, 'the writer had not been stopped').toBe(false);
    } finally {
      stop = true;
      await writer;
      await flushed;
      await checkpoint;
    }
  });

  // --- Taking over a stale LOCK while others open the same directory.
  //
  // `pausingLockMoves(n)` is the real file system, except that the first `n` times the opener
  // moves or deletes the LOCK file itself (the takeover: unlink, or rename away and back) it stops
  // until the test lets it go on, so other opens can be run at exactly that moment.

  interface Pause {
    readonly reached: Promise<void>;
    readonly release: () => void;
  }

  function pausingLockMoves(n: number): { fs: FileSystem; pauses: Pause[] } {
    const pauses = Array.from({ length: n }, (): Pause & { arrive: () => void; gate: Promise<void> } => {
      let arrive!: () => void;
      let release!: () => void;
      const reached = new Promise<void>((resolve) => (arrive = resolve));
      const gate = new Promise<void>((resolve) => (release = resolve));
      return { reached, release, arrive, gate };
    });
    let moves = 0;
    const isLock = (path: string): boolean => basename(path) === 'LOCK';
    const pause = async (): Promise<void> => {
      const p = pauses[moves++];
      if (p === undefined) return;
      p.arrive();
      await p.gate;
    };
    const fs: FileSystem = {
      ...nodeFileSystem,
      async unlink(path) {
        if (isLock(path)) await pause();
        return nodeFileSystem.unlink(path);
      },
      async rename(from, to) {
        if (isLock(from) || isLock(to)) await pause();
        return nodeFileSystem.rename(from, to);
      },
    };
    return { fs, pauses };
  }

  type Outcome = { readonly db: Database } | { readonly code: string };
  const attempt = (promise: Promise<Database>): Promise<Outcome> =>
    promise.then(
      (db) => {
        dbs.push(db);
        return { db };
      },
      (error: unknown) => ({ code: String((error as EpochError).code) }),
    );
  const holders = (outcomes: readonly Outcome[]): string[] => outcomes.map((o) => ('db' in o ? 'opened' : o.code));

  /** A directory (with a database in it) whose LOCK was left by a process that has died. */
  async function staleLockedDir(): Promise<string> {
    const dir = await tempDir();
    await (await openDb({ dir })).close();
    await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid: await deadPid(), host: hostname(), since: '2026-01-01T00:00:00.000Z' }));
    return dir;
  }

  // Fixed in 4658e1b. The takeover used to be: read the holder, see it is dead, unlink LOCK,
  // retry the O_EXCL create. A read the stale holder; B read it too, unlinked it and created its
  // own LOCK; A then unlinked B's fresh LOCK (believing it stale) and created its own: both
  // opened. Unforced, two plain concurrent open()s of a directory with a stale LOCK both
  // succeeded in about 1 trial in 5.
  it('regression: two opens racing to take over a stale LOCK: exactly one wins', async () => {
    const dir = await staleLockedDir();
    const { fs, pauses } = pausingLockMoves(1);
    // A has read the stale holder and is about to move it; B opens right then.
    const a = attempt(open({ dir, fileSystem: fs, maintenance: { intervalMs: 0 } }));
    await Promise.race([pauses[0]!.reached, a]);
    const b = attempt(open({ dir, maintenance: { intervalMs: 0 } }));
    // B settles while A is held (it takes over or is LOCKED; it never waits for A). An open that
    // waited for A would show as this test timing out, not as a pass with a race that never happened.
    await b;
    pauses[0]!.release();
    expect(holders([await a, await b]).sort(), 'exactly one of two racing opens holds the directory').toStrictEqual(['LOCKED', 'opened']);
  });

  // Found after 4658e1b, since fixed: the takeover moved LOCK aside with a rename, read what it
  // moved, and if that was a live holder's fresh lock (B took over first), renamed it back. While
  // it was aside, LOCK did not exist although B held the directory: a third open C created LOCK
  // with O_EXCL and opened, and then A's rename back silently replaced C's LOCK with B's. B and C
  // both had the directory open (two writers; and LOCK named only B). Three openers at once happen
  // when, e.g., several worker processes start together after a crash.
  it('regression: three opens racing to take over a stale LOCK: exactly one wins', async () => {
    const dir = await staleLockedDir();
    const { fs, pauses } = pausingLockMoves(2);
    const a = attempt(open({ dir, fileSystem: fs, maintenance: { intervalMs: 0 } }));
    // A is about to move the stale LOCK: B opens (taking over) right then.
    await Promise.race([pauses[0]!.reached, a]);
    const b = attempt(open({ dir, maintenance: { intervalMs: 0 } }));
    await b; // settles while A is held (see the two-open case)
    pauses[0]!.release();
    // A moved B's fresh lock aside and is about to put it back (or A is done): C opens right then.
    await Promise.race([pauses[1]!.reached, a]);
    const c = attempt(open({ dir, maintenance: { intervalMs: 0 } }));
    await c;
    pauses[1]!.release();
    const outcomes = holders([await a, await b, await c]);
    expect(outcomes.filter((o) => o === 'opened').length, `A, B, C: ${outcomes.join(', ')} (exactly one may hold the directory)`).toBe(1);
  });

  // Same cause, since fixed: while A had B's lock aside, B closed (its release found no LOCK to
  // delete); A then put B's lock back. Nobody held the directory any more, but LOCK named a live
  // process (here this one), so every later open was LOCKED until that process exited.
  it('regression: after a takeover race in which the holder closes, the directory opens again (no lock left naming a closed holder)', async () => {
    const dir = await staleLockedDir();
    const { fs, pauses } = pausingLockMoves(2);
    const a = attempt(open({ dir, fileSystem: fs, maintenance: { intervalMs: 0 } }));
    await Promise.race([pauses[0]!.reached, a]);
    const b = await attempt(open({ dir, maintenance: { intervalMs: 0 } }));
    pauses[0]!.release();
    await Promise.race([pauses[1]!.reached, a]);
    if ('db' in b) await b.db.close(); // B is done with the directory
    pauses[1]!.release();
    await a;
    for (const db of dbs.splice(0)) await db.close(); // whoever holds it, let go
    const later = await attempt(open({ dir, maintenance: { intervalMs: 0 } }));
    expect(holders([later]), 'nobody holds the directory: it must open').toStrictEqual(['opened']);
  });

  // Fixed in 4658e1b. backup() wrote the EPOCHDB marker first and the checkpoint after it. If the
  // process died in between (here: while the checkpoint is being written; the directory is copied
  // at that moment, as a crash would leave it), the destination held the marker and a temporary
  // file: open() deleted the temporary file and opened it as a valid, EMPTY database at version 0,
  // without any error, so restoring from it silently lost everything. (A backup of a memory-only
  // database interrupted by close() left the same marker-only directory.)
  it('regression: a backup interrupted by a crash opens as a valid empty database', async () => {
    const root = await tempDir();
    let reached!: () => void;
    const atCheckpointWrite = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // The real file system, except that writing the backup's checkpoint stops until `gate` opens.
    const stalling: FileSystem = {
      ...nodeFileSystem,
      async open(path, flags, mode) {
        const handle = await nodeFileSystem.open(path, flags, mode);
        if (!/\.ckpt\.[0-9a-f]+\.tmp$/.test(path)) return handle;
        return {
          write: async (data, position) => {
            reached();
            await gate;
            return handle.write(data, position);
          },
          read: (position, length) => handle.read(position, length),
          datasync: () => handle.datasync(),
          truncate: (length) => handle.truncate(length),
          size: () => handle.size(),
          close: () => handle.close(),
        };
      },
    };
    const db = await openDb({ fileSystem: stalling });
    await db.put('k', 'precious');
    const dest = join(root, 'backup');
    const backup = db.backup(dest);
    try {
      await atCheckpointWrite;
      const crashed = join(root, 'crashed-backup');
      await cp(dest, crashed, { recursive: true });
      const outcome = await open({ dir: crashed }).then(
        async (copy) => {
          const state = { opened: true, version: copy.version, k: copy.get('k') };
          await copy.close();
          return state;
        },
        (error: unknown) => ({ opened: false, code: (error as EpochError).code }),
      );
      expect(outcome.opened, `an interrupted backup opened as a database: ${JSON.stringify(outcome)}`).toBe(false);
    } finally {
      release();
      await backup;
    }
    // The completed backup is fine.
    expect((await openDb({ dir: dest })).get('k')).toBe('precious');
  });
});
