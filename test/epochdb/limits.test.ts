import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EpochError, ManualClock, open } from 'epochdb';
import { useDatabases } from '../support/databases.js';

// The limits that keep one caller from taking the whole process down: transaction size, snapshot
// and transaction leases, and the memory budget. Each refusal is a typed error that changes nothing.

const { openDb, tempDir } = useDatabases({ maintenance: { intervalMs: 0 } }, 'epochdb-limits-');
afterEach(() => {
  vi.useRealTimers();
});

function caught(fn: () => unknown): EpochError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(EpochError);
    return error as EpochError;
  }
  throw new Error('expected a throw');
}

describe('maxTransactionOps and maxTransactionBytes', () => {
  it('a transaction refuses the write that would pass maxTransactionOps, keeps the others, and commits them', async () => {
    const db = await openDb({ maxTransactionOps: 3 });
    const tx = db.begin();
    tx.put('a', 1);
    tx.put('b', 2);
    tx.delete('c');
    const error = caught(() => tx.put('d', 4));
    expect(error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxTransactionOps', message: expect.stringContaining('maxTransactionOps') });
    tx.put('a', 10); // replacing a buffered write adds no operation
    expect(tx.active).toBe(true);
    await tx.commit();
    expect([db.get('a'), db.get('b'), db.has('d')]).toStrictEqual([10, 2, false]);
  });

  it('a batch over maxTransactionOps is refused whole; the database is unchanged', async () => {
    const db = await openDb({ maxTransactionOps: 3 });
    await db.put('k', 'before');
    const version = db.version;
    await expect(db.batch(['a', 'b', 'c', 'k'].map((key) => ({ op: 'put' as const, key, value: 1 })))).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxTransactionOps' });
    expect(db.version).toBe(version);
    expect(db.get('k')).toBe('before');
    expect(db.has('a')).toBe(false);
    await db.batch(['a', 'b', 'k'].map((key) => ({ op: 'put' as const, key, value: 1 })));
    expect(db.get('k')).toBe(1);
  });

  it('maxTransactionBytes counts encoded bytes; a replaced write gives its bytes back; transaction() is not retried', async () => {
    const db = await openDb({ maxTransactionBytes: 4096 });
    const tx = db.begin();
    tx.put('big', 'x'.repeat(3000));
    expect(caught(() => tx.put('more', 'y'.repeat(2000)))).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxTransactionBytes' });
    tx.put('big', 'small');
    tx.put('more', 'y'.repeat(2000));
    await tx.commit();
    expect((db.get('more') as string).length).toBe(2000);

    let runs = 0;
    await expect(
      db.transaction((t) => {
        runs++;
        for (let i = 0; i < 10; i++) t.put(`k${i}`, 'z'.repeat(500));
      }),
    ).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    expect(runs).toBe(1);
    expect(db.has('k0')).toBe(false);
    await expect(db.batch([{ op: 'put', key: 'b1', value: 'q'.repeat(3000) }, { op: 'put', key: 'b2', value: 'q'.repeat(3000) }])).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxTransactionBytes' });
    expect(db.has('b1')).toBe(false);
  });

  // Found in review: the TTL cleaner's 128-key commits were held to maxTransactionOps, so a low
  // limit broke TTL cleaning (and starved version GC behind it).
  it('regression: a low maxTransactionOps does not stop the TTL cleaner', async () => {
    const clock = new ManualClock(0);
    const db = await openDb({ clock, maxTransactionOps: 10, maintenance: { intervalMs: 5 } });
    for (let i = 0; i < 200; i += 10) await db.batch(Array.from({ length: 10 }, (_, j) => ({ op: 'put' as const, key: `k${i + j}`, value: i + j, ttl: 10 })));
    clock.advance(20);
    await vi.waitFor(() => expect(db.stats()).toMatchObject({ keys: 0, reclaimedExpired: 200, maintenanceErrors: 0 }), { timeout: 10_000 });
  });

  it('rejects bad limit options with INVALID_OPTION naming them', async () => {
    for (const [name, value] of [['maxTransactionOps', 0], ['maxTransactionBytes', 10], ['maxTransactionBytes', 2 ** 31], ['snapshotLeaseMs', -1], ['maxMemoryBytes', 1.5]] as const) {
      await expect(open({ [name]: value })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining(name) });
    }
  });
});

describe('snapshotLeaseMs', () => {
  it('a snapshot used after its lease throws LEASE_EXPIRED and no longer pins old versions', async () => {
    const clock = new ManualClock(0);
    const db = await openDb({ clock, snapshotLeaseMs: 1000 });
    await db.put('k', 'old');
    const snapshot = db.snapshot();
    const iterator = snapshot.scan();
    await db.put('k', 'new');
    expect(snapshot.get('k')).toBe('old');
    expect(db.stats().storedVersions).toBe(2);
    clock.advance(999);
    expect(snapshot.get('k')).toBe('old');
    clock.advance(1);
    expect(caught(() => snapshot.get('k'))).toMatchObject({ code: 'LEASE_EXPIRED', message: expect.stringContaining('snapshotLeaseMs (1000 ms)') });
    expect(caught(() => iterator.next())).toMatchObject({ code: 'LEASE_EXPIRED' });
    expect(snapshot.released).toBe(true);
    snapshot.release(); // still idempotent
    expect(db.stats()).toMatchObject({ openSnapshots: 0, leasesExpired: 1 });
    expect(db.oldestVersion).toBe(db.version);
  });

  it('maintenance ends snapshots past their lease even if nobody touches them again, so GC proceeds', async () => {
    const clock = new ManualClock(0);
    const db = await openDb({ clock, snapshotLeaseMs: 1000, maintenance: { intervalMs: 5 } });
    await db.put('k', 0);
    const forgotten = db.snapshot();
    for (let i = 1; i <= 50; i++) await db.put('k', i);
    expect(db.stats().storedVersions).toBe(51);
    clock.advance(1000);
    await vi.waitFor(() => expect(db.stats()).toMatchObject({ openSnapshots: 0, leasesExpired: 1, storedVersions: 1 }), { timeout: 10_000 });
    expect(forgotten.released).toBe(true);
  });

  it('a transaction past its lease is aborted: reads and commit throw LEASE_EXPIRED, nothing is applied, transaction() does not retry', async () => {
    const clock = new ManualClock(0);
    const db = await openDb({ clock, snapshotLeaseMs: 500 });
    const tx = db.begin();
    tx.put('a', 1);
    clock.advance(500);
    expect(caught(() => tx.get('a'))).toMatchObject({ code: 'LEASE_EXPIRED', message: expect.stringContaining('nothing it wrote was applied') });
    await expect(tx.commit()).rejects.toMatchObject({ code: 'LEASE_EXPIRED' });
    expect(tx.active).toBe(false);
    expect(db.has('a')).toBe(false);
    expect(db.stats().openTransactions).toBe(0);

    let runs = 0;
    await expect(
      db.transaction(async (t) => {
        runs++;
        t.put('b', 1);
        clock.advance(600); // a slow await inside the callback
        await Promise.resolve();
        t.put('c', 1);
      }),
    ).rejects.toMatchObject({ code: 'LEASE_EXPIRED' });
    expect(runs).toBe(1);
    expect([db.has('b'), db.has('c')]).toStrictEqual([false, false]);
  });

  it('snapshotLeaseMs: 0 never ends anything', async () => {
    const clock = new ManualClock(0);
    const db = await openDb({ clock, snapshotLeaseMs: 0 });
    await db.put('k', 1);
    const snapshot = db.snapshot();
    const tx = db.begin();
    clock.advance(10 ** 12);
    db.stats();
    expect(snapshot.get('k')).toBe(1);
    tx.put('k', 2);
    await tx.commit();
    expect(db.stats().leasesExpired).toBe(0);
  });

  it('backup() of a persistent database is not cut short by the lease (its snapshot is the database\'s own)', async () => {
    const clock = new ManualClock(0);
    const dir = tempDir();
    const db = await openDb({ clock, snapshotLeaseMs: 1, dir: join(dir, 'db'), workers: 0 });
    await db.batch(Array.from({ length: 5000 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: i })));
    const backup = db.backup(join(dir, 'backup'));
    clock.advance(10); // past the lease while the backup streams
    await backup;
    const copy = await openDb({ dir: join(dir, 'backup'), workers: 0 });
    expect(copy.stats().keys).toBe(5000);
  });
});

describe('maxMemoryBytes', () => {
  it('counts what is stored, refuses growth past the budget (nothing changes), still allows deletes, overwrites and growth after deletes', async () => {
    const db = await openDb({ maxMemoryBytes: 64 * 1024 });
    expect(db.stats()).toMatchObject({ memoryBytes: 0, maxMemoryBytes: 64 * 1024 });
    const value = 'v'.repeat(1000);
    let accepted = 0;
    let refusal: unknown;
    for (let i = 0; i < 100 && refusal === undefined; i++) {
      await db.put(`k${i}`, value).then(
        () => accepted++,
        (error: unknown) => (refusal = error),
      );
    }
    expect(refusal).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxMemoryBytes', message: expect.stringContaining('maxMemoryBytes') });
    const stats = db.stats();
    expect(stats.keys).toBe(accepted);
    expect(stats.memoryBytes).toBeLessThanOrEqual(64 * 1024);
    // The account is approximate but in proportion: at least the encoded values, at most a few times them.
    expect(stats.memoryBytes).toBeGreaterThan(accepted * 1000);
    expect(stats.memoryBytes).toBeLessThan(accepted * 5000);
    const version = db.version;
    await expect(db.put('another', value)).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    expect(db.version).toBe(version);
    await db.put('k0', 'w'.repeat(1000)); // same size: no growth
    await db.delete('k1');
    await db.delete('k2');
    expect(db.stats().memoryBytes).toBeLessThan(stats.memoryBytes);
    await db.put('another', value);
    expect(db.get('another')).toBe(value);
  });

  it('a batch that only overwrites keys at a full budget is accepted (the exact growth, not the bound checked first); one new key more is refused whole', async () => {
    const db = await openDb({ maxMemoryBytes: 64 * 1024 });
    const value = 'v'.repeat(1000);
    let keys = 0;
    for (; keys < 100; keys++) {
      const refused = await db.put(`k${keys}`, value).then(
        () => false,
        () => true,
      );
      if (refused) break;
    }
    expect(keys).toBeGreaterThan(10);
    const overwrite = Array.from({ length: keys }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: 'w'.repeat(1000) }));
    const version = await db.batch(overwrite);
    expect(db.get('k0')).toBe('w'.repeat(1000));
    await expect(db.batch([...overwrite, { op: 'put', key: 'new', value }])).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxMemoryBytes' });
    expect(db.version).toBe(version);
    expect(db.get('new')).toBeUndefined();
  });

  it('the account survives close and reopen (checkpoint and WAL replay both count)', async () => {
    const dir = tempDir();
    const db = await open({ dir, workers: 0, maintenance: { intervalMs: 0 }, checkpointOnClose: false });
    await db.batch(Array.from({ length: 200 }, (_, i) => ({ op: 'put' as const, key: `a${i}`, value: { i, s: 'x'.repeat(i) } })));
    await db.checkpoint();
    await db.batch(Array.from({ length: 100 }, (_, i) => ({ op: 'put' as const, key: `b${i}`, value: new Map([[i, 'y'.repeat(i)]]) })));
    await db.delete('a5');
    const before = db.stats().memoryBytes;
    await db.close();
    const again = await openDb({ dir, workers: 0 });
    expect(again.recovery).toMatchObject({ replayedRecords: 2 });
    expect(again.stats().memoryBytes).toBe(before);
  });

  it('property: after every successful put the account is within the budget (with and without a pinning snapshot); refusals are LIMIT_EXCEEDED', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.record({ del: fc.constant(false), key: fc.integer({ min: 0, max: 20 }), size: fc.integer({ min: 0, max: 3000 }) }), fc.record({ del: fc.constant(true), key: fc.integer({ min: 0, max: 20 }) })), { maxLength: 60 }),
        fc.boolean(),
        async (ops, pin) => {
          const db = await open({ maxMemoryBytes: 20_000, maintenance: { intervalMs: 0 } });
          const snapshot = pin ? db.snapshot() : undefined;
          try {
            for (const op of ops) {
              if (op.del) {
                await db.delete(`k${op.key}`);
                continue;
              }
              const ok = await db.put(`k${op.key}`, 'x'.repeat(op.size)).then(
                () => true,
                (error: { code?: string }) => {
                  expect(error.code).toBe('LIMIT_EXCEEDED');
                  return false;
                },
              );
              if (ok) expect(db.stats().memoryBytes).toBeLessThanOrEqual(20_000);
            }
          } finally {
            snapshot?.release();
            await db.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
