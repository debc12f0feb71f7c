import { describe, expect, it } from 'vitest';
import { open, type Database } from 'epochdb';

/** Waits until `condition` holds (background work decides the pace), failing after `ms`. */
async function waitFor(condition: () => boolean, what: string, stats?: () => unknown, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(stats?.())}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const value = (i: number, round: number): { i: number; round: number; pad: string } => ({ i, round, pad: 'p'.repeat(40 + (i % 20)) });

describe('value memory upkeep (end to end, public API only)', () => {
  it('compacts sparse segments by itself, copying on a worker thread: utilisation comes back above 80% and every value reads back', async () => {
    const db = await open({ workers: 1, valueSegmentBytes: 64 * 1024, maintenance: { intervalMs: 20 } });
    try {
      const n = 5000;
      await db.batch(Array.from({ length: n }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: value(i, 0) })));
      // Overwrite three keys in four: the old segments are a quarter live.
      for (let start = 0; start < n; start += 1000) {
        await db.batch(Array.from({ length: 1000 }, (_, j) => start + j).filter((i) => i % 4 !== 0).map((i) => ({ op: 'put' as const, key: `k${i}`, value: value(i, 1) })));
      }
      await db.batch(Array.from({ length: n / 2 }, (_, i) => ({ op: 'delete' as const, key: `k${2 * i + 1}` })));
      expect(db.stats().valueUtilization).toBeLessThan(0.8);
      await waitFor(() => db.stats().compactions > 0 && db.stats().valueUtilization >= 0.8, 'compaction', () => db.stats());
      const stats = db.stats();
      expect(stats.recordsMoved).toBeGreaterThan(0);
      expect(stats.compactionWorkerMs).toBeGreaterThan(0);
      expect(stats.tasksRun).toBeGreaterThan(0);
      for (let i = 0; i < n; i++) {
        if (i % 2 === 1) expect(db.get(`k${i}`)).toBeUndefined();
        else expect(db.get(`k${i}`)).toEqual(value(i, i % 4 === 0 ? 0 : 1));
      }
    } finally {
      await db.close();
    }
  });

  it('a snapshot taken before compaction reads the same values after it; segments that die whole are let go without copying', async () => {
    const db = await open({ workers: 1, valueSegmentBytes: 64 * 1024, maintenance: { intervalMs: 20 } });
    try {
      await db.batch(Array.from({ length: 3000 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: value(i, 0) })));
      const before = db.snapshot();
      await db.batch(Array.from({ length: 3000 }, (_, i) => i).filter((i) => i % 4 !== 0).map((i) => ({ op: 'put' as const, key: `k${i}`, value: value(i, 1) })));
      for (let i = 0; i < 3000; i += 7) expect(before.get(`k${i}`)).toEqual(value(i, 0));
      before.release();
      const during = db.snapshot();
      await waitFor(() => db.stats().compactions > 0 && db.stats().valueUtilization >= 0.8, 'compaction', () => db.stats());
      const expected = (i: number): unknown => value(i, i % 4 === 0 ? 0 : 1);
      for (let i = 0; i < 3000; i++) expect(during.get(`k${i}`)).toEqual(expected(i));
      for (let i = 0; i < 3000; i++) expect(db.get(`k${i}`)).toEqual(expected(i));
      during.release();
      // Overwriting everything again leaves whole segments dead: they go at once, with nothing to copy.
      const moved = db.stats().recordsMoved;
      await db.batch(Array.from({ length: 3000 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: value(i, 2) })));
      await db.batch(Array.from({ length: 3000 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: value(i, 3) })));
      expect(db.stats().valueUtilization).toBeGreaterThan(0.45);
      await waitFor(() => db.stats().valueUtilization >= 0.8, 'utilisation', () => db.stats());
      expect(db.stats().recordsMoved - moved).toBeLessThan(3000);
    } finally {
      await db.close();
    }
  });
});

describe('the memory budget', () => {
  async function fill(db: Database): Promise<{ accepted: number; refusal: unknown }> {
    let accepted = 0;
    for (let batch = 0; batch < 1000; batch++) {
      const ops = Array.from({ length: 100 }, (_, i) => ({ op: 'put' as const, key: `user:${String(batch * 100 + i).padStart(9, '0')}`, value: value(i, batch) }));
      try {
        await db.batch(ops);
        accepted += ops.length;
      } catch (refusal) {
        return { accepted, refusal };
      }
    }
    return { accepted, refusal: undefined };
  }

  it('a database filling up gets LIMIT_EXCEEDED on the commit that would pass the budget, naming the budget and the figure, and keeps serving reads and deletes', async () => {
    const budget = 512 * 1024;
    const db = await open({ maxMemoryBytes: budget, maintenance: { intervalMs: 0 } });
    try {
      const { accepted, refusal } = await fill(db);
      expect(refusal).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxMemoryBytes' });
      const message = (refusal as Error).message;
      expect(message).toContain(`${budget} bytes (maxMemoryBytes)`);
      const held = Number(/holds (\d+) bytes/.exec(message)?.[1]);
      expect(held).toBe(db.stats().memoryBytes);
      expect(held).toBeLessThanOrEqual(budget);
      // Nothing of the refused batch was applied; everything accepted is there.
      const stats = db.stats();
      expect(stats.keys).toBe(accepted);
      expect(db.get(`user:${String(accepted).padStart(9, '0')}`)).toBeUndefined();
      expect(db.get(`user:${String(accepted - 1).padStart(9, '0')}`)).toEqual(value(99, accepted / 100 - 1));
      expect([...db.scan({ limit: 3 })]).toHaveLength(3);
      // Value memory is counted exactly: the live record bytes are part of the account.
      expect(stats.memoryBytes).toBe(stats.valueLiveBytes + stats.heapBytes);
      await db.batch(Array.from({ length: 50 }, (_, i) => ({ op: 'delete' as const, key: `user:${String(i).padStart(9, '0')}` })));
      await db.put('after-delete', value(1, 1));
      expect(db.get('after-delete')).toEqual(value(1, 1));
    } finally {
      await db.close();
    }
  });

  it('the default budget is derived from the machine and is never 0', async () => {
    const db = await open();
    try {
      expect(db.stats().maxMemoryBytes).toBeGreaterThan(0);
    } finally {
      await db.close();
    }
  });
});
