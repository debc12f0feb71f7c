import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, nodeFileSystem, open, type FileSystem } from 'epochdb';
import { untilTurn } from '../support/timers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'epochdb-review-'));
  dirs.push(dir);
  return dir;
}

describe('found in review', () => {
  it('regression: snapshotAt below a reopened checkpoint throws VERSION_UNAVAILABLE instead of reading a history that is gone', async () => {
    const dir = tempDir();
    // Written without retainVersions, its files keep no history (with it, history survives: history-restart.test.ts);
    // a snapshot pins version 1 while the process lives.
    let db = await open({ dir, maintenance: { intervalMs: 0 } });
    await db.put('a', 1);
    const pinned = db.snapshot();
    await db.put('a', 2);
    await db.put('b', 1);
    await db.delete('b');
    expect(db.snapshotAt(1).get('a')).toBe(1);
    pinned.release();
    await db.close();
    db = await open({ dir, retainVersions: 100, maintenance: { intervalMs: 0 } });
    expect(db.oldestVersion).toBe(4);
    expect(() => db.snapshotAt(1)).toThrow(expect.objectContaining({ code: 'VERSION_UNAVAILABLE' }));
    // History written after the reopen is real and readable again.
    await db.put('a', 3);
    await db.put('a', 4);
    expect(db.snapshotAt(5).get('a')).toBe(3);
    await db.close();
  });

  it('regression: a failed WAL write by the background TTL cleaner turns the database read-only instead of crashing the process', async () => {
    const dir = tempDir();
    let failing = false;
    const fileSystem: FileSystem = {
      ...nodeFileSystem,
      async open(path, flags, mode) {
        const handle = await nodeFileSystem.open(path, flags, mode);
        const fail = (): Promise<never> => Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }));
        return {
          ...handle,
          write: (data, position) => (failing ? fail() : handle.write(data, position)),
          writeDurable: (data, position) => (failing ? fail() : handle.writeDurable!(data, position)),
          datasync: () => (failing ? fail() : handle.datasync()),
          read: (position, length) => handle.read(position, length),
          truncate: (length) => handle.truncate(length),
          size: () => handle.size(),
          close: () => handle.close(),
        };
      },
    };
    const clock = new ManualClock(1_000);
    const db = await open({ dir, clock, fileSystem, checkpointOnClose: false, maintenance: { intervalMs: 5 } });
    await db.put('session', 1, { ttl: 10 });
    failing = true;
    clock.advance(100);
    // The cleaner commits an expire; its WAL write fails. No unhandled rejection may escape
    // (vitest fails the run on one); the database must turn read-only.
    await untilTurn(() => db.stats().reclaimedExpired > 0, 'the cleaner reclaims the expired session', 5);
    expect(db.stats().reclaimedExpired).toBe(1);
    // The expire's WAL write fails after the commit: wait until the database has noticed.
    await untilTurn(() => db.stats().failure !== undefined, 'the failed WAL write turns the database read-only', 5);
    await expect(db.put('k', 1)).rejects.toMatchObject({ code: 'FAILED' });
    expect(db.get('session')).toBeUndefined();
    await db.close();
  });

  it('regression: a crash during the very first open (marker temp file left behind) does not make the directory unopenable', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'EPOCHDB.tmp'), '{"form');
    const db = await open({ dir, maintenance: { intervalMs: 0 } });
    await db.put('k', 1);
    await db.close();
    const again = await open({ dir, maintenance: { intervalMs: 0 } });
    expect(again.get('k')).toBe(1);
    await again.close();
  });

  it('regression: WAL left by earlier runs counts toward the automatic checkpoint, so it cannot grow across restarts', async () => {
    const dir = tempDir();
    let db = await open({ dir, sync: 'none', checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    await db.batch(Array.from({ length: 200 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: 'x'.repeat(50) })));
    await db.close();
    // A short-lived process: it writes far less than checkpointWalBytes itself.
    db = await open({ dir, sync: 'none', checkpointWalBytes: 4096, checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    expect(db.recovery?.replayedRecords).toBe(1);
    await db.put('one-more', 1);
    await untilTurn(() => db.stats().checkpoints > 0, 'the automatic checkpoint finishes', 5);
    expect(db.stats().checkpoints).toBe(1);
    await db.close();
  });

  it('regression: backup() to an unusable destination rejects with IO_ERROR, not a raw Node error', async () => {
    const db = await open({ maintenance: { intervalMs: 0 } });
    await db.put('k', 1);
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'not a directory');
    await expect(db.backup(file)).rejects.toMatchObject({ code: 'IO_ERROR' });
    await db.close();
  });

  it('regression: what salvage keeps stays on disk even if the process dies before the salvage checkpoint', async () => {
    const dir = tempDir();
    let db = await open({ dir, sync: 'none', walSegmentBytes: 1024, checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    for (let i = 1; i <= 40; i++) await db.put(`k${i}`, 'v'.repeat(40));
    await db.close();
    const first = readdirSync(dir).filter((n) => n.startsWith('wal-')).sort()[0]!;
    const bytes = readFileSync(join(dir, first));
    bytes[bytes.length - 10] ^= 0xff; // damage the last record of the first (not last) segment
    writeFileSync(join(dir, first), bytes);
    await expect(open({ dir })).rejects.toMatchObject({ code: 'CORRUPTION' });
    // Salvage, but the checkpoint that would make its result whole cannot be written.
    const noCheckpoints: FileSystem = {
      ...nodeFileSystem,
      open: (path, flags, mode) => (/\.ckpt\.[0-9a-f]+\.tmp$/.test(path) ? Promise.reject(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' })) : nodeFileSystem.open(path, flags, mode)),
    };
    await expect(open({ dir, recovery: 'salvage', fileSystem: noCheckpoints })).rejects.toMatchObject({ code: 'IO_ERROR' });
    // A plain strict open afterwards finds the kept prefix intact, not a gap.
    db = await open({ dir, maintenance: { intervalMs: 0 } });
    expect(db.version).toBeGreaterThan(0);
    expect(db.get(`k${db.version}`)).toBe('v'.repeat(40));
    expect(db.get(`k${db.version + 1}`)).toBeUndefined();
    expect(readdirSync(join(dir, 'damaged')).length).toBeGreaterThan(0);
    await db.close();
  });

  it("regression: opening another program's directory never touches its LOCK file", async () => {
    const dir = tempDir();
    // What a LevelDB directory looks like: an empty LOCK (held with flock) and its own files.
    writeFileSync(join(dir, 'LOCK'), '');
    writeFileSync(join(dir, 'CURRENT'), 'MANIFEST-000001\n');
    await expect(open({ dir })).rejects.toMatchObject({ code: 'UNSUPPORTED_FORMAT' });
    expect(readdirSync(dir).sort()).toEqual(['CURRENT', 'LOCK']);
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe('');
  });
});
