/**
 * `checkpoint` and `backup` through the real binary: the checkpoint covers
 * the WAL so the next open replays nothing; the backup opens as a database
 * holding the same entries, and refuses a non-empty destination.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDb, checkpoints, epochdbInSequence, snapshotFiles, tempRoot } from './cli-harness.js';

const temp = tempRoot('ckpt');
afterAll(() => temp.cleanup());

describe('checkpoint', () => {
  it('writes a checkpoint at the current version, after which open replays no WAL', async () => {
    const dir = temp.dir('db');
    await buildDb(
      dir,
      async (db) => {
        for (let i = 0; i < 20; i++) await db.put(`k${i}`, i);
      },
      { checkpointOnClose: false },
    );
    expect(checkpoints(dir)).toEqual([]);
    const [before, table, json, after] = await epochdbInSequence([['stats', dir, '--json'], ['checkpoint', dir], ['checkpoint', dir, '--json'], ['stats', dir, '--json']]);
    expect(JSON.parse(before.stdout)).toMatchObject({ recovery: { checkpointVersion: 0, replayedRecords: 20 } });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^checkpoint at version 20 written to ${dir} in \\d+ ms; WAL \\d+ segment\\(s\\)`));
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ dir, version: 20, upToDate: true, after: { checkpoints: 1 } });
    expect(JSON.parse(after.stdout)).toMatchObject({ stats: { version: 20, keys: 20 }, recovery: { checkpointVersion: 20, checkpointEntries: 20, replayedRecords: 0 } });
  });
});

describe('backup', () => {
  it('copies the database into a new directory that opens with the same entries, leaving the source as it was', async () => {
    const dir = temp.dir('db');
    await buildDb(dir, async (db) => {
      await db.put('a', new Map([[1, 2]]), { run: 'r', type: 't' });
      await db.put('b', 'x', { ttl: 3_600_000 });
    });
    const dest = temp.dir('backup');
    const nonEmpty = temp.dir('full');
    mkdirSync(nonEmpty);
    writeFileSync(join(nonEmpty, 'x'), '');
    const before = snapshotFiles(dir);
    const [backup, refused, json, source, copy] = await epochdbInSequence([
      ['backup', dir, dest],
      ['backup', dir, nonEmpty],
      ['backup', dir, temp.dir('backup2'), '--json'],
      ['dump', dir],
      ['dump', dest],
    ]);
    expect(backup.code).toBe(0);
    expect(backup.stdout).toMatch(new RegExp(`^backup of ${dir} at version 2 \\(2 keys\\) written to ${dest} \\(\\d+ B\\)\\n$`));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/INVALID_OPTION: backup\(\): destination .* is not empty/);
    expect(JSON.parse(json.stdout)).toMatchObject({ dir, version: 2, keys: 2 });
    expect(snapshotFiles(dir)).toEqual(before);
    expect(copy.code).toBe(0);
    expect(copy.stdout.split('\n').slice(1)).toEqual(source.stdout.split('\n').slice(1));
  });
});
