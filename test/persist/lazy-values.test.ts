// Values loaded at open (checkpoint and WAL replay) stay encoded until first read:
// what a reader gets must be exactly what an eager decode gave, and bytes that pass
// their checksum but do not decode are reported (a read and verify() say CORRUPTION).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeFileSystem, parseCheckpointName, readCheckpoint, verifyDirectory, writeCheckpoint } from '@epochdb/persist';
import { CorruptionError, open, type Database } from 'epochdb';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'epochdb-lazy-'));
  dirs.push(dir);
  return dir;
};
const openDb = (dir: string, checkpointOnClose = true, valueCacheEntries = 0): Promise<Database> =>
  open({ dir, sync: 'none', workers: 0, checkpointOnClose, maintenance: { intervalMs: 0 }, valueCacheEntries });

function isDeepFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeepFrozen);
}

const plain = { id: 7, name: 'Ada', tags: ['a', 'b'], nested: { deep: [1, { x: null }] } };

async function writeSample(dir: string, checkpointOnClose: boolean): Promise<void> {
  const db = await openDb(dir, checkpointOnClose);
  await db.put('plain', plain, { run: 'r1', type: 't1' });
  await db.put('string', 'hello');
  await db.put('zero', { z: -0 });
  await db.put('map', new Map([[1, 'one']]));
  await db.put('date', new Date(1_700_000_000_000));
  await db.put('gone', 1);
  await db.delete('gone');
  await db.close();
}

describe.each([
  ['checkpoint', true],
  ['WAL replay', false],
])('values loaded from the %s', (_name, checkpointOnClose) => {
  it('read back equal and deep-frozen: a fresh copy per read by default, the same object across reads with a read cache', async () => {
    const dir = tempDir();
    await writeSample(dir, checkpointOnClose);
    const uncached = await openDb(dir, checkpointOnClose);
    try {
      const a = uncached.get('plain');
      const b = uncached.get('plain');
      expect(a).toEqual(plain);
      expect(b).toEqual(plain);
      expect(isDeepFrozen(a) && isDeepFrozen(b)).toBe(true);
      expect(a).not.toBe(b);
    } finally {
      await uncached.close();
    }
    const db = await openDb(dir, checkpointOnClose, 100);
    try {
      const first = db.get('plain');
      expect(first).toEqual(plain);
      expect(isDeepFrozen(first)).toBe(true);
      expect(db.get('plain')).toBe(first);
      const entry = db.getEntry('plain')!;
      expect(entry).toMatchObject({ key: 'plain', run: 'r1', type: 't1' });
      expect(entry.value).toBe(first);
      expect(db.getEntry('plain')).toBe(entry);
      expect(Object.isFrozen(entry)).toBe(true);
      expect(db.get('string')).toBe('hello');
      expect(Object.is((db.get('zero') as { z: number }).z, -0)).toBe(true);
      // Values Object.freeze cannot protect are still decoded afresh on every read.
      const map = db.get('map') as Map<number, string>;
      expect(map).toEqual(new Map([[1, 'one']]));
      expect(db.get('map')).not.toBe(map);
      expect((db.get('date') as Date).getTime()).toBe(1_700_000_000_000);
      expect(db.has('gone')).toBe(false);
      // A scan of values never read decodes them; the entries are the same objects get sees.
      const scanned = [...db.scan({ prefix: 's' })];
      expect(scanned.map((e) => e.value)).toEqual(['hello']);
      using snap = db.snapshot();
      expect(snap.get('plain')).toBe(first);
      expect([...db.byRun('r1')].map((e) => e.value)).toEqual([plain]);
    } finally {
      await db.close();
    }
  });

  it('a checkpoint of values never read keeps them intact through another reopen', async () => {
    const dir = tempDir();
    await writeSample(dir, checkpointOnClose);
    let db = await openDb(dir, checkpointOnClose);
    await db.checkpoint();
    await db.close();
    db = await openDb(dir, checkpointOnClose);
    try {
      expect(db.get('plain')).toEqual(plain);
      expect(db.get('map')).toEqual(new Map([[1, 'one']]));
      expect(Object.is((db.get('zero') as { z: number }).z, -0)).toBe(true);
      expect(db.stats().keys).toBe(5);
    } finally {
      await db.close();
    }
  });
});

describe('a value whose bytes pass the checksum but do not decode', () => {
  it('does not fail open(); reading it is CORRUPTION (every time), other keys read fine, verify() reports it', async () => {
    const dir = tempDir();
    const db = await openDb(dir);
    await db.put('a', { ok: true });
    await db.put('b', { ok: false });
    await db.close();
    // Rewrite the checkpoint with b's value replaced by bytes msgpack cannot decode
    // (a fixstr of 5 bytes holding 1): every checksum of the file is valid.
    const name = readdirSync(dir).find((n) => parseCheckpointName(n) !== undefined)!;
    const path = join(dir, name);
    const contents = await readCheckpoint(nodeFileSystem, path);
    const damaged = contents.entries.map((e) => (e.key === 'b' ? { ...e, encoded: new Uint8Array([0xa5, 0x61]) } : e));
    rmSync(path);
    await writeCheckpoint(nodeFileSystem, path, contents.version, damaged, dir, contents.structures);

    const again = await openDb(dir);
    try {
      expect(again.get('a')).toEqual({ ok: true });
      expect(again.has('b')).toBe(true);
      for (let i = 0; i < 2; i++) {
        let caught: unknown;
        try {
          again.get('b');
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(CorruptionError);
        expect((caught as CorruptionError).code).toBe('CORRUPTION');
        expect((caught as Error).message).toMatch(/key "b".*does not decode/);
      }
      expect(() => again.getEntry('b')).toThrow(CorruptionError);
      expect(() => [...again.scan()]).toThrow(CorruptionError);
      const report = await again.verify();
      expect(report.ok).toBe(false);
      expect(report.firstError).toMatchObject({ file: name });
      expect(report.firstError!.message).toMatch(/key "b".*does not decode/);
    } finally {
      await again.close();
    }
  });

  it('a value naming a structure id the checkpoint\'s table does not hold is CORRUPTION, never the bare integer msgpackr would return', async () => {
    const dir = tempDir();
    const db = await openDb(dir);
    await db.put('a', { first: 1 });
    await db.put('b', { second: 2, nested: { third: 3 } });
    await db.close();
    // Rewrite the checkpoint with its structure table cut to the first structure: b's value names ids it no longer holds.
    const name = readdirSync(dir).find((n) => parseCheckpointName(n) !== undefined)!;
    const path = join(dir, name);
    const contents = await readCheckpoint(nodeFileSystem, path);
    expect(contents.structures.length).toBeGreaterThanOrEqual(3);
    rmSync(path);
    await writeCheckpoint(nodeFileSystem, path, contents.version, contents.entries, dir, contents.structures.slice(0, 1));

    const again = await openDb(dir);
    try {
      expect(again.get('a')).toEqual({ first: 1 });
      expect(() => again.get('b')).toThrow(CorruptionError);
      expect(() => again.getEntry('b')).toThrow(/key "b".*structure id/);
      const report = await again.verify();
      expect(report.ok).toBe(false);
      expect(report.firstError!.message).toMatch(/key "b".*structure id/);
    } finally {
      await again.close();
    }
  });

  it('in a WAL record: verify() names the record; reading it is CORRUPTION', async () => {
    const dir = tempDir();
    const db = await openDb(dir, false);
    await db.put('a', 1);
    await db.close();
    // Append a well-framed record whose put value does not decode.
    const { encodeFrame, listSegments } = await import('@epochdb/persist');
    const { appendFileSync } = await import('node:fs');
    const segment = listSegments(readdirSync(dir)).at(-1)!;
    appendFileSync(join(dir, segment.name), encodeFrame({ version: 2, time: Date.now(), ops: [{ kind: 'put', key: 'bad', encoded: new Uint8Array([0xa5, 0x61]) }] }));
    const again = await openDb(dir, false);
    try {
      expect(again.version).toBe(2);
      expect(again.get('a')).toBe(1);
      expect(() => again.get('bad')).toThrow(CorruptionError);
      const report = await again.verify();
      expect(report.ok).toBe(false);
      expect(report.firstError).toMatchObject({ file: segment.name });
      expect(report.firstError!.message).toMatch(/version 2: value of key "bad"/);
    } finally {
      await again.close();
    }
  });
});

describe('verify() of a live directory and the structure table', () => {
  it('regression: WAL values naming structures defined in WAL a checkpoint replaced after the listing are read again, not reported as damage', async () => {
    const dir = tempDir();
    const db = await openDb(dir, false);
    await db.put('x', { shape: 1 }); // its record defines the structure
    await db.checkpoint(); // the checkpoint holds it; the WAL that defined it is deleted
    await db.put('y', { shape: 2 }); // uses it without defining it again
    await db.close();
    const checkpoint = readdirSync(dir).find((n) => parseCheckpointName(n) !== undefined)!;
    // The first listing misses the checkpoint (as if a live writer wrote it just after): the WAL alone
    // names a structure nothing read so far defines.
    let listings = 0;
    const racing = {
      ...nodeFileSystem,
      readdir: async (path: string) => {
        const names = await nodeFileSystem.readdir(path);
        return listings++ === 0 ? names.filter((n) => n !== checkpoint) : names;
      },
    };
    const report = await verifyDirectory(racing, dir);
    expect(listings).toBeGreaterThanOrEqual(2);
    expect(report.ok).toBe(true);
    expect(report.files.map((f) => f.file)).toContain(checkpoint);
  });
});
