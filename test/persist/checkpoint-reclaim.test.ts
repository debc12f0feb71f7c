import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeFileSystem, type FileSystem } from 'epochdb';
import { listSegments } from '@epochdb/persist';
import { useDatabases } from '../support/databases.js';

const { openDb, tempDir } = useDatabases({ workers: 0, maintenance: { intervalMs: 0 }, sync: 'none' });

const walBytes = (dir: string): number => listSegments(readdirSync(dir)).reduce((sum, s) => sum + statSync(join(dir, s.name)).size, 0);
const checkpointNames = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.ckpt'));

/** The real file system, except that reads of checkpoint files flip a byte while `armed`. */
function flakyCheckpointReads(): { fs: FileSystem; arm(on: boolean): void } {
  let armed = false;
  const fs: FileSystem = {
    ...nodeFileSystem,
    async open(path, flags, mode) {
      const handle = await nodeFileSystem.open(path, flags, mode);
      if (flags !== 'r' || !path.endsWith('.ckpt')) return handle;
      return {
        ...handle,
        write: (data, position) => handle.write(data, position),
        datasync: () => handle.datasync(),
        truncate: (length) => handle.truncate(length),
        size: () => handle.size(),
        close: () => handle.close(),
        async read(position, length) {
          const bytes = await handle.read(position, length);
          if (armed && length > 64) bytes[length >> 1]! ^= 0xff;
          return bytes;
        },
      };
    },
  };
  return { fs, arm: (on) => void (armed = on) };
}

describe('checkpoint() reclaims the WAL', () => {
  it('when checkpoint() returns, the WAL it covers is gone: disk is the live data plus the WAL after it', async () => {
    const dir = tempDir();
    const db = await openDb({ dir, walSegmentBytes: 16 * 1024, checkpointOnClose: false });
    // Many overwrites of few keys: a WAL far larger than the live data.
    for (let round = 0; round < 40; round++) await db.batch(Array.from({ length: 50 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: { round, pad: 'x'.repeat(100) } })));
    const before = walBytes(dir);
    expect(before).toBeGreaterThan(200_000);
    await db.checkpoint();
    const after = walBytes(dir);
    // Only the fresh segment the checkpoint rotated to is left (its header).
    expect(listSegments(readdirSync(dir))).toHaveLength(1);
    expect(after).toBeLessThan(1024);
    expect(db.stats().bytesReclaimed).toBeGreaterThanOrEqual(before - after);
    expect(checkpointNames(dir)).toHaveLength(1);
    await db.put('k0', 'last');
    await db.close();
    const again = await openDb({ dir });
    expect(again.get('k0')).toBe('last');
    expect(again.get('k49')).toMatchObject({ round: 39 });
    expect(again.recovery).toMatchObject({ replayedRecords: 1 });
  });

  it('keeps one previous checkpoint, never more', async () => {
    const dir = tempDir();
    const db = await openDb({ dir, checkpointOnClose: false });
    for (let i = 0; i < 4; i++) {
      await db.put(`k${i}`, i);
      await db.checkpoint();
    }
    expect(checkpointNames(dir).sort()).toEqual(['checkpoint-0000000000000003.ckpt', 'checkpoint-0000000000000004.ckpt']);
  });

  it('a checkpoint that does not read back whole prunes nothing, and the database stays writable', async () => {
    const dir = tempDir();
    const flaky = flakyCheckpointReads();
    const db = await openDb({ dir, fileSystem: flaky.fs, walSegmentBytes: 4096, checkpointOnClose: false });
    for (let i = 0; i < 100; i++) await db.put(`k${i}`, 'x'.repeat(200));
    const segments = listSegments(readdirSync(dir)).map((s) => s.name);
    flaky.arm(true);
    await expect(db.checkpoint()).rejects.toMatchObject({ code: 'CORRUPTION' });
    flaky.arm(false);
    // Every segment that was there is still there (the checkpoint rotated to one more).
    const left = listSegments(readdirSync(dir)).map((s) => s.name);
    for (const name of segments) expect(left).toContain(name);
    expect(db.stats().bytesReclaimed).toBe(0);
    await db.put('after', 1);
    await db.close();
    const again = await openDb({ dir });
    expect(again.get('k99')).toBe('x'.repeat(200));
    expect(again.get('after')).toBe(1);
  });
});
