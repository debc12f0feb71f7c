import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { open } from 'epochdb';
import { epochdbBinary } from '../cli/cli-harness.js';
import { useDatabases } from '../support/databases.js';

// The CLI's read commands against a directory held by a live child process that keeps
// writing (and checkpointing and pruning its WAL) all the while.

const { tempDir } = useDatabases({ workers: 0 });
const WRITER = fileURLToPath(new URL('./live-writer.mjs', import.meta.url));

interface Writer {
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves with the first line whose `t` is `type`. */
  next(type: string): Promise<{ t: string; v?: number }>;
}

const writers: Writer[] = [];
afterEach(async () => {
  for (const writer of writers.splice(0)) {
    if (writer.child.exitCode === null) {
      writer.child.stdin.end();
      await new Promise((resolve) => writer.child.once('exit', resolve));
    }
  }
});

function startWriter(dir: string, checkpointWalBytes = 16 * 1024): Writer {
  const child = spawn(process.execPath, [WRITER, JSON.stringify({ dir, checkpointWalBytes })], { stdio: ['pipe', 'pipe', 'pipe'] });
  const waiting: { type: string; resolve: (line: { t: string; v?: number }) => void }[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString('utf8')));
  createInterface({ input: child.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as { t: string; v?: number };
    for (const [i, w] of waiting.entries()) {
      if (w.type === line.t) {
        waiting.splice(i, 1);
        w.resolve(line);
        break;
      }
    }
  });
  child.on('exit', (code) => {
    if (code !== 0) for (const w of waiting.splice(0)) w.resolve({ t: 'failed', v: code ?? -1 });
    if (code !== 0) console.error(`live writer exited ${code}: ${stderr}`);
  });
  const writer: Writer = { child, next: (type) => new Promise((resolve) => waiting.push({ type, resolve })) };
  writers.push(writer);
  return writer;
}

describe('read-only opens of a directory a live process writes', () => {
  it('stats, get, scan, dump, verify and backup all work while the writer keeps writing', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const writer = startWriter(dir);
    await writer.next('open');
    // Let it write (and checkpoint, and prune) for a while first.
    for (let i = 0; i < 3; i++) expect((await writer.next('v')).t).toBe('v');
    const backup = join(tempDir(), 'copy');
    const [stats, get, scan, dump, verify, copy] = await Promise.all([
      epochdbBinary(['stats', dir, '--json']),
      epochdbBinary(['get', dir, 'user:1', '--json']),
      epochdbBinary(['scan', dir, '--prefix', 'item:', '--json']),
      epochdbBinary(['dump', dir]),
      epochdbBinary(['verify', dir, '--json']),
      epochdbBinary(['backup', dir, backup, '--json']),
    ]);
    for (const [name, result] of Object.entries({ stats, get, scan, dump, verify, copy })) expect(result.code, `${name}: ${result.stderr}`).toBe(0);
    const version = (JSON.parse(stats.stdout) as { stats: { version: number; readOnly: boolean } }).stats;
    expect(version.readOnly).toBe(true);
    expect(version.version).toBeGreaterThan(40);
    expect(JSON.parse(get.stdout)).toMatchObject({ key: 'user:1', value: { name: 'Ada' }, type: 'user' });
    expect(scan.stdout.trim().split('\n').length).toBeGreaterThan(10);
    expect(dump.stdout).toContain('"counter"');
    // The copy is a consistent database of its own, as of some commit of the writer's.
    const copied = await open({ dir: backup, workers: 0 });
    try {
      const counter = copied.get('counter') as number;
      expect(counter).toBeGreaterThan(0);
      // Each batch wrote the counter and item (counter % 50) together: the copy has both.
      expect(copied.get(`item:${String(counter % 50).padStart(3, '0')}`)).toMatchObject({ n: counter });
    } finally {
      await copied.close();
    }
    // The writer was never disturbed and still writes.
    expect((await writer.next('v')).t).toBe('v');
  });

  it('open({ readOnly, follow }) keeps up with the writer through its checkpoints', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const writer = startWriter(dir, 8 * 1024);
    await writer.next('open');
    const db = await open({ dir, readOnly: true, follow: true, followIntervalMs: 5, workers: 0 });
    try {
      const opened = db.version;
      expect(db.get('user:1')).toEqual({ name: 'Ada' });
      let target = 0;
      for (let i = 0; i < 10; i++) target = (await writer.next('v')).v!;
      await expect.poll(() => db.version, { timeout: 60_000, interval: 10 }).toBeGreaterThanOrEqual(target);
      expect(db.version).toBeGreaterThan(opened);
      // What it follows is consistent: counter n came with item (n % 50) in the same batch.
      const counter = db.get('counter') as number;
      expect(db.get(`item:${String(counter % 50).padStart(3, '0')}`)).toMatchObject({ n: counter });
      expect(db.stats().followedRecords).toBeGreaterThan(0);
      expect(db.stats().followErrors).toBe(0);
    } finally {
      await db.close();
    }
    writer.child.stdin.end();
    const closed = await writer.next('closed');
    // The writer's close (its final checkpoint) was not disturbed by the reader.
    expect(closed.t).toBe('closed');
  });
});
