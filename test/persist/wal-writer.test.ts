import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeValue, type CommitRecord } from '@epochdb/core';
import { WalWriter, nodeFileSystem, parseSegmentName, recover, scanFrames, type FileHandle, type FileSystem } from '@epochdb/persist';
import { timerTurns, untilTurn } from '../support/timers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'epochdb-wal-'));
  dirs.push(dir);
  return dir;
}

const record = (version: number, size = 10): CommitRecord => ({
  version,
  time: 0,
  ops: [{ kind: 'put', key: `k${version}`, encoded: encodeValue('x'.repeat(size)) }],
});

describe('WalWriter', () => {
  it('regression: a segment rotated while appends are queued is named after the next record written, not the last appended', async () => {
    // Found by bench/recovery.mjs: the new segment took the version after the newest
    // *appended* record, so records still queued landed in a file whose name claimed a
    // later first version, and recovery reported them missing.
    const dir = tempDir();
    await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
    const wal = await WalWriter.create({ fs: nodeFileSystem, dir, segmentBytes: 200, syncIntervalMs: 1000 }, 1);
    const writes: Promise<void>[] = [];
    for (let v = 1; v <= 60; v++) {
      writes.push(wal.append(record(v, 40), v % 3 === 0 ? 'always' : 'none'));
      if (v % 7 === 0) await Promise.resolve();
    }
    await Promise.all(writes);
    await wal.close();
    const segments = readdirSync(dir).map(parseSegmentName).filter((v) => v !== undefined);
    expect(segments.length).toBeGreaterThan(1);
    const recovered = await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
    expect(recovered.records.map((r) => r.version)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  it('group commit: concurrent always-appends share fdatasyncs; sequential ones pay one each', async () => {
    const dir = tempDir();
    await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
    const wal = await WalWriter.create({ fs: nodeFileSystem, dir, segmentBytes: 1 << 30, syncIntervalMs: 1000 }, 1);
    const before = wal.syncs;
    await Promise.all(Array.from({ length: 200 }, (_, i) => wal.append(record(i + 1), 'always')));
    const concurrentSyncs = wal.syncs - before;
    for (let v = 201; v <= 220; v++) await wal.append(record(v), 'always');
    const sequentialSyncs = wal.syncs - before - concurrentSyncs;
    await wal.close();
    expect(concurrentSyncs).toBeLessThanOrEqual(5);
    expect(sequentialSyncs).toBe(20);
  });

  it("the interval timer fdatasyncs 'interval' writes by itself, and never 'none' writes", async () => {
    const dir = tempDir();
    await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
    const PERIOD = 15;
    const wal = await WalWriter.create({ fs: nodeFileSystem, dir, segmentBytes: 1 << 30, syncIntervalMs: PERIOD }, 1);
    const start = wal.syncs;
    await wal.append(record(1), 'none');
    await timerTurns(PERIOD, 4);
    expect(wal.syncs).toBe(start);
    await wal.append(record(2), 'interval');
    expect(wal.syncs).toBe(start); // acknowledged before any fdatasync
    // The timer's fdatasync completes asynchronously: wait for it, then give the timer more turns.
    await untilTurn(() => wal.syncs > start, 'the interval timer syncs the interval write', PERIOD);
    await timerTurns(PERIOD, 4);
    expect(wal.syncs).toBe(start + 1); // the timer did it, with no further write, once
    await wal.flushed();
    expect(wal.syncs).toBe(start + 1); // nothing left to sync
    await wal.close();
  });

  it('pipelined group commit: while one write is in flight the next group gathers (one shared promise) and goes, whole, the moment it returns', async () => {
    const dir = tempDir();
    await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
    const { fs: gated, writes } = gatedFileSystem();
    const wal = await WalWriter.create({ fs: gated, dir, segmentBytes: 1 << 30, syncIntervalMs: 1000 }, 1);
    const first = wal.append(record(1), 'always');
    await untilTurn(() => writes.length === 1, 'the first group is written', 1);
    // Appended in separate turns while the first write is in flight: they gather, nothing else is written.
    const next: Promise<void>[] = [];
    for (let v = 2; v <= 5; v++) {
      next.push(wal.append(record(v), 'always'));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(writes).toHaveLength(1);
    expect(new Set(next).size, 'one promise for the whole gathering group').toBe(1);
    writes[0]!.release();
    await first;
    await untilTurn(() => writes.length === 2, 'the gathered group is written as soon as the first returns', 1);
    expect(writes[1]!.frames).toBe(4);
    writes[1]!.release();
    await Promise.all(next);
    expect(writes).toHaveLength(2);
    await wal.close();
    const recovered = await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
    expect(recovered.records.map((r) => r.version)).toStrictEqual([1, 2, 3, 4, 5]);
  });

  it('early write: a group that passes earlyWriteBytes while the disk is idle is written inside the synchronous run that appends it; the rest of the run gathers behind it and goes, whole, when it returns', async () => {
    const dir = tempDir();
    await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
    const { fs, writes } = gatedFileSystem();
    const wal = await WalWriter.create({ fs, dir, segmentBytes: 1 << 30, syncIntervalMs: 1000, earlyWriteBytes: 300 }, 1);
    // One synchronous run: no microtask, no timer in between.
    const promises: Promise<void>[] = [];
    let version = 0;
    while (writes.length === 0) {
      promises.push(wal.append(record(++version, 40), 'always'));
      expect(version, 'the early write starts before the run ends').toBeLessThan(50);
    }
    const early = version;
    for (let i = 0; i < 3 * early; i++) promises.push(wal.append(record(++version, 40), 'always'));
    expect(writes, 'one write in flight: the rest gathers even past earlyWriteBytes').toHaveLength(1);
    expect(writes[0]!.frames).toBe(early);
    expect(new Set(promises.slice(0, early)).size, 'the early group shares one promise').toBe(1);
    expect(new Set(promises.slice(early)).size, 'and the gathering group another').toBe(1);
    expect(promises[early]).not.toBe(promises[0]);
    // Not acknowledged before its write returns.
    let acknowledged = false;
    void promises[0]!.then(() => (acknowledged = true));
    await timerTurns(1, 3);
    expect(acknowledged).toBe(false);
    expect(writes).toHaveLength(1);
    writes[0]!.release();
    await promises[0];
    await untilTurn(() => writes.length === 2, 'the gathered group is written as soon as the early one returns', 1);
    expect(writes[1]!.frames).toBe(version - early);
    writes[1]!.release();
    await Promise.all(promises);
    expect(wal.syncs, 'one O_DSYNC write per group').toBe(2);
    await wal.close();
    const recovered = await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
    expect(recovered.records.map((r) => r.version)).toStrictEqual(Array.from({ length: version }, (_, i) => i + 1));
  });

  it('a group that fills its segment queues a rotation; one queued before it (a checkpoint\'s) makes that one a no-op, not a second open of the same segment', async () => {
    const dir = tempDir();
    await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
    const { fs, writes, opened } = gatedFileSystem();
    const wal = await WalWriter.create({ fs, dir, segmentBytes: 200, syncIntervalMs: 1000 }, 1);
    const full = wal.append(record(1, 300), 'always');
    await untilTurn(() => writes.length === 1, 'the group is written', 1);
    const rotated = wal.rotate(); // queued behind the group's write
    writes[0]!.release();
    await full;
    expect(await rotated, 'the checkpoint rotation closes the segment holding version 1').toBe(1);
    const next = wal.append(record(2), 'always');
    await untilTurn(() => writes.length === 2, 'the next group is written', 1);
    writes[1]!.release();
    await next;
    await wal.close();
    expect(opened, 'one segment at create, one for the rotation: the queued automatic one found nothing to do').toEqual(['wal-0000000000000001.log', 'wal-0000000000000002.log']);
    const recovered = await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
    expect(recovered.records.map((r) => r.version)).toStrictEqual([1, 2]);
  });

  it('early write: a group below earlyWriteBytes waits for the end of the run (one write for all of it)', async () => {
    const dir = tempDir();
    await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
    const { fs, writes } = gatedFileSystem();
    const wal = await WalWriter.create({ fs, dir, segmentBytes: 1 << 30, syncIntervalMs: 1000, earlyWriteBytes: 1 << 20 }, 1);
    const promises = Array.from({ length: 100 }, (_, i) => wal.append(record(i + 1, 40), 'always'));
    expect(writes).toHaveLength(0);
    await untilTurn(() => writes.length === 1, 'the group is written after the run', 1);
    expect(writes[0]!.frames).toBe(100);
    writes[0]!.release();
    await Promise.all(promises);
    await wal.close();
  });
});

/** The real file system, with every durable write of a WAL segment held until the test releases it (and counted in frames). */
function gatedFileSystem(): { fs: FileSystem; writes: { frames: number; release: () => void }[]; opened: string[] } {
  const writes: { frames: number; release: () => void }[] = [];
  const opened: string[] = [];
  const fs: FileSystem = {
    ...nodeFileSystem,
    async open(path, flags, mode) {
      const handle = await nodeFileSystem.open(path, flags, mode);
      if (!path.endsWith('.log')) return handle;
      opened.push(basename(path));
      return {
        write: (data, position) => handle.write(data, position),
        read: (position, length) => handle.read(position, length),
        datasync: () => handle.datasync(),
        truncate: (length) => handle.truncate(length),
        size: () => handle.size(),
        close: () => handle.close(),
        async writeDurable(data, position) {
          const frames = scanFrames(Buffer.from(data), 0).records.length;
          if (frames > 0) await new Promise<void>((release) => writes.push({ frames, release }));
          await handle.writeDurable!(data, position);
        },
      };
    },
  };
  return { fs, writes, opened };
}
