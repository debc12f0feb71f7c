// Bugs the crash tests ran into, each reproduced minimally (in-process, against the sources).
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { open } from 'epochdb';

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'epochdb-regression-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const outcome = (r: PromiseSettledResult<unknown>): string => (r.status === 'fulfilled' ? 'ok' : `rejected: ${(r.reason as Error).message}`);

describe('crash-test findings', () => {
  // Persistence.checkpoint() waits for a running checkpoint before starting its
  // own ("one checkpoint runs at a time"), but every caller that waited on the
  // same running checkpoint starts at once when it ends. Two checkpoints then
  // write the same checkpoint-<v>.ckpt.tmp (one rename fails with ENOENT) or
  // prune the same files (one unlink fails with ENOENT). In the crash writer it
  // shows up as an explicit db.checkpoint() overlapping the automatic one.
  it('regression: concurrent db.checkpoint() calls all resolve', async () => {
    const dir = await freshDir();
    const db = await open({ dir, maintenance: { intervalMs: 0 } });
    try {
      await db.put('k', 1);
      const results = await Promise.allSettled([db.checkpoint(), db.checkpoint(), db.checkpoint()]);
      expect(results.map(outcome)).toEqual(['ok', 'ok', 'ok']);
      expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    } finally {
      await db.close();
    }
  });

  // WalWriter.rotate() and flushed() start with #drain(), which waits until the
  // flush loop is idle. A writer that issues its next commit as soon as the
  // previous one is acknowledged keeps the loop busy forever, so a checkpoint
  // (which rotates and flushes first) never gets past that wait: db.checkpoint()
  // does not resolve, automatic checkpoints never happen and the WAL grows
  // without bound (checkpointWalBytes is ignored) until the writes stop.
  const sleep = (ms: number): Promise<string> => new Promise((resolve) => setTimeout(() => resolve(`still pending after ${ms} ms`), ms));

  it('regression: db.checkpoint() completes while one writer keeps writing', async () => {
    const dir = await freshDir();
    const db = await open({ dir, sync: 'none', maintenance: { intervalMs: 0 } });
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) await db.put(`k${i % 50}`, i);
    })();
    try {
      await sleep(20);
      const checkpoint = db.checkpoint().then(() => 'resolved');
      expect(await Promise.race([checkpoint, sleep(1000)])).toBe('resolved');
    } finally {
      stop = true;
      await writer;
      await db.close();
    }
  });

  it('regression: automatic checkpoints happen under a steady write load', async () => {
    const dir = await freshDir();
    const db = await open({ dir, sync: 'none', checkpointWalBytes: 8192, maintenance: { intervalMs: 0 } });
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) await db.put(`k${i % 50}`, i);
    })();
    try {
      // Half a second of writes is hundreds of KiB of WAL, many times checkpointWalBytes; a loaded
      // machine may need longer to start the worker, so wait for a checkpoint (or 30 s), not a fixed time.
      const started = Date.now();
      do await sleep(50);
      while (db.stats().checkpoints === 0 && Date.now() - started < 30_000);
      const stats = db.stats();
      expect(stats.checkpoints, `checkpoints after ${Date.now() - started} ms of writes (WAL since the last one: ${stats.walBytesSinceCheckpoint} bytes, checkpointWalBytes 8192)`).toBeGreaterThan(0);
    } finally {
      stop = true;
      await writer;
      await db.close();
    }
  });
});
