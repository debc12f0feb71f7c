import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { threadId } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeFileSystem, verifyDirectory } from '@epochdb/persist';
import { WorkerPool } from '@epochdb/workers';
import { open } from 'epochdb';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'epochdb-verify-'));
  dirs.push(dir);
  return dir;
}

/** A directory with two checkpoints and WAL records after the newest, closed. */
async function populated(): Promise<string> {
  const dir = tempDir();
  const db = await open({ dir, checkpointOnClose: false, maintenance: { intervalMs: 0 } });
  await db.batch(Array.from({ length: 50 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: { i } })));
  await db.checkpoint();
  await db.put('a', 1);
  await db.checkpoint();
  await db.put('b', 2);
  await db.put('c', 3);
  await db.close();
  return dir;
}

describe('verify', () => {
  it('a file a checkpoint deletes between the listing and its read is reported as vanished, not damage, and its replacements are verified', async () => {
    const dir = tempDir();
    const db = await open({ dir, workers: 0, maintenance: { intervalMs: 0 } });
    try {
      for (let i = 0; i < 5; i++) await db.put(`k${i}`, i);
      await db.checkpoint();
      await db.put('after', 1);
      const listed = readdirSync(dir).filter((n) => n.startsWith('wal-') || n.startsWith('checkpoint-'));
      // The first read of a listed file waits for two more checkpoints: the second prunes what the listing held.
      let raced = false;
      const racing = {
        ...nodeFileSystem,
        async readFile(path: string) {
          if (!raced) {
            raced = true;
            await db.put('during', 1);
            await db.checkpoint();
            await db.put('during', 2);
            await db.checkpoint();
          }
          return nodeFileSystem.readFile(path);
        },
        async open(path: string, flags: 'r' | 'r+' | 'w' | 'wx', mode?: number) {
          if (!raced) {
            raced = true;
            await db.put('during', 1);
            await db.checkpoint();
            await db.put('during', 2);
            await db.checkpoint();
          }
          return nodeFileSystem.open(path, flags, mode);
        },
      };
      const report = await verifyDirectory(racing, dir);
      expect(raced).toBe(true);
      expect(report.ok).toBe(true);
      expect(report.firstError).toBeUndefined();
      expect(report.vanished?.length).toBeGreaterThan(0);
      for (const name of report.vanished!) expect(listed).toContain(name);
      // What is on disk now is what was verified (the newest checkpoint included).
      const now = readdirSync(dir).filter((n) => n.startsWith('wal-') || n.startsWith('checkpoint-')).sort();
      expect(report.files.map((f) => f.file).sort()).toStrictEqual(now);
      expect(report.files.filter((f) => f.kind === 'checkpoint').map((f) => f.file)).toContain(`checkpoint-${String(db.version).padStart(16, '0')}.ckpt`);
    } finally {
      await db.close();
    }
  });

  it('runs on a real worker thread, and inline with workers: 0', async () => {
    const dir = await populated();
    const pool = new WorkerPool({ workers: 1 });
    const onWorker = await pool.run('verify', { dir });
    await pool.close();
    expect(onWorker.threadId).not.toBe(threadId);
    const inline = new WorkerPool({ workers: 0 });
    const here = await inline.run('verify', { dir });
    expect(here.threadId).toBe(threadId);
    expect({ ...here, threadId: 0 }).toEqual({ ...onWorker, threadId: 0 });
  });

  it('db.verify() reports every file of a healthy directory, while the database is open and writing', async () => {
    const dir = await populated();
    const db = await open({ dir, checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    const writes = Array.from({ length: 20 }, (_, i) => db.put(`live${i}`, i));
    const report = await db.verify();
    await Promise.all(writes);
    expect(report.ok).toBe(true);
    expect(report.firstError).toBeUndefined();
    expect(report.checkpoints).toBe(2);
    expect(report.entries).toBe(50 + 51);
    expect(report.records).toBeGreaterThanOrEqual(2);
    expect(report.files.map((f) => f.file).sort()).toEqual(readdirSync(dir).filter((n) => n.endsWith('.ckpt') || n.endsWith('.log')).sort());
    expect(db.stats()).toMatchObject({ tasksRun: 1, tasksFailed: 0, workers: 1 });
    await db.close();
  });

  it('names the first damaged file and offset, and changes nothing on disk', async () => {
    const dir = await populated();
    const newest = readdirSync(dir).filter((n) => n.endsWith('.ckpt')).sort().at(-1)!;
    const bytes = readFileSync(join(dir, newest));
    // Inside the first chunk, which starts after the 24-byte header and the structure table's frame.
    const firstChunk = 24 + 8 + bytes.readUInt32LE(24);
    bytes[firstChunk + 16] ^= 0x01;
    writeFileSync(join(dir, newest), bytes);
    const snapshot = (): [string, string][] => readdirSync(dir).sort().map((n) => [n, readFileSync(join(dir, n)).toString('base64')]);
    const before = snapshot();
    const pool = new WorkerPool({ workers: 1 });
    const report = await pool.run('verify', { dir });
    await pool.close();
    expect(report.ok).toBe(false);
    expect(report.firstError).toMatchObject({ file: newest, offset: firstChunk });
    expect(report.firstError?.message).toMatch(/checksum/);
    expect(report.files.filter((f) => f.error !== undefined).map((f) => f.file)).toEqual([newest]);
    expect(snapshot()).toEqual(before);
  });

  it('a script that opens, verifies, writes and closes exits on its own (the pool does not keep it alive)', async () => {
    const dir = await populated();
    const entry = fileURLToPath(new URL('../../packages/epochdb/dist/index.js', import.meta.url));
    const script = `
      const { open } = await import(${JSON.stringify(entry)});
      const db = await open({ dir: ${JSON.stringify(dir)} });
      const report = await db.verify();
      await db.put('after-verify', 1);
      await db.close();
      console.log(report.ok, db.stats().tasksRun, db.stats().lastCheckpointVersion === db.version);
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 15_000 });
    // Two tasks on the pool: verify(), and the checkpoint close() built from the WAL replayed at open plus the new write.
    expect(stdout.trim()).toBe('true 2 true');
  });
});

describe('verifyDirectory on damaged WAL segments', () => {
  async function segmentsDir(): Promise<{ dir: string; segments: string[] }> {
    const dir = tempDir();
    const db = await open({ dir, sync: 'none', walSegmentBytes: 1024, checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    for (let i = 0; i < 40; i++) await db.put(`k${i}`, 'v'.repeat(40));
    await db.close();
    return { dir, segments: readdirSync(dir).filter((n) => n.startsWith('wal-')).sort() };
  }
  const verify = async (dir: string): ReturnType<WorkerPool['run']> => new WorkerPool({ workers: 0 }).run('verify', { dir });

  it('an incomplete record at the end of the newest segment is reported as a tail, not as damage', async () => {
    const { dir, segments } = await segmentsDir();
    const last = join(dir, segments.at(-1)!);
    const bytes = readFileSync(last);
    writeFileSync(last, Buffer.concat([bytes, Buffer.from([200, 0, 0, 0, 1, 2])]));
    const report = await verify(dir);
    expect(report.ok).toBe(true);
    expect(report.files.at(-1)).toMatchObject({ file: segments.at(-1), incompleteTail: { offset: bytes.length, bytes: 6 } });
  });

  it('damage inside an older segment, or a damaged header, is an error naming file and offset', async () => {
    const { dir, segments } = await segmentsDir();
    expect(segments.length).toBeGreaterThan(2);
    const first = join(dir, segments[0]!);
    const bytes = readFileSync(first);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(first, bytes);
    const second = join(dir, segments[1]!);
    const header = readFileSync(second);
    header[0] = 0;
    writeFileSync(second, header);
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.firstError?.file).toBe(segments[0]);
    expect(report.files.find((f) => f.file === segments[1])?.error).toMatchObject({ offset: 0, message: 'segment header is damaged' });
  });

  it('a newest segment whose header was never completed is an incomplete tail; a truncated checkpoint is damage', async () => {
    const { dir, segments } = await segmentsDir();
    writeFileSync(join(dir, segments.at(-1)!), Buffer.from('EPDB'));
    writeFileSync(join(dir, 'checkpoint-0000000000000099.ckpt'), Buffer.from('EPDBCKP\0short'));
    const report = await verify(dir);
    expect(report.files.find((f) => f.file === segments.at(-1))).toMatchObject({ incompleteTail: { offset: 0, bytes: 4 } });
    expect(report.firstError).toMatchObject({ file: 'checkpoint-0000000000000099.ckpt', offset: 0 });
  });
});
