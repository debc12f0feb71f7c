import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, open, type Change, type ChangeStream } from 'epochdb';
import { useDatabases } from '../support/databases.js';

// The change feed: order, atomic delivery of a commit, filters, expiry, backpressure (bounded
// buffer, overflow with a resume point), resume from memory and from the WAL, and release.

const { openDb, tempDir } = useDatabases({ maintenance: { intervalMs: 0 } }, 'epochdb-watch-');

/** Takes `n` changes from a stream (then leaves it open). */
async function take(stream: ChangeStream, n: number): Promise<Change[]> {
  const out: Change[] = [];
  while (out.length < n) {
    const next = await stream.next();
    if (next.done === true) break;
    out.push(next.value);
  }
  return out;
}

const brief = (c: Change): string => `${c.version}:${c.kind}:${c.key}${c.value === undefined ? '' : `=${JSON.stringify(c.value)}`}`;

describe('db.watch()', () => {
  it('delivers every commit after now in version order, a whole batch or transaction together, with values and tags', async () => {
    const db = await openDb();
    await db.put('before', 0);
    const stream = db.watch();
    await db.put('a', 1, { run: 'r1', type: 't1', ttl: 60_000 });
    await db.batch([
      { op: 'put', key: 'b', value: { x: 2 } },
      { op: 'delete', key: 'before' },
    ]);
    await db.transaction((tx) => {
      tx.put('c', [3]);
      tx.put('d', 4);
    });
    await db.delete('missing'); // a commit that changed nothing delivers nothing
    await db.put('e', 5);
    const changes = await take(stream, 6);
    expect(changes.map(brief)).toStrictEqual(['2:put:a=1', '3:put:b={"x":2}', '3:delete:before', '4:put:c=[3]', '4:put:d=4', '6:put:e=5']);
    expect(changes[0]).toMatchObject({ run: 'r1', type: 't1', expiresAt: expect.any(Number) });
    expect(Object.isFrozen(changes[1]!.value)).toBe(true);
    stream.close();
  });

  it('filters by prefix, run and type; a delete carries the tags of what it removed', async () => {
    const db = await openDb();
    const byPrefix = db.watch({ prefix: 'user:' });
    const byRun = db.watch({ run: 'import' });
    const byType = db.watch({ type: 'order' });
    await db.put('user:1', 1, { run: 'import' });
    await db.put('order:1', 2, { type: 'order' });
    await db.put('other', 3);
    await db.delete('user:1');
    await db.delete('order:1');
    await db.put('user:2', 4);
    expect((await take(byPrefix, 3)).map(brief)).toStrictEqual(['1:put:user:1=1', '4:delete:user:1', '6:put:user:2=4']);
    expect((await take(byRun, 2)).map(brief)).toStrictEqual(['1:put:user:1=1', '4:delete:user:1']);
    expect((await take(byType, 2)).map(brief)).toStrictEqual(['2:put:order:1=2', '5:delete:order:1']);
  });

  it('expiry appears when the cleaner reclaims the key, as kind "expire"', async () => {
    const clock = new ManualClock(0);
    const db = await openDb({ clock, maintenance: { intervalMs: 5 } });
    const stream = db.watch();
    await db.put('session', 's', { ttl: 100 });
    clock.advance(150);
    const changes = await take(stream, 2);
    expect(changes.map((c) => `${c.kind}:${c.key}`)).toStrictEqual(['put:session', 'expire:session']);
    expect(changes[1]!.version).toBe(2);
  });

  it('a slow consumer never blocks writers: past bufferSize the stream ends with WATCH_OVERFLOW after delivering what it buffered, and resuming from its version continues without a gap', async () => {
    const db = await openDb();
    const stream = db.watch({ bufferSize: 10 });
    for (let i = 0; i < 30; i++) await db.put(`k${i}`, i); // nobody reads meanwhile
    expect(db.version).toBe(30);
    const delivered: Change[] = [];
    let failure: unknown;
    try {
      for await (const change of stream) delivered.push(change);
    } catch (error) {
      failure = error;
    }
    expect(delivered.map((c) => c.version)).toStrictEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(failure).toMatchObject({ code: 'WATCH_OVERFLOW', resumeFromVersion: 10, message: expect.stringContaining('fromVersion: 10') });
    const resumed = db.watch({ fromVersion: 10 });
    expect((await take(resumed, 20)).map((c) => c.version)).toStrictEqual(Array.from({ length: 20 }, (_, i) => i + 11));
  });

  it('a commit larger than bufferSize is still delivered whole when the buffer is empty', async () => {
    const db = await openDb();
    const stream = db.watch({ bufferSize: 3 });
    await db.batch(Array.from({ length: 8 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: i })));
    expect((await take(stream, 8)).map((c) => c.key)).toHaveLength(8);
  });

  it('resumes from history in memory, then continues live without a gap or a duplicate', async () => {
    const db = await openDb();
    for (let i = 1; i <= 5; i++) await db.put(`k${i}`, i);
    const stream = db.watch({ fromVersion: 2 });
    await db.put('k6', 6);
    expect((await take(stream, 4)).map((c) => c.version)).toStrictEqual([3, 4, 5, 6]);
    expect(() => db.watch({ fromVersion: 99 })).toThrow(expect.objectContaining({ code: 'VERSION_UNAVAILABLE' }));
  });

  it('resumes from the WAL after a reopen (history the memory no longer holds), and refuses history a checkpoint pruned', async () => {
    const dir = tempDir();
    const first = await open({ dir, workers: 0, checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    await first.put('a', 1, { run: 'r' });
    await first.put('b', 2);
    await first.delete('a');
    await first.close();
    const db = await openDb({ dir, workers: 0 });
    await db.put('c', 3);
    const stream = db.watch({ fromVersion: 0 });
    const changes = await take(stream, 4);
    expect(changes.map(brief)).toStrictEqual(['1:put:a=1', '2:put:b=2', '3:delete:a', '4:put:c=3']);
    expect(changes[0]).toMatchObject({ run: 'r' });
    // After two checkpoints the WAL before the previous one is gone.
    await db.checkpoint();
    await db.put('d', 4);
    await db.checkpoint();
    await db.put('e', 5);
    await db.checkpoint();
    const db2 = db;
    await db2.close();
    const again = await openDb({ dir, workers: 0 });
    const old = again.watch({ fromVersion: 0 });
    await expect(old.next()).rejects.toMatchObject({ code: 'VERSION_UNAVAILABLE' });
  });

  it('memory keeps recent commits up to 10,000 operations: older ones are VERSION_UNAVAILABLE for a memory-only database, read from the WAL for a persistent one', async () => {
    const db = await openDb();
    await db.put('first', 1);
    for (let i = 0; i < 11; i++) await db.batch(Array.from({ length: 1000 }, (_, j) => ({ op: 'put' as const, key: `k${j}`, value: i })));
    expect(() => db.watch({ fromVersion: 0 })).toThrow(expect.objectContaining({ code: 'VERSION_UNAVAILABLE' }));
    expect((await take(db.watch({ fromVersion: 10 }), 1000)).every((c) => c.version === 11)).toBe(true);
    await db.batch(Array.from({ length: 10_001 }, (_, j) => ({ op: 'put' as const, key: `big${j}`, value: j }))); // too big to keep
    expect(() => db.watch({ fromVersion: 11 })).toThrow(expect.objectContaining({ code: 'VERSION_UNAVAILABLE' }));

    const dir = tempDir();
    const persistent = await openDb({ dir, workers: 0, sync: 'none' });
    await persistent.put('first', 1);
    for (let i = 0; i < 11; i++) void persistent.batch(Array.from({ length: 1000 }, (_, j) => ({ op: 'put' as const, key: `k${j}`, value: i }))); // not awaited: still queued
    const replay = await take(persistent.watch({ fromVersion: 0 }), 1 + 11_000);
    expect(replay.length).toBe(11_001);
    expect(replay[0]).toMatchObject({ version: 1, key: 'first' });
    expect(replay.at(-1)).toMatchObject({ version: 12, value: 10 });
  });

  it('a long replay is delivered commit by commit, whatever bufferSize; a consumer that falls behind live writes meanwhile gets the history, then WATCH_OVERFLOW naming where live delivery starts', async () => {
    const db = await openDb();
    for (let i = 1; i <= 50; i++) await db.put(`k${i}`, i);
    const stream = db.watch({ fromVersion: 0, bufferSize: 5 });
    for (let i = 51; i <= 60; i++) await db.put(`k${i}`, i); // live, while history is unread
    const seen: number[] = [];
    let failure: unknown;
    try {
      for await (const change of stream) seen.push(change.version);
    } catch (error) {
      failure = error;
    }
    expect(seen).toStrictEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(failure).toMatchObject({ code: 'WATCH_OVERFLOW', resumeFromVersion: 50 });
    expect((await take(db.watch({ fromVersion: 50 }), 10)).map((c) => c.version)).toStrictEqual(Array.from({ length: 10 }, (_, i) => i + 51));
  });

  // Found in review: a live overflow while the WAL history was still being read failed the stream
  // at once, delivering none of the history and naming a resume point past it.
  it('regression: an overflow while history loads from the WAL delivers the history first, then names where live delivery starts', async () => {
    const dir = tempDir();
    const first = await open({ dir, workers: 0, checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    for (let i = 1; i <= 5; i++) await first.put(`k${i}`, i);
    await first.close();
    const db = await openDb({ dir, workers: 0 });
    const stream = db.watch({ fromVersion: 0, bufferSize: 1 });
    await db.put('live1', 1); // while the WAL is being read
    await db.put('live2', 2);
    const seen: number[] = [];
    let failure: unknown;
    try {
      for await (const change of stream) seen.push(change.version);
    } catch (error) {
      failure = error;
    }
    expect(seen).toStrictEqual([1, 2, 3, 4, 5]);
    expect(failure).toMatchObject({ code: 'WATCH_OVERFLOW', resumeFromVersion: 5 });
    expect((await take(db.watch({ fromVersion: 5 }), 2)).map((c) => c.key)).toStrictEqual(['live1', 'live2']);
  });

  // Found in review: commits trimmed from memory while the WAL was read left a silent gap.
  it('regression: commits the memory forgets while the WAL is read are still delivered', async () => {
    const dir = tempDir();
    const first = await open({ dir, workers: 0, checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    for (let i = 1; i <= 5; i++) await first.put(`k${i}`, i);
    await first.close();
    const db = await openDb({ dir, workers: 0, sync: 'none' });
    for (let i = 6; i <= 8; i++) await db.put(`k${i}`, i);
    const stream = db.watch({ fromVersion: 0 });
    await db.batch(Array.from({ length: 10_001 }, (_, j) => ({ op: 'put' as const, key: `big${j}`, value: j }))); // clears the memory
    const versions = new Set((await take(stream, 8 + 10_001)).map((c) => c.version));
    expect([...versions]).toStrictEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('regression: several next() calls waiting at once are each answered, in order; close() during a WAL replay ends them', async () => {
    const db = await openDb();
    const stream = db.watch();
    const [a, b] = [stream.next(), stream.next()];
    await db.put('x', 1);
    await db.put('y', 2);
    expect([(await a).value?.key, (await b).value?.key]).toStrictEqual(['x', 'y']);

    const dir = tempDir();
    const first = await open({ dir, workers: 0, checkpointOnClose: false, maintenance: { intervalMs: 0 } });
    await first.put('k', 1);
    await first.close();
    const reopened = await openDb({ dir, workers: 0 });
    const replay = reopened.watch({ fromVersion: 0 });
    const pending = replay.next();
    replay.close();
    expect(await pending).toStrictEqual({ value: undefined, done: true });
    expect(await replay.next()).toStrictEqual({ value: undefined, done: true });
  });

  it('breaking out of for-await, close() of the stream and close() of the database release it; a pending next() ends', async () => {
    const db = await openDb();
    const stream = db.watch();
    const pending = stream.next();
    await db.put('x', 1);
    expect((await pending).value).toMatchObject({ key: 'x' });
    await db.put('z', 1);
    for await (const change of stream) {
      expect(change).toMatchObject({ key: 'z' });
      break;
    }
    // Nothing more is buffered for a closed stream, whatever is written.
    for (let i = 0; i < 100; i++) await db.put('y', i);
    expect(await stream.next()).toStrictEqual({ value: undefined, done: true });
    const waiting = db.watch().next();
    await db.close();
    expect(await waiting).toStrictEqual({ value: undefined, done: true });
  });

  it('rejects bad options with INVALID_OPTION', async () => {
    const db = await openDb();
    expect(() => db.watch({ bufferSize: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => db.watch({ fromVersion: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => db.watch({ nope: 1 } as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('nope') }));
  });

  it('property: replaying the feed from version 0 onto an empty map gives the database, for random batches and deletes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.record({ del: fc.boolean(), key: fc.constantFrom('a', 'b', 'c', 'd'), value: fc.integer() }), { minLength: 1, maxLength: 4 }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 30 }),
        async (commits, watchAt) => {
          const db = await open({ maintenance: { intervalMs: 0 } });
          let stream: ChangeStream | undefined;
          for (const [i, ops] of commits.entries()) {
            if (i === watchAt) stream = db.watch({ fromVersion: 0 });
            await db.batch(ops.map((o) => (o.del ? { op: 'delete' as const, key: o.key } : { op: 'put' as const, key: o.key, value: o.value })));
          }
          stream ??= db.watch({ fromVersion: 0 });
          const mirror = new Map<string, unknown>();
          let last = 0;
          // Everything is buffered by now: drain until the stream has nothing more for a moment.
          for (;;) {
            const next = await Promise.race([stream.next(), new Promise<IteratorResult<Change>>((resolve) => setTimeout(() => resolve({ value: undefined, done: true }), 20))]);
            if (next.done === true) break;
            expect(next.value.version).toBeGreaterThanOrEqual(last);
            last = next.value.version;
            if (next.value.kind === 'put') mirror.set(next.value.key, next.value.value);
            else mirror.delete(next.value.key);
          }
          expect(mirror).toStrictEqual(new Map([...db.scan()].map((e) => [e.key, e.value])));
          stream.close();
          await db.close();
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('watch() lifecycle', () => {
  it('a stream does not keep the database from closing', async () => {
    const db = await openDb();
    db.watch();
    db.watch({ prefix: 'p' });
    await db.close();
    expect(db.closed).toBe(true);
  });
});
