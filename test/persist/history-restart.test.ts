import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { open, type Database, type Entry } from 'epochdb';
import { useDatabases } from '../support/databases.js';

// `retainVersions: N` history survives a clean close and reopen, and a SIGKILL: `snapshotAt(v)`
// reads every v >= version - N with the values it had before. The files that carry it are an older
// checkpoint and the WAL after it, kept by pruning and replayed at open; with N = 0 nothing more is kept.

const { openDb, tempDir } = useDatabases({ workers: 0 });
const WRITER = fileURLToPath(new URL('./history-writer.mjs', import.meta.url));

function stateAt(db: Database, version: number): Entry[] {
  using snapshot = db.snapshotAt(version);
  return [...snapshot.scan()];
}

type Step = { kind: 'put'; key: string; value: number } | { kind: 'delete'; key: string } | { kind: 'batch'; keys: string[] } | { kind: 'checkpoint' } | { kind: 'reopen'; retain: number };

const key = fc.constantFrom('a', 'b', 'c', 'd');
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('put' as const), key, value: fc.integer() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('batch' as const), keys: fc.array(key, { minLength: 1, maxLength: 3 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const), retain: fc.constantFrom(1, 3, 10, 40) }) },
);

/** The state at version v of the history writer: commit i puts k<i % 7> = { i }, or deletes it when i % 5 === 0. */
function writerState(v: number): { key: string; value: unknown; version: number }[] {
  const out: { key: string; value: unknown; version: number }[] = [];
  for (let k = 0; k < 7; k++) {
    let i = v;
    while (i > 0 && i % 7 !== k) i--;
    if (i > 0 && i % 5 !== 0) out.push({ key: `k${k}`, value: { i }, version: i });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

describe('retainVersions across restarts', () => {
  it('property: after every clean reopen, snapshotAt reads each version within retainVersions as before', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(1, 3, 10, 40), fc.array(step, { minLength: 5, maxLength: 60 }), async (first, steps) => {
        const dir = tempDir();
        let retain = first;
        let db = await open({ dir, retainVersions: retain, walSegmentBytes: 1024, workers: 0 });
        const states = new Map<number, Entry[]>();
        const record = (): void => {
          for (let v = Math.max(1, db.oldestVersion); v <= db.version; v++) if (!states.has(v)) states.set(v, stateAt(db, v));
        };
        try {
          for (const s of steps) {
            if (s.kind === 'put') await db.put(s.key, s.value);
            else if (s.kind === 'delete') await db.delete(s.key);
            else if (s.kind === 'batch') await db.batch(s.keys.map((k, i) => ({ op: 'put' as const, key: k, value: i })));
            else if (s.kind === 'checkpoint') await db.checkpoint();
            record();
            if (s.kind === 'reopen') {
              // What was readable before the close: a window can only keep history that existed (a database
              // reopened with a larger retainVersions cannot reach below what its previous window kept).
              const oldestBefore = db.oldestVersion;
              await db.close();
              const before = retain;
              retain = s.retain;
              db = await open({ dir, retainVersions: retain, walSegmentBytes: 1024, workers: 0 });
              // What the files kept reaches back `before` versions (the window they were written for).
              const from = Math.max(1, oldestBefore, db.version - Math.min(before, retain));
              expect(db.oldestVersion).toBeLessThanOrEqual(from);
              for (let v = from; v <= db.version; v++) expect(stateAt(db, v), `version ${v} after reopen`).toEqual(states.get(v));
            }
          }
        } finally {
          await db.close();
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);

  it('regression (found by the property above): a database reopened with a larger retainVersions keeps what its previous window held, and cannot reach below it', async () => {
    const dir = tempDir();
    const options = { walSegmentBytes: 1024, workers: 0 } as const;
    let db = await open({ dir, retainVersions: 1, ...options });
    await db.put('a', 0);
    await db.put('a', 0);
    await db.checkpoint();
    await db.put('a', 0);
    await db.close();
    db = await open({ dir, retainVersions: 10, ...options });
    await db.put('a', 0);
    await db.checkpoint();
    const oldest = db.oldestVersion;
    const before = new Map<number, Entry[]>();
    for (let v = oldest; v <= db.version; v++) before.set(v, stateAt(db, v));
    await db.close();
    db = await open({ dir, retainVersions: 10, ...options });
    try {
      expect(db.oldestVersion).toBeLessThanOrEqual(oldest);
      for (const [v, state] of before) expect(stateAt(db, v), `version ${v}`).toEqual(state);
    } finally {
      await db.close();
    }
  });

  it('after a SIGKILL, every acknowledged version within retainVersions reads as it was', { timeout: 60_000 }, async () => {
    const retainVersions = 150;
    const dir = tempDir();
    for (const killAfter of [420, 900]) {
      const child = spawn(process.execPath, [WRITER, JSON.stringify({ dir, retainVersions })], { stdio: ['ignore', 'pipe', 'inherit'] });
      let acknowledged = 0;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await new Promise<void>((resolve) => {
        createInterface({ input: child.stdout }).on('line', (line) => {
          const message = JSON.parse(line) as { t: string; v: number };
          if (message.t !== 'a') return;
          acknowledged = message.v;
          if (acknowledged >= killAfter && child.exitCode === null) {
            child.kill('SIGKILL');
            resolve();
          }
        });
      });
      await exited;
      const db = await openDb({ dir, retainVersions });
      expect(db.version).toBeGreaterThanOrEqual(acknowledged);
      expect(db.oldestVersion).toBeLessThanOrEqual(db.version - retainVersions);
      for (let v = db.version - retainVersions; v <= db.version; v++) {
        expect(stateAt(db, v).map((e) => ({ key: e.key, value: e.value, version: e.version })), `version ${v}`).toEqual(writerState(v));
      }
      await db.close();
    }
  });

  it('retainVersions: 0 keeps what it kept before: the newest checkpoint, the previous one, and the WAL after the newest', async () => {
    const dir = tempDir();
    const db = await openDb({ dir, walSegmentBytes: 1024 });
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 40; i++) await db.put(`k${i % 5}`, round * 100 + i);
      await db.checkpoint();
    }
    const names = readdirSync(dir);
    expect(names.filter((n) => n.startsWith('checkpoint-'))).toEqual(['checkpoint-0000000000000120.ckpt', 'checkpoint-0000000000000160.ckpt']);
    expect(names.filter((n) => n.startsWith('wal-'))).toEqual(['wal-0000000000000161.log']);
  });

  it('a damaged history checkpoint falls back to the newest one: the data opens, the history before it is refused and says why', async () => {
    const dir = tempDir();
    let db = await openDb({ dir, retainVersions: 30, walSegmentBytes: 1024 });
    for (let i = 1; i <= 100; i++) {
      await db.put(`k${i % 5}`, i);
      if (i % 20 === 0) await db.checkpoint();
    }
    const expected = [...db.scan()];
    await db.close();
    const base = readdirSync(dir).filter((n) => n.startsWith('checkpoint-')).sort()[0]!;
    expect(base).toBe('checkpoint-0000000000000060.ckpt');
    const path = join(dir, base);
    const bytes = readFileSync(path);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(path, bytes);
    db = await openDb({ dir, retainVersions: 30 });
    expect(db.version).toBe(100);
    expect([...db.scan()]).toEqual(expected);
    expect(db.recovery?.checkpointVersion).toBe(100);
    expect(() => db.snapshotAt(80)).toThrow(expect.objectContaining({ code: 'VERSION_UNAVAILABLE', message: expect.stringContaining('opened from a checkpoint at version 100') }));
  });

  it('a read-only open with retainVersions reads the history the files of the writer keep', async () => {
    const dir = tempDir();
    const writer = await openDb({ dir, retainVersions: 30, walSegmentBytes: 1024 });
    for (let i = 1; i <= 100; i++) {
      await writer.put(`k${i % 5}`, i);
      if (i % 20 === 0) await writer.checkpoint();
    }
    const reader = await openDb({ dir, readOnly: true, retainVersions: 30 });
    expect(reader.version).toBe(100);
    for (let v = 70; v <= 100; v++) expect(stateAt(reader, v), `version ${v}`).toEqual(stateAt(writer, v));
  });
});
