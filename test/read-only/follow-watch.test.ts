import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { open, type Change, type ChangeStream, type Database } from 'epochdb';
import { useDatabases } from '../support/databases.js';

// Change feeds on `open({ dir, readOnly: true, follow: true })`: the commits the follower reads
// from a live writer's WAL (a child process, SIGKILLed at the end) are delivered in version
// order, a whole commit at a time, and resume with `fromVersion`; commits the writer pruned
// before the follower read them end the stream with VERSION_UNAVAILABLE instead of a silent gap.

const { openDb, tempDir } = useDatabases({ workers: 0 });
const WRITER = fileURLToPath(new URL('./live-writer.mjs', import.meta.url));

interface Writer {
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves with the next line whose `t` is `type`. */
  next(type: string): Promise<{ t: string; v?: number }>;
}

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
});

function startWriter(dir: string, checkpointWalBytes: number): Writer {
  const child = spawn(process.execPath, [WRITER, JSON.stringify({ dir, checkpointWalBytes })], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const waiting: { type: string; resolve: (line: { t: string; v?: number }) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as { t: string; v?: number };
    const i = waiting.findIndex((w) => w.type === line.t);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(line);
  });
  return { child, next: (type) => new Promise((resolve) => waiting.push({ type, resolve })) };
}

/** Reads changes from `stream` until one at `version` or later has been read whole (the stream stays open). */
async function readUntil(stream: ChangeStream, version: number, into: Change[]): Promise<void> {
  while (into.length === 0 || into.at(-1)!.version < version || into.length % 2 !== 0) {
    const next = await stream.next();
    if (next.done === true) return;
    into.push(next.value);
  }
}

/**
 * The writer's commits from version 3 on are batches of two puts: `counter` = n and
 * `item:<n % 50>` = { n }, with n = version - 2. Checks that `changes` are exactly those
 * of the versions `from + 1` on, each whole, in order, with no gap and no duplicate.
 */
function expectWriterCommits(changes: readonly Change[], from: number): void {
  expect(changes.length % 2).toBe(0);
  for (let i = 0; i < changes.length; i += 2) {
    const version = from + 1 + i / 2;
    const n = version - 2;
    const pair = changes.slice(i, i + 2).map((c) => [c.version, c.kind, c.key, c.value]);
    expect(pair, `commit ${version}`).toEqual([
      [version, 'put', 'counter', n],
      [version, 'put', `item:${String(n % 50).padStart(3, '0')}`, { n, pad: 'x'.repeat(40) }],
    ]);
  }
}

describe('watch() on a read-only follower', () => {
  it('delivers the commits it follows from a live writer, whole and in order, resumes with fromVersion, and after the writer is SIGKILLed has every acknowledged commit', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    // No checkpoint while the test runs: every commit stays in the WAL for the follower to read.
    const writer = startWriter(dir, 1 << 30);
    await writer.next('open');
    await writer.next('v');
    const follower: Database = await openDb({ dir, readOnly: true, follow: true, followIntervalMs: 5 });
    const opened = follower.version;
    expect(opened).toBeGreaterThan(2);
    const live = follower.watch();
    // From before the follower opened: read back from the writer's WAL, then live.
    const resumedEarly = follower.watch({ fromVersion: 2 });
    const target = (await writer.next('v')).v!;
    const liveChanges: Change[] = [];
    await readUntil(live, target + 20, liveChanges);
    expectWriterCommits(liveChanges, opened);
    // A consumer that stops and resumes from the last version it saw misses nothing and repeats nothing.
    live.close();
    const stoppedAt = liveChanges.at(-1)!.version;
    await writer.next('v');
    const resumed = follower.watch({ fromVersion: stoppedAt });
    const resumedChanges: Change[] = [];
    await readUntil(resumed, stoppedAt + 40, resumedChanges);
    expectWriterCommits(resumedChanges, stoppedAt);
    const earlyChanges: Change[] = [];
    await readUntil(resumedEarly, opened + 10, earlyChanges);
    expectWriterCommits(earlyChanges, 2);
    // SIGKILL the writer: every commit it acknowledged (sync: 'always') reaches the follower's stream.
    const acknowledged = (await writer.next('v')).v!;
    const killed = new Promise((resolve) => writer.child.once('exit', resolve));
    writer.child.kill('SIGKILL');
    await killed;
    await expect.poll(() => follower.version, { timeout: 30_000, interval: 10 }).toBeGreaterThanOrEqual(acknowledged);
    // The WAL is final now: wait for the follower to have read all of it.
    for (let seen = -1; seen !== follower.version; ) {
      seen = follower.version;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const tail: Change[] = [];
    await readUntil(resumed, follower.version, tail);
    expectWriterCommits([...resumedChanges, ...tail], stoppedAt);
    expect(tail.at(-1)!.version).toBe(follower.version);
    resumed.close();
    resumedEarly.close();
    expect(follower.stats().followErrors).toBe(0);
  });

  it('a writer that prunes commits the follower has not read ends its streams with VERSION_UNAVAILABLE; a new stream goes on from there', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const writer = await openDb({ dir, walSegmentBytes: 1024, sync: 'none' });
    await writer.put('start', 0);
    const follower = await openDb({ dir, readOnly: true, follow: true, followIntervalMs: 200 });
    const stream = follower.watch();
    const seen: Change[] = [];
    let failure: unknown;
    const reading = (async () => {
      try {
        for await (const change of stream) seen.push(change);
      } catch (error) {
        failure = error;
      }
    })();
    // Bursts faster than the follower looks: two checkpoints prune WAL it has not read yet.
    let round = 0;
    while (follower.stats().followedCheckpoints === 0 && round < 50) {
      for (let i = 0; i < 30; i++) await writer.put(`k${round}-${i}`, 'x'.repeat(50));
      await writer.checkpoint();
      await writer.put(`after${round}`, round);
      await writer.checkpoint();
      round++;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(follower.stats().followedCheckpoints).toBeGreaterThan(0);
    await reading;
    expect(failure).toMatchObject({ code: 'VERSION_UNAVAILABLE', message: expect.stringContaining('were checkpointed and pruned by the writer before this follower read them') });
    // What it delivered before the jump is in order, one version at a time, with no gap.
    expect(seen.map((c) => c.version)).toEqual(seen.map((_, i) => seen[0]!.version + i));
    // Resuming across the jump is refused; a new stream delivers what comes next.
    await expect(follower.watch({ fromVersion: 1 }).next()).rejects.toMatchObject({ code: 'VERSION_UNAVAILABLE' });
    await expect.poll(() => follower.version, { timeout: 10_000, interval: 10 }).toBe(writer.version);
    const next = follower.watch();
    const version = await writer.put('later', 1);
    const change = await next.next();
    expect(change.value).toMatchObject({ version, key: 'later', value: 1 });
    next.close();
  });
});
