/**
 * `checkpointOnClose: 'auto'` (the default): close() rewrites the checkpoint
 * only when that is worth its cost. A large checkpoint with little WAL since
 * it is left as it is and the flushed WAL is replayed by the next open; an
 * automatic checkpoint still being built is cancelled, not waited for. Every
 * acknowledged write survives either way. Real directories, real workers.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CHECKPOINT_FREE_BYTES, CLOSE_CHECKPOINT_WAL_SHARE, closingCheckpointWorthIt } from '@epochdb/persist';
import { open, type Database } from 'epochdb';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
const tempDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'epochdb-close-ckpt-'));
  dirs.push(dir);
  return dir;
};
const checkpoints = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith('.ckpt')).sort();

/** 20 values of 1 MiB: a checkpoint over {@link CLOSE_CHECKPOINT_FREE_BYTES}, written in about a second. */
const BIG = 20;
const big = (i: number): string => String.fromCharCode(97 + i).repeat(1024 * 1024);

async function largeDatabase(dir: string, extra: Parameters<typeof open>[0] = {}): Promise<Database> {
  const db = await open({ dir, sync: 'none', maintenance: { intervalMs: 0 }, ...extra });
  for (let i = 0; i < BIG; i++) await db.put(`big:${i}`, big(i));
  await db.checkpoint();
  expect(db.stats().lastCheckpointVersion).toBe(BIG);
  return db;
}

describe('closingCheckpointWorthIt (the policy)', () => {
  it('rewrites small checkpoints always, large ones only for a large enough WAL, and never for no WAL', () => {
    expect(closingCheckpointWorthIt(0, 1)).toBe(true);
    expect(closingCheckpointWorthIt(CLOSE_CHECKPOINT_FREE_BYTES - 1, 1)).toBe(true);
    expect(closingCheckpointWorthIt(CLOSE_CHECKPOINT_FREE_BYTES, 1)).toBe(false);
    const large = 1e9;
    expect(closingCheckpointWorthIt(large, large * CLOSE_CHECKPOINT_WAL_SHARE - 1)).toBe(false);
    expect(closingCheckpointWorthIt(large, large * CLOSE_CHECKPOINT_WAL_SHARE)).toBe(true);
    expect(closingCheckpointWorthIt(0, 0)).toBe(false);
  });
});

describe("checkpointOnClose: 'auto'", () => {
  it('leaves a large checkpoint alone for a small WAL; the next open replays it and has every write', async () => {
    const dir = await tempDir();
    const db = await largeDatabase(dir);
    await db.put('small', 1);
    await db.delete('big:3');
    await db.close();
    expect(await checkpoints(dir)).toHaveLength(1);
    const again = await open({ dir });
    expect(again.recovery).toMatchObject({ checkpointVersion: BIG, replayedRecords: 2 });
    expect(again.get('small')).toBe(1);
    expect(again.get('big:3')).toBeUndefined();
    expect(again.get('big:7')).toBe(big(7));
    await again.close();
  });

  it('checkpoints when the WAL since the checkpoint reaches its share of the checkpoint (CLOSE_CHECKPOINT_WAL_SHARE)', async () => {
    const dir = await tempDir();
    const db = await largeDatabase(dir);
    for (let i = 0; i < Math.ceil(BIG * CLOSE_CHECKPOINT_WAL_SHARE); i++) await db.put(`big:${i}`, big(i + 1));
    await db.close();
    const again = await open({ dir });
    expect(again.recovery).toMatchObject({ checkpointVersion: BIG + Math.ceil(BIG * CLOSE_CHECKPOINT_WAL_SHARE), replayedRecords: 0 });
    expect(again.get('big:0')).toBe(big(1));
    await again.close();
  });

  it('counts WAL replayed at open: closing again without writing still leaves it to the WAL, and data stays', async () => {
    const dir = await tempDir();
    const db = await largeDatabase(dir);
    await db.put('small', 1);
    await db.close();
    const second = await open({ dir });
    await second.close();
    const third = await open({ dir });
    expect(third.recovery).toMatchObject({ checkpointVersion: BIG, replayedRecords: 1 });
    expect(third.get('small')).toBe(1);
    await third.close();
  });

  it("refuses a checkpointOnClose other than true, false or 'auto' (INVALID_OPTION naming it), creating nothing", async () => {
    expect.assertions(3);
    const dir = join(await tempDir(), 'db');
    try {
      await open({ dir, checkpointOnClose: 'sometimes' as unknown as boolean });
    } catch (error) {
      expect(error).toMatchObject({ code: 'INVALID_OPTION' });
      expect((error as Error).message).toContain('checkpointOnClose');
    }
    await expect(readdir(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('checkpointOnClose: true always writes the closing checkpoint', async () => {
    const dir = await tempDir();
    const db = await largeDatabase(dir, { checkpointOnClose: true });
    await db.put('small', 1);
    await db.close();
    const again = await open({ dir });
    expect(again.recovery).toMatchObject({ checkpointVersion: BIG + 1, replayedRecords: 0 });
    await again.close();
  });

  it('cancels an automatic checkpoint still running at close, without counting a failure; nothing is lost', async () => {
    const dir = await tempDir();
    // A threshold the next writes pass at once, so an automatic checkpoint starts right away.
    const db = await largeDatabase(dir, { checkpointWalBytes: 1024 });
    const started = db.stats().checkpoints;
    for (let i = 0; i < 50; i++) await db.put(`small:${i}`, i);
    expect(db.stats().checkpointing, 'an automatic checkpoint is running').toBe(true);
    await db.close();
    expect(db.stats().checkpointErrors).toBe(0);
    const again = await open({ dir });
    // Either the build finished before it was cancelled or the WAL carries the writes: all are there.
    expect(again.recovery!.checkpointVersion).toBeGreaterThanOrEqual(BIG);
    for (let i = 0; i < 50; i++) expect(again.get(`small:${i}`)).toBe(i);
    expect(again.get('big:19')).toBe(big(19));
    expect(db.stats().checkpoints).toBeGreaterThanOrEqual(started);
    await again.close();
  });

  it('a closing checkpoint cancels the automatic one still running and writes its own: everything in the checkpoint, no failure counted, no file left behind', async () => {
    const dir = await tempDir();
    const db = await largeDatabase(dir, { checkpointWalBytes: 1024, checkpointOnClose: true });
    for (let i = 0; i < 50; i++) await db.put(`small:${i}`, i);
    expect(db.stats().checkpointing, 'an automatic checkpoint is running').toBe(true);
    const version = db.version;
    await db.close();
    expect(db.stats().checkpointErrors).toBe(0);
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toStrictEqual([]);
    const again = await open({ dir });
    expect(again.recovery).toMatchObject({ checkpointVersion: version, replayedRecords: 0 });
    for (let i = 0; i < 50; i++) expect(again.get(`small:${i}`)).toBe(i);
    expect(again.get('big:19')).toBe(big(19));
    await again.close();
  });
});
