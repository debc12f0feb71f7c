import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock, open } from 'epochdb';

describe('background maintenance (end to end, public API only)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reclaims expired entries by itself, without anyone calling the cleaner', async () => {
    const clock = new ManualClock(1_000_000);
    const db = await open({ clock, maintenance: { intervalMs: 100 } });
    for (let i = 0; i < 50; i++) await db.put(`session:${i}`, { i }, { ttl: 1000, run: 'login' });
    await db.put('keep', 1, { run: 'login' });
    clock.advance(1000);
    expect(db.stats()).toMatchObject({ keys: 51, ttlEntries: 50, reclaimedExpired: 0 });
    const version = db.version;
    await vi.advanceTimersByTimeAsync(100);
    expect(db.stats()).toMatchObject({ keys: 1, ttlEntries: 0, reclaimedExpired: 50 });
    expect(db.version).toBeGreaterThan(version);
    expect([...db.byRun('login')].map((e) => e.key)).toEqual(['keep']);
    await db.close();
  });

  it('spreads a large expiry over many short slices that yield to the event loop', async () => {
    const clock = new ManualClock(0);
    const db = await open({ clock, maintenance: { intervalMs: 1000, sliceMs: 0.01 } });
    for (let i = 0; i < 20; i++) {
      await db.batch(Array.from({ length: 1000 }, (_, j) => ({ op: 'put' as const, key: `k${i * 1000 + j}`, value: j, ttl: 10 })));
    }
    clock.advance(10);
    await vi.advanceTimersByTimeAsync(1000);
    // Follow-up slices run by setImmediate until the work is done, each one bounded.
    for (let i = 0; i < 100 && db.stats().ttlEntries > 0; i++) await vi.advanceTimersByTimeAsync(1);
    const stats = db.stats();
    expect(stats.ttlEntries).toBe(0);
    expect(stats.reclaimedExpired).toBe(20_000);
    expect(stats.maintenancePasses).toBeGreaterThan(1);
    await db.close();
  });

  it('collects old versions by itself once the snapshot pinning them is released', async () => {
    const db = await open({ maintenance: { intervalMs: 50 } });
    const snap = db.snapshot();
    for (let i = 0; i < 100; i++) await db.put('counter', i);
    expect(db.stats().storedVersions).toBe(101 - 1);
    snap.release();
    await vi.advanceTimersByTimeAsync(50);
    expect(db.stats()).toMatchObject({ storedVersions: 1, pendingGc: 0, collectedVersions: 99 });
    expect(db.oldestVersion).toBe(db.version);
    await db.close();
  });

  it('close() stops the timer: nothing runs afterwards', async () => {
    const clock = new ManualClock(0);
    const db = await open({ clock, maintenance: { intervalMs: 10 } });
    await db.put('k', 1, { ttl: 1 });
    await db.close();
    clock.advance(100);
    await vi.advanceTimersByTimeAsync(100);
    expect(db.stats().maintenancePasses).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('intervalMs: 0 turns the timer off', async () => {
    const db = await open({ maintenance: { intervalMs: 0 } });
    expect(vi.getTimerCount()).toBe(0);
    await db.close();
  });

  it('a failing clock is counted as a maintenance error, not thrown into the event loop', async () => {
    let broken = false;
    const clock = {
      now: (): number => {
        if (broken) throw new Error('clock exploded');
        return 0;
      },
    };
    const db = await open({ clock, maintenance: { intervalMs: 10 } });
    await db.put('k', 1, { ttl: 1 });
    broken = true;
    await vi.advanceTimersByTimeAsync(10);
    expect(db.stats()).toMatchObject({ maintenanceErrors: 1, lastMaintenanceError: 'clock exploded' });
    broken = false;
    await db.close();
  });
});

describe('process lifecycle', () => {
  it('a script that opens, writes and closes exits on its own (no timer keeps it alive)', async () => {
    const entry = fileURLToPath(new URL('../../packages/epochdb/dist/index.js', import.meta.url));
    const script = `
      const { open } = await import(${JSON.stringify(entry)});
      const db = await open({ maintenance: { intervalMs: 5 } });
      await db.put('k', 1, { ttl: 1 });
      const s = db.snapshot();
      await db.close();
      console.log('closed', s.released);
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 });
    expect(stdout.trim()).toBe('closed false');
  });
});
