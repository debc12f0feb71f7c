// Bugs the crash tests ran into, each reproduced minimally (in-process, against the sources).
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { open, type Database } from 'epochdb';

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

  // Fixed: WalWriter.rotate() and flushed() started with #drain(), which waited until the
  // flush loop was idle. A writer that issued its next commit as soon as the previous one was
  // acknowledged kept the loop busy forever, so a checkpoint (which rotates and flushes first)
  // never got past that wait: db.checkpoint() did not resolve, automatic checkpoints never
  // happened and the WAL grew without bound (checkpointWalBytes ignored) until the writes stopped.
  // Both tests wait on the writer's progress, not on the clock: a checkpoint that never resolves
  // fails as a test timeout.

  /** Starts a writer that commits as soon as its previous commit is acknowledged; `written` counts its commits. */
  function steadyWriter(db: Database): { readonly written: () => number; stop: () => Promise<void> } {
    let stop = false;
    let written = 0;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        await db.put(`k${i % 50}`, i);
        written++;
      }
    })();
    return {
      written: () => written,
      stop: async () => {
        stop = true;
        await writer;
      },
    };
  }
  const untilWritten = async (writer: { written: () => number }, n: number): Promise<void> => {
    while (writer.written() < n) await new Promise((resolve) => setImmediate(resolve));
  };

  it('regression: db.checkpoint() completes while one writer keeps writing', async () => {
    const dir = await freshDir();
    const db = await open({ dir, sync: 'none', maintenance: { intervalMs: 0 } });
    const writer = steadyWriter(db);
    try {
      await untilWritten(writer, 20); // writes are flowing
      const before = writer.written();
      await db.checkpoint();
      const after = writer.written();
      // It resolved while the writer went on (the writer is only stopped below).
      expect(after, 'writes made while the checkpoint ran').toBeGreaterThan(before);
      await untilWritten(writer, after + 1);
      expect(db.stats().checkpoints).toBeGreaterThan(0);
    } finally {
      await writer.stop();
      await db.close();
    }
  });

  it('regression: automatic checkpoints happen under a steady write load', async () => {
    const dir = await freshDir();
    // The merge inline (workers: 0): what is tested is the WAL's queue, not how fast a worker thread
    // starts on a busy machine, so the writer's own progress is a fair yardstick.
    const db = await open({ dir, sync: 'none', checkpointWalBytes: 8192, workers: 0, maintenance: { intervalMs: 0 } });
    const writer = steadyWriter(db);
    try {
      // 5000 commits are well over 100 KiB of WAL, many times checkpointWalBytes.
      await untilWritten(writer, 5000);
      const stats = db.stats();
      expect(stats.checkpoints, `checkpoints after ${writer.written()} writes (WAL since the last one: ${stats.walBytesSinceCheckpoint} bytes, checkpointWalBytes 8192)`).toBeGreaterThan(0);
    } finally {
      await writer.stop();
      await db.close();
    }
  });
});
