// The crash checker must not pass vacuously: damage a crashed directory in ways
// EpochDB itself never should, and the harness has to report it.
import { readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { open } from 'epochdb';
import { runChain, type ChainConfig } from './harness.js';

const ONE_ROUND: ChainConfig = { mode: 'none', label: 'self-check', kills: 1, seed: 12345, killMs: [300, 301], killAcks: [600, 601] };

describe('crash harness self-check', () => {
  it('reports acknowledged commits lost with the tail of the WAL', async () => {
    const tamper = async (copy: string): Promise<void> => {
      const segments = (await readdir(copy)).filter((name) => /^wal-\d+\.log$/.test(name)).sort();
      const last = join(copy, segments.at(-1)!);
      const { size } = await stat(last);
      await truncate(last, 16 + Math.floor((size - 16) / 2));
    };
    await expect(runChain({ ...ONE_ROUND, tamper })).rejects.toThrow(/MISSING|older than the acknowledged|db\.version is \d+ after reopen/);
  });

  it('reports a batch that is only partly there', async () => {
    const tamper = async (copy: string): Promise<void> => {
      const db = await open({ dir: copy, maintenance: { intervalMs: 0 } });
      try {
        const first = [...db.scan({ prefix: 'b/' })].find((e) => e.key.endsWith('/0'));
        if (first === undefined) throw new Error('the writer wrote no batch');
        await db.delete(first.key);
      } finally {
        await db.close();
      }
    };
    await expect(runChain({ ...ONE_ROUND, tamper })).rejects.toThrow(/partial batch in slot|partial commit/);
  });

  it('reports a transfer whose total is not conserved', async () => {
    const tamper = async (copy: string): Promise<void> => {
      const db = await open({ dir: copy, maintenance: { intervalMs: 0 } });
      try {
        const entry = db.getEntry('acct/0')!;
        await db.put('acct/0', { ...(entry.value as object), bal: (entry.value as { bal: number }).bal + 1 }, { run: entry.run!, type: entry.type! });
      } finally {
        await db.close();
      }
    };
    await expect(runChain({ ...ONE_ROUND, tamper })).rejects.toThrow(/total \d+, expected 1000/);
  });

  // Found by the crash suite (about 1 run in 6 on a loaded machine: "phantom value ... no write
  // ever announced it"). process.stdout.write to a pipe completes at once only while the pipe has
  // room; when the parent fell behind, the child queued its intent lines in its own memory, went on
  // to commit them (under sync 'none' the records reach the OS at once), and the SIGKILL discarded
  // the queue. The child now waits for a queued intent to reach the pipe before the commit call.
  it('regression: intents reach the parent even when it reads the child\'s stdout late', async () => {
    const summary = await runChain({ ...ONE_ROUND, label: 'read-late', readLate: true });
    expect(summary.stdoutStalls, 'rounds in which the child waited for its full pipe').toBe(1);
    expect(summary.acks).toBeGreaterThan(0);
  });
});
