/**
 * `verify` and `repair` through the real binary on healthy and damaged
 * directories (a flipped byte in a WAL segment that is not the newest, and in
 * a checkpoint), plus the progress watcher behind verify's progress bar.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFileSystem, verifyDirectory } from '@epochdb/persist';
import { open } from 'epochdb';
import { watchReads } from '../../packages/epochdb/src/cli/verify-progress.js';
import { buildDb, checkpoints, epochdb, epochdbInSequence, flipByte, snapshotFiles, tempRoot, walSegments } from './cli-harness.js';

const temp = tempRoot('verify');
afterAll(() => temp.cleanup());

const PUTS = 60;
/** Many small WAL segments, no checkpoint: every record stays in the WAL. */
let walOnly: string;
/** One checkpoint at version PUTS, written by close() (which deleted the WAL it covers). */
let withCheckpoint: string;

const fill = async (db: Awaited<ReturnType<typeof open>>): Promise<void> => {
  for (let i = 0; i < PUTS; i++) await db.put(`k${String(i).padStart(3, '0')}`, { i, pad: 'x'.repeat(80) }, { type: i % 2 === 0 ? 'even' : 'odd' });
};

beforeAll(async () => {
  walOnly = temp.dir('wal');
  await buildDb(walOnly, fill, { walSegmentBytes: 1024, checkpointOnClose: false });
  withCheckpoint = temp.dir('ckpt');
  await buildDb(withCheckpoint, fill);
  expect(walSegments(walOnly).length).toBeGreaterThan(3);
  expect(checkpoints(withCheckpoint)).toHaveLength(1);
});

const copyOf = (pristine: string): string => {
  const dir = temp.dir('copy');
  cpSync(pristine, dir, { recursive: true });
  return dir;
};

describe('verify', () => {
  it('reports every file ok, with a line per file on stderr when it is not a terminal', async () => {
    const [table, json] = await Promise.all([epochdb(['verify', walOnly]), epochdb(['verify', walOnly, '--json'])]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^FILE +KIND +BYTES +ITEMS +STATUS$/);
    expect(lines.slice(1, -1)).toHaveLength(walSegments(walOnly).length);
    for (const line of lines.slice(1, -1)) expect(line).toMatch(/^wal-\d{16}\.log +wal +\d+ +\d+ +ok$/);
    expect(lines.at(-1)).toBe(`ok: every checksum verified (0 checkpoint(s), 0 entries; ${walSegments(walOnly).length} WAL segment(s), ${PUTS} records)`);
    expect(table.stderr.trimEnd().split('\n')).toEqual(walSegments(walOnly).map((name) => expect.stringMatching(new RegExp(`^verifying ${name} \\(\\d`))));
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, segments: walSegments(walOnly).length, records: PUTS });
  });

  it('on a directory a live writer keeps checkpointing, verify never reports a pruned file as damage, and --json always prints its report', async () => {
    const dir = temp.dir('busy');
    // Checkpoints every few KiB, inline, so that pruning interleaves with verify's reads.
    const db = await open({ dir, sync: 'none', walSegmentBytes: 1024, checkpointWalBytes: 2048, workers: 0, maintenance: { intervalMs: 0 } });
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) await db.put(`k${i % 200}`, { i, pad: 'x'.repeat(50) });
    })();
    const vanished: string[] = [];
    let runs = 0;
    try {
      // At least 12 runs, and until several checkpoints have pruned files under them.
      for (; runs < 12 || db.stats().checkpoints < 3; runs++) {
        expect(runs, 'the writer made 3 checkpoints').toBeLessThan(1000);
        const result = await epochdb(['verify', dir, '--json']);
        expect(result.code, result.stderr).toBe(0);
        const report = JSON.parse(result.stdout) as { ok: boolean; vanished?: string[] };
        expect(report.ok).toBe(true);
        vanished.push(...(report.vanished ?? []));
      }
      expect(db.stats().checkpoints, 'checkpoints ran while verifying').toBeGreaterThanOrEqual(3);
    } finally {
      stop = true;
      await writer;
      await db.close();
    }
    console.log(`verify on a busy directory: ${vanished.length} file(s) pruned mid-verify over ${runs} runs`);
  });

  it('--json prints a report even when verify cannot finish (a segment name that is a directory: EISDIR)', async () => {
    const dir = copyOf(walOnly);
    mkdirSync(join(dir, 'wal-9999999999999999.log'));
    const json = await epochdb(['verify', dir, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toStrictEqual({ ok: false, error: { code: 'IO_ERROR', message: expect.stringContaining('EISDIR') } });
    expect(json.stderr).toContain('EISDIR');
  });

  it('needs no lock: verifies a directory another process holds open', async () => {
    const dir = copyOf(withCheckpoint);
    const held = await open({ dir, workers: 0 });
    try {
      const result = await epochdb(['verify', dir]);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^checkpoint-0{14}60\.ckpt +checkpoint +\d+ +60 +ok$/m);
    } finally {
      await held.close();
    }
  });

  it('exits 1 naming the file and offset of a flipped byte in an older WAL segment, and changes nothing', async () => {
    const dir = copyOf(walOnly);
    const segment = walSegments(dir)[1]!;
    const offset = Math.floor(statSync(join(dir, segment)).size / 2);
    flipByte(join(dir, segment), offset);
    const before = snapshotFiles(dir);
    const [table, json] = await Promise.all([epochdb(['verify', dir]), epochdb(['verify', dir, '--json'])]);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(new RegExp(`^${segment} +wal +\\d+ +\\d+ +DAMAGED at offset \\d+: record damaged`, 'm'));
    expect(table.stdout).toMatch(new RegExp(`^DAMAGED: 1 file\\(s\\) damaged, first ${segment} at offset \\d+`, 'm'));
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, firstError: { file: segment } });
    expect(snapshotFiles(dir)).toEqual(before);
  });

  it('exits 1 for a flipped byte in a checkpoint', async () => {
    const dir = copyOf(withCheckpoint);
    const checkpoint = checkpoints(dir)[0]!;
    flipByte(join(dir, checkpoint), 100);
    const result = await epochdb(['verify', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`^${checkpoint} +checkpoint +\\d+ +0 +DAMAGED at offset \\d+: checkpoint chunk checksum mismatch`, 'm'));
  });
});

describe('repair', () => {
  it('salvages a damaged WAL: keeps the prefix before the damage, moves the rest aside, then the directory opens', async () => {
    const dir = copyOf(walOnly);
    const segments = walSegments(dir);
    flipByte(join(dir, segments[1]!), Math.floor(statSync(join(dir, segments[1]!)).size / 2));
    const [strict, repair, statsAfter, verifyAfter, again] = await epochdbInSequence([['stats', dir], ['repair', dir], ['stats', dir, '--json'], ['verify', dir], ['repair', dir, '--json']]);
    expect(strict.code).toBe(4);
    expect(strict.stderr).toMatch(/^epochdb: CORRUPTION: write-ahead log record is damaged/);

    expect(repair.code).toBe(0);
    expect(repair.stdout).toMatch(/^result +repaired: damaged files moved to damaged\//m);
    const kept = Number(/^version +(\d+) \(the newest consistent version kept\)$/m.exec(repair.stdout)?.[1]);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(PUTS);
    expect(repair.stdout).toMatch(/^EVENT +FILE +DETAILS$/m);
    expect(repair.stdout).toMatch(new RegExp(`^moved aside +${segments[1]} +to damaged/${segments[1]}\\.\\d+: write-ahead log record is damaged`, 'm'));
    // Every later segment goes aside too: the history must stay a prefix.
    for (const later of segments.slice(2)) expect(repair.stdout).toMatch(new RegExp(`^moved aside +${later} `, 'm'));
    expect(readdirSync(join(dir, 'damaged')).length).toBeGreaterThanOrEqual(segments.length - 1);

    expect(statsAfter.code).toBe(0);
    expect(JSON.parse(statsAfter.stdout)).toMatchObject({ stats: { version: kept, keys: kept }, files: { damagedFiles: expect.any(Number) } });
    expect(verifyAfter.code).toBe(0);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ repaired: false, version: kept, keys: kept, recovery: { events: [] } });
  });

  it('repairs a damaged newest checkpoint from the previous one (checkpoint() reclaimed the WAL between them)', async () => {
    const dir = temp.dir('two-checkpoints');
    await buildDb(dir, async (db) => {
      await fill(db);
      await db.checkpoint();
      for (let i = 0; i < 10; i++) await db.put(`late${i}`, i);
    });
    // close() wrote the second checkpoint; the first stays as the last resort.
    const [previous, newest] = checkpoints(dir).sort();
    expect(previous).toMatch(/0{14}60\.ckpt$/);
    flipByte(join(dir, newest!), 100);
    const [repair, verifyAfter] = await epochdbInSequence([['repair', dir, '--json'], ['verify', dir]]);
    expect(repair.code).toBe(0);
    const report = JSON.parse(repair.stdout) as { repaired: boolean; version: number; keys: number; recovery: { events: { type: string; file: string }[] } };
    expect(report).toMatchObject({ repaired: true, version: PUTS, keys: PUTS });
    const events = report.recovery.events.map((e) => [e.type, e.file]);
    expect(events[0]).toEqual(['checkpoint-fallback', newest]);
    expect(events.at(-1)).toEqual(['salvaged', newest]);
    expect(verifyAfter.code).toBe(0);
    expect(existsSync(join(dir, 'damaged'))).toBe(true);
  });
});

describe('verify progress', () => {
  it('watches every byte verifyDirectory reads, ending at the total, one file at a time', async () => {
    const sizes = new Map(readdirSync(withCheckpoint).filter((n) => n.endsWith('.log') || n.endsWith('.ckpt')).map((n) => [n, statSync(join(withCheckpoint, n)).size]));
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    const files: string[] = [];
    const progress: number[] = [];
    const report = await verifyDirectory(watchReads(nodeFileSystem, sizes, (f) => files.push(f), (p) => progress.push(p.bytesDone)), withCheckpoint);
    expect(report.ok).toBe(true);
    expect(files.sort()).toEqual([...sizes.keys()].sort());
    expect(progress.at(-1)).toBe(total);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });
});
