import { readdir } from 'node:fs/promises';
import { describe, expect, it, vi } from 'vitest';
import { ManualClock, open, type Database } from 'epochdb';
import { workerPoolOf } from '../../packages/epochdb/src/database.js';
import { useDatabases } from '../support/databases.js';
import { timerTurns } from '../support/timers.js';

// Background maintenance end to end: checkpoints built on a real worker thread, what happens when
// that worker dies mid-task, retries, and the main-thread slices started by pressure.

const { openDb, tempDir } = useDatabases({}, 'epochdb-bg-');

const checkpointFiles = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => /^checkpoint-\d+\.ckpt$/.test(n)).sort();

/** Fills `db` with `n` keys of ~100-byte values in batches, through the WAL only. */
async function fill(db: Database, n: number, prefix = 'k'): Promise<void> {
  for (let i = 0; i < n; i += 2000) {
    await db.batch(Array.from({ length: Math.min(2000, n - i) }, (_, j) => ({ op: 'put' as const, key: `${prefix}${String(i + j).padStart(7, '0')}`, value: { i: i + j, pad: 'x'.repeat(80) } })));
  }
}

/**
 * Terminates the pool's worker threads once a checkpoint task is visibly under way on one: a
 * temporary checkpoint file not seen before exists (each attempt writes its own). Resolves to how
 * many threads were terminated.
 */
const seenTemporaries = new Set<string>();
async function crashWorkerMidCheckpoint(db: Database, dir: string): Promise<number> {
  const pool = workerPoolOf(db);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const fresh = (await readdir(dir)).filter((n) => n.endsWith('.tmp') && !seenTemporaries.has(n));
    if (fresh.length > 0 && db.stats().workerThreads > 0) {
      for (const name of fresh) seenTemporaries.add(name);
      return pool.terminateWorkers();
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('no checkpoint was being written');
}

describe('checkpoints on a worker thread', () => {
  it.each([1, 0])('workers: %i — checkpoint() merges the previous checkpoint and the WAL into the state as of now, leaving out deletes and entries expired by then', async (workers) => {
    const dir = tempDir();
    const clock = new ManualClock(1_000);
    const db = await openDb({ dir, clock, workers, sync: 'none', checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    await fill(db, 500);
    await db.checkpoint(); // the base of the next merge
    await db.delete('k0000001');
    await db.put('k0000002', 'overwritten', { type: 't', run: 'r' });
    await db.put('short', 1, { ttl: 50 });
    await db.put('long', 2, { ttl: 10_000 });
    clock.advance(100); // 'short' has expired, nothing has reclaimed it yet
    await db.checkpoint();
    const stats = db.stats();
    expect(stats.lastCheckpointVersion).toBe(db.version);
    expect(stats.tasksRun).toBe(2);
    expect(stats.workerThreads, 'threads alive right after the task').toBe(workers);
    expect(await checkpointFiles(dir)).toHaveLength(2); // the new one and its fallback
    await db.close();

    const again = await openDb({ dir, clock, maintenance: { intervalMs: 0 } });
    expect(again.recovery).toMatchObject({ checkpointVersion: db.version, replayedRecords: 0 });
    expect(again.recovery!.checkpointEntries, 'no deleted or expired entry reached the checkpoint').toBe(500 - 1 + 1);
    expect(again.has('k0000001')).toBe(false);
    expect(again.getEntry('k0000002')).toMatchObject({ value: 'overwritten', type: 't', run: 'r' });
    expect(again.has('short')).toBe(false);
    expect(again.getEntry('long')).toMatchObject({ value: 2, expiresAt: 1_000 + 10_000 });
    expect((again.get('k0000499') as { i: number }).i).toBe(499);
  });

  it('a worker terminated mid-checkpoint: the task is retried on a fresh worker and the database is whole', async () => {
    const dir = tempDir();
    const db = await openDb({ dir, sync: 'none', checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    await fill(db, 60_000);
    const checkpoint = db.checkpoint();
    expect(await crashWorkerMidCheckpoint(db, dir)).toBe(1);
    await checkpoint;
    const stats = db.stats();
    expect({ tasksFailed: stats.tasksFailed, tasksRetried: stats.tasksRetried, tasksRun: stats.tasksRun }).toStrictEqual({ tasksFailed: 1, tasksRetried: 1, tasksRun: 1 });
    expect(stats.lastCheckpointVersion).toBe(db.version);
    await db.put('after', 'the crash');
    await db.close();
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp')), 'the dead worker\'s temporary file is gone').toStrictEqual([]);
    const again = await openDb({ dir, maintenance: { intervalMs: 0 } });
    expect(again.recovery).toMatchObject({ checkpointVersion: stats.lastCheckpointVersion, checkpointEntries: 60_000, replayedRecords: 1 });
    expect(again.get('after')).toBe('the crash');
    expect(again.stats().keys).toBe(60_001);
  });

  it('close() stops the worker of an automatic checkpoint mid-write instead of waiting for it (cancelled, not retried), then writes its own closing checkpoint', async () => {
    const dir = tempDir();
    const db = await openDb({ dir, sync: 'none', checkpointOnClose: true, checkpointWalBytes: 1024, maintenance: { intervalMs: 0 } });
    await fill(db, 60_000);
    // Wait for an automatic checkpoint visibly under way on a worker (its temporary file exists); a
    // write past checkpointWalBytes starts one whenever none runs.
    const deadline = Date.now() + 20_000;
    let nudges = 0;
    while (!(await readdir(dir)).some((n) => n.endsWith('.tmp')) && Date.now() < deadline) {
      if (!db.stats().checkpointing) await db.put(`nudge:${nudges++}`, 'x'.repeat(2048));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(db.stats().checkpointing).toBe(true);
    const version = db.version;
    await db.close();
    const stats = db.stats();
    expect({ tasksFailed: stats.tasksFailed, tasksRetried: stats.tasksRetried, checkpointErrors: stats.checkpointErrors }).toStrictEqual({ tasksFailed: 1, tasksRetried: 0, checkpointErrors: 0 });
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toStrictEqual([]);
    const again = await openDb({ dir, maintenance: { intervalMs: 0 } });
    expect(again.recovery).toMatchObject({ checkpointVersion: version, replayedRecords: 0 });
    expect(again.stats().keys).toBe(60_000 + nudges);
  });

  it('a worker that dies on every attempt: checkpoint() rejects IO_ERROR, the old checkpoint and the WAL stay authoritative, writes go on', async () => {
    const dir = tempDir();
    const db = await openDb({ dir, sync: 'none', checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    await fill(db, 1_000, 'base');
    await db.checkpoint();
    const before = await checkpointFiles(dir);
    await fill(db, 60_000);
    const checkpoint = db.checkpoint();
    const failed = expect(checkpoint).rejects.toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('worker stopped') });
    await crashWorkerMidCheckpoint(db, dir); // the first attempt
    await crashWorkerMidCheckpoint(db, dir); // the retry
    await failed;
    expect(db.stats()).toMatchObject({ tasksFailed: 2, tasksRetried: 1, lastCheckpointVersion: 1 });
    expect(await checkpointFiles(dir)).toStrictEqual(before);
    await db.put('still', 'writable');
    const version = db.version;
    await db.close();
    const again = await openDb({ dir, maintenance: { intervalMs: 0 } });
    expect(again.recovery!.checkpointVersion).toBe(1);
    expect(again.version).toBe(version);
    expect(again.stats().keys).toBe(61_001);
    expect(again.get('still')).toBe('writable');
  });

  it('an automatic checkpoint whose worker died is retried by a timer, with no further writes', async () => {
    const dir = tempDir();
    const db = await openDb({ dir, sync: 'none', checkpointOnClose: false, checkpointWalBytes: 1 << 20, maintenance: { intervalMs: 0, checkpointRetryMs: 50 } });
    // ~10 MB of WAL in one batch: passing checkpointWalBytes starts an automatic checkpoint.
    await db.batch(Array.from({ length: 60_000 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: { i, pad: 'y'.repeat(100) } })));
    await crashWorkerMidCheckpoint(db, dir);
    await crashWorkerMidCheckpoint(db, dir);
    await vi.waitFor(() => expect(db.stats().checkpointErrors).toBe(1), { timeout: 10_000, interval: 10 });
    expect(db.stats().lastCheckpointError).toMatch(/worker stopped/);
    await vi.waitFor(() => expect(db.stats()).toMatchObject({ checkpointRetries: 1, lastCheckpointVersion: db.version, checkpointing: false }), { timeout: 20_000, interval: 20 });
    expect(db.stats().checkpointErrors).toBe(1);
  });

  it('close() cancels a running verify() (CLOSED) or lets it finish, and ends the worker threads', async () => {
    const dir = tempDir();
    const db = await openDb({ dir, sync: 'none', checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    await fill(db, 20_000);
    const verify = db.verify().then(
      (report) => ({ ok: report.ok }),
      (error: { code?: string }) => ({ code: error.code }),
    );
    await db.close();
    expect([{ ok: true }, { code: 'CLOSED' }]).toContainEqual(await verify);
    expect(db.stats().workerThreads).toBe(0);
  });
});

describe('the head index after a reopen', () => {
  it('maintenance fills it by itself, in slices, while reads and writes go on and see the right heads', async () => {
    const dir = tempDir();
    const db = await openDb({ dir, sync: 'none', maintenance: { intervalMs: 0 } });
    await fill(db, 30_000);
    await db.checkpoint();
    await db.close();
    const again = await openDb({ dir, maintenance: { intervalMs: 5 } });
    expect(again.recovery).toMatchObject({ checkpointEntries: 30_000, replayedRecords: 0 });
    expect(again.stats().headIndexKeys, 'the load hashes no key').toBeLessThan(30_000);
    // Reads and writes before it is complete: a read adds its key, a write sets its head.
    expect(again.get('k0012345')).toStrictEqual({ i: 12_345, pad: 'x'.repeat(80) });
    await again.put('k0000007', 'rewritten');
    await again.delete('k0029999');
    await vi.waitFor(() => expect(again.stats().headIndexKeys).toBe(again.stats().keys), { timeout: 20_000, interval: 20 });
    expect(again.get('k0000007')).toBe('rewritten');
    expect(again.get('k0029999')).toBeUndefined();
    expect(again.get('k0029998')).toStrictEqual({ i: 29_998, pad: 'x'.repeat(80) });
    expect(again.stats().keys).toBe(29_999);
  });
});

describe('maintenance policy: one options object', () => {
  it('maintenance.workers and maintenance.checkpointWalBytes are the same settings as the top-level names; contradicting them is INVALID_OPTION', async () => {
    const db = await openDb({ maintenance: { workers: 0, intervalMs: 0 } });
    expect(db.stats().workers).toBe(0);
    const defaults = await openDb({});
    expect(defaults.stats().workers).toBe(1);
    await expect(open({ workers: 2, maintenance: { workers: 1 } })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('maintenance.workers') });
    await expect(open({ checkpointWalBytes: 4096, maintenance: { checkpointWalBytes: 8192 } })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('maintenance.checkpointWalBytes') });
    await expect(open({ maintenance: { checkpointRetryMs: 0 } })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('maintenance.checkpointRetryMs') });
    await expect(open({ maintenance: { gcPressureVersions: -1 } })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('maintenance.gcPressureVersions') });
  });

  it('maintenance.checkpointWalBytes triggers automatic checkpoints', async () => {
    const dir = tempDir();
    const db = await openDb({ dir, sync: 'none', workers: 0, maintenance: { intervalMs: 0, checkpointWalBytes: 4096 } });
    // Each batch of writes passes the threshold; waiting for the checkpoint it starts makes the
    // count independent of machine speed. The second checkpoint deletes what the first covers.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 40; i++) await db.put(`k${i}`, 'v'.repeat(100));
      await vi.waitFor(() => expect(db.stats().checkpointing).toBe(false), { timeout: 10_000 });
    }
    expect(db.stats().checkpoints).toBeGreaterThanOrEqual(2);
    expect(db.stats().bytesReclaimed, 'WAL covered by checkpoints was deleted').toBeGreaterThan(0);
  });
});

describe('main-thread slices started by pressure (no timer)', () => {
  it('superseded versions piling up behind a released snapshot are collected once commits pass gcPressureVersions', async () => {
    const db = await openDb({ maintenance: { intervalMs: 0, gcPressureVersions: 100 } });
    await db.put('k', -1);
    const snapshot = db.snapshot();
    for (let i = 0; i < 150; i++) await db.put('k', i);
    expect(db.stats().pendingGc).toBe(150);
    snapshot.release();
    await db.put('k', 'one more');
    await vi.waitFor(() => expect(db.stats().pendingGc).toBe(0), { timeout: 10_000 });
    expect(db.stats().pressurePasses).toBeGreaterThan(0);
    expect(db.stats().collectedVersions).toBeGreaterThanOrEqual(150);
    expect(db.stats().storedVersions).toBe(1);
  });

  it('expired entries are reclaimed as versioned deletes once commits see them waiting', async () => {
    const clock = new ManualClock(0);
    const db = await openDb({ clock, maintenance: { intervalMs: 0 } });
    await db.batch(Array.from({ length: 500 }, (_, i) => ({ op: 'put' as const, key: `s${i}`, value: i, ttl: 10 })));
    clock.advance(20);
    for (let i = 0; i < 64; i++) await db.put(`w${i}`, i);
    await vi.waitFor(() => expect(db.stats().reclaimedExpired).toBe(500), { timeout: 10_000 });
    expect(db.stats()).toMatchObject({ ttlEntries: 0, keys: 64 });
    expect(db.stats().pressurePasses).toBeGreaterThan(0);
  });

  // Found by bench/maintenance.mjs: each timer tick started a new chain of follow-up slices beside
  // the one still running, so with a long backlog the main thread ran k slices per event-loop turn
  // after k ticks (stalls grew from 16 to 77 ms while 100k keys expired).
  it('regression: timer ticks during a long backlog do not start more chains of slices (at most one slice per event-loop turn)', async () => {
    const clock = new ManualClock(0);
    const db = await openDb({ clock, maintenance: { intervalMs: 1, sliceMs: 0.05, gcPressureVersions: 0 } });
    for (let part = 0; part < 3; part++) await db.batch(Array.from({ length: 50_000 }, (_, i) => ({ op: 'put' as const, key: `k${part}-${i}`, value: i, ttl: 10 })));
    clock.advance(20);
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns++;
      if (counting) setImmediate(count);
    };
    const passesBefore = db.stats().maintenancePasses;
    setImmediate(count);
    // Twenty ticks of the maintenance timer (1 ms), however slow the machine: see timerTurns.
    await timerTurns(1, 20);
    counting = false;
    const passes = db.stats().maintenancePasses - passesBefore;
    expect(db.stats().ttlEntries, 'the backlog lasted the whole measurement').toBeGreaterThan(0);
    expect(turns).toBeGreaterThan(3);
    // One chain: one slice per turn (plus a turn or two of slack). Several chains: a multiple.
    expect(passes, `${passes} slices in ${turns} event-loop turns`).toBeLessThanOrEqual(turns + 2);
  });

  it('gcPressureVersions: 0 leaves everything to the timer', async () => {
    const clock = new ManualClock(0);
    const db = await openDb({ clock, maintenance: { intervalMs: 0, gcPressureVersions: 0 } });
    await db.put('s', 1, { ttl: 10 });
    clock.advance(20);
    for (let i = 0; i < 200; i++) await db.put(`w${i}`, i);
    // A pressure slice would start on a setImmediate after a commit: give the loop turns enough for it.
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(db.stats()).toMatchObject({ pressurePasses: 0, reclaimedExpired: 0, ttlEntries: 1 });
  });
});
