/**
 * Hostile directory contents (issue 6), on real temp dirs: unknown file
 * names, garbage inside files named like WAL segments and checkpoints, a
 * directory that is not an EpochDB directory, files of a newer format
 * version (docs/format.md), and permission / I/O errors (through the
 * simulated file system: the tests run as root, where chmod-based read-only
 * directories do not fail). Each case ends in a documented typed error or in
 * documented tolerant behaviour holding exactly the data written — never a
 * raw error, never silently different data.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_FORMAT_VERSION, WAL_FORMAT_VERSION, checksum } from '@epochdb/persist';
import { EpochError, open, type Database } from 'epochdb';
import { SimFileSystem, type SimOp } from '../support/sim-fs.js';

const root = mkdtempSync(join(tmpdir(), 'epochdb-fuzz-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `d${dirs++}`);
const quiet = { maintenance: { intervalMs: 0 }, workers: 0 } as const;
const seg = (v: number): string => `wal-${String(v).padStart(16, '0')}.log`;
const ckpt = (v: number): string => `checkpoint-${String(v).padStart(16, '0')}.ckpt`;

/** A database with keys k0..k{n-1} (values {i}), left as `checkpointOnClose` says. */
async function populated(n: number, checkpointOnClose: boolean): Promise<string> {
  const dir = freshDir();
  const db = await open({ dir, ...quiet, checkpointOnClose });
  for (let i = 0; i < n; i++) await db.put(`k${i}`, { i }, { sync: 'none' });
  await db.close();
  return dir;
}

function expectData(db: Database, n: number): void {
  expect(db.version).toBe(n);
  expect([...db.scan()].map((e) => [e.key, e.value])).toEqual(Array.from({ length: n }, (_, i) => [`k${i}`, { i }]).sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)));
}

/** Opens `dir`: either the documented error codes, or a database holding exactly the n keys. */
async function expectOutcome(dir: string, n: number, codes: string[]): Promise<'opened' | string> {
  let db: Database | undefined;
  try {
    db = await open({ dir, ...quiet });
  } catch (error) {
    expect(error, `a raw error escaped: ${String(error)}`).toBeInstanceOf(EpochError);
    expect(codes).toContain((error as EpochError).code);
    return (error as EpochError).code;
  }
  try {
    expectData(db, n);
  } finally {
    await db.close();
  }
  return 'opened';
}

describe('garbage in the database directory', () => {
  it('unknown file names are ignored and left alone; the data is intact', async () => {
    const dir = await populated(5, false);
    const strangers = ['notes.txt', 'wal-1.log', 'wal-00000000000000001.log', 'checkpoint-abc.ckpt', 'wal-0000000000000001.log.bak', 'checkpoint-0000000000000009.ckpt.old', '.hidden', 'LOCKED'];
    for (const name of strangers) writeFileSync(join(dir, name), 'garbage');
    mkdirSync(join(dir, 'subdir'));
    expect(await expectOutcome(dir, 5, [])).toBe('opened');
    for (const name of strangers) expect(existsSync(join(dir, name)), name).toBe(true);
  });

  it('random bytes in files named like WAL segments: CORRUPTION / UNSUPPORTED_FORMAT, or tolerated with exactly the data written', async () => {
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 12 }), fc.boolean(), async (garbage, first, checkpointOnClose) => {
        const dir = await populated(6, checkpointOnClose);
        const name = seg(first);
        const existing = existsSync(join(dir, name));
        writeFileSync(join(dir, name), garbage);
        if (existing && !checkpointOnClose && garbage.length < 16) {
          // docs/format.md: a newest segment whose header was never completely written is removed
          // as torn (a crash while creating it). Overwritten like this, its records are gone, but
          // recovery must say so (a 'truncated' event), never silently.
          const db = await open({ dir, ...quiet });
          expect(db.recovery!.events.map((e) => [e.type, 'file' in e ? e.file : ''])).toContainEqual(['truncated', name]);
          await db.close();
          outcomes.set('torn header removed', (outcomes.get('torn header removed') ?? 0) + 1);
        } else {
          const outcome = await expectOutcome(dir, 6, ['CORRUPTION', 'UNSUPPORTED_FORMAT']);
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          // Overwriting a live segment with a full header's worth of garbage must never open with less.
          if (existing && !checkpointOnClose) expect(outcome).not.toBe('opened');
        }
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 40 },
    );
    console.log('WAL garbage outcomes', Object.fromEntries(outcomes));
  });

  it('a valid segment header followed by random bytes as the newest segment is a torn tail: truncated, data intact', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 100 }), async (garbage) => {
        const dir = await populated(4, true);
        const header = readFileSync(join(dir, readdirSync(dir).find((n) => n.startsWith('wal-'))!)).subarray(0, 16);
        writeFileSync(join(dir, seg(5)), Buffer.concat([header, garbage]));
        expect(await expectOutcome(dir, 4, [])).toBe('opened');
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 20 },
    );
  });

  it('random bytes in files named like checkpoints: fall back (reported) with exactly the data, or a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 9 }), async (garbage, version) => {
        const dir = await populated(6, false);
        writeFileSync(join(dir, ckpt(version)), garbage);
        let db: Database | undefined;
        try {
          db = await open({ dir, ...quiet });
        } catch (error) {
          expect(error).toBeInstanceOf(EpochError);
          expect(['CORRUPTION', 'UNSUPPORTED_FORMAT']).toContain((error as EpochError).code);
          return;
        }
        try {
          expectData(db, 6);
          expect(db.recovery!.events.map((e) => e.type)).toContain('checkpoint-fallback');
        } finally {
          await db.close();
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 30 },
    );
  });
});

describe('foreign directories and newer formats', () => {
  it('a directory holding unrelated files is refused with UNSUPPORTED_FORMAT and left untouched', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'thesis.tex'), 'precious');
    writeFileSync(join(dir, 'wal-0000000000000001.log'), 'not ours either');
    const error = await open({ dir, ...quiet }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(EpochError);
    expect((error as EpochError).code).toBe('UNSUPPORTED_FORMAT');
    expect(readdirSync(dir).sort()).toEqual(['thesis.tex', 'wal-0000000000000001.log']);
    expect(readFileSync(join(dir, 'thesis.tex'), 'utf8')).toBe('precious');
  });

  const newer: [string, (dir: string) => void][] = [
    ['marker {"format":2}', (dir) => writeFileSync(join(dir, 'EPOCHDB'), JSON.stringify({ format: 2, createdBy: 'epochdb' }))],
    ['a marker that is not JSON', (dir) => writeFileSync(join(dir, 'EPOCHDB'), '\u0000garbage')],
    [
      `a WAL segment header of format version ${WAL_FORMAT_VERSION + 1} (CRC fixed)`,
      (dir) => {
        const name = readdirSync(dir).find((n) => n.startsWith('wal-'))!;
        const bytes = readFileSync(join(dir, name));
        bytes.writeUInt32LE(WAL_FORMAT_VERSION + 1, 8);
        bytes.writeUInt32LE(checksum(bytes.subarray(0, 12)), 12);
        writeFileSync(join(dir, name), bytes);
      },
    ],
    [
      `a checkpoint header of format version ${CHECKPOINT_FORMAT_VERSION + 1} (CRC fixed)`,
      (dir) => {
        const name = readdirSync(dir).find((n) => n.endsWith('.ckpt'))!;
        const bytes = readFileSync(join(dir, name));
        bytes.writeUInt32LE(CHECKPOINT_FORMAT_VERSION + 1, 8);
        bytes.writeUInt32LE(checksum(bytes.subarray(0, 20)), 20);
        writeFileSync(join(dir, name), bytes);
      },
    ],
  ];
  for (const [what, patch] of newer) {
    it(`${what}: UNSUPPORTED_FORMAT, nothing changed on disk`, async () => {
      const dir = await populated(3, what.includes('checkpoint'));
      patch(dir);
      const before = readdirSync(dir).sort().map((n) => [n, readFileSync(join(dir, n)).toString('hex')]);
      const error = await open({ dir, ...quiet }).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(EpochError);
      expect((error as EpochError).code).toBe('UNSUPPORTED_FORMAT');
      expect((error as EpochError).message.length).toBeGreaterThan(0);
      const after = readdirSync(dir).sort().map((n) => [n, readFileSync(join(dir, n)).toString('hex')]);
      expect(after).toEqual(before);
    });
  }
});

describe('permission and I/O errors (simulated file system; we run as root)', () => {
  const openCases: [SimOp, string][] = [
    ['mkdir', 'EACCES'],
    ['readdir', 'EACCES'],
    ['open', 'EACCES'],
    ['open', 'ENOSPC'],
    ['write', 'ENOSPC'],
    ['syncDir', 'EIO'],
  ];
  // Was a bug: the LOCK file is created, then its write/fdatasync fails: open() rejects IO_ERROR but leaves
  // LOCK naming this (live) process behind, so every later open() in this process fails LOCKED.
  it('regression: open() whose LOCK fdatasync fails EIO rejects IO_ERROR and does not leave a LOCK behind (a later open succeeds)', async () => {
    await openWith('datasync', 'EIO', 1);
  });

  // Was a bug: an I/O error reading the EPOCHDB marker is reported as UNSUPPORTED_FORMAT ("not a valid
  // EpochDB marker") instead of IO_ERROR: a transient EIO/EACCES looks like a foreign directory.
  it('regression: open() whose read of the EPOCHDB marker fails EIO rejects IO_ERROR, not UNSUPPORTED_FORMAT', async () => {
    await openWith('readFile', 'EIO', Infinity);
  });

  /** The `code`s along an error's `cause` chain. */
  function codesOfCauses(error: unknown): unknown[] {
    const codes: unknown[] = [];
    for (let e = (error as Error | undefined)?.cause, depth = 0; e !== undefined && depth < 8; e = (e as Error).cause, depth++) codes.push((e as { code?: unknown }).code);
    return codes;
  }

  async function openWith(op: SimOp, code: string, times: number): Promise<void> {
    const fs = new SimFileSystem({ seed: 7 });
    const db = await open({ dir: '/db', fileSystem: fs, ...quiet });
    await db.put('a', 1);
    await db.close();
    fs.inject({ op, code, times });
    const error = await open({ dir: '/db', fileSystem: fs, ...quiet }).then(
      async (d) => {
        await d.close().catch(() => undefined);
        return undefined;
      },
      (e: unknown) => e,
    );
    // The fault must have fired: a case whose fault never reaches the file system proves nothing.
    expect(fs.injected.length, `${op} ${code} was never reached`).toBeGreaterThan(0);
    expect(error, `${op} ${code} reached the file system but open() succeeded`).toBeInstanceOf(EpochError);
    expect((error as EpochError).code).toBe('IO_ERROR');
    // The file system's own error is kept as the cause (somewhere down the chain).
    expect(codesOfCauses(error), `the causes of: ${(error as Error).message}`).toContain(code);
    fs.clearFaults();
    const again = await open({ dir: '/db', fileSystem: fs, ...quiet });
    expect(again.get('a')).toBe(1);
    expect(again.version).toBe(1);
    await again.close();
  }

  for (const [op, code] of openCases) {
    it(`open() of an existing database with ${op} failing ${code}: a typed error (IO_ERROR), and a later open succeeds with the data`, async () => {
      await openWith(op, code, Infinity);
    });
  }

  // Opening an existing, cleanly closed database renames nothing: a rename fault fires where open()
  // renames, when it writes the marker of a new directory (temporary name, then rename).
  it('open() of a new directory whose marker rename fails EACCES: a typed error (IO_ERROR), and a later open succeeds', async () => {
    const fs = new SimFileSystem({ seed: 7 });
    fs.inject({ op: 'rename', code: 'EACCES', times: Infinity });
    const error = await open({ dir: '/fresh', fileSystem: fs, ...quiet }).then(
      async (d) => {
        await d.close().catch(() => undefined);
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(fs.injected.length, 'rename EACCES was never reached').toBeGreaterThan(0);
    expect(error).toBeInstanceOf(EpochError);
    expect((error as EpochError).code).toBe('IO_ERROR');
    expect(codesOfCauses(error)).toContain('EACCES');
    fs.clearFaults();
    const again = await open({ dir: '/fresh', fileSystem: fs, ...quiet });
    await again.put('a', 1);
    expect(again.get('a')).toBe(1);
    await again.close();
  });

  for (const [op, code] of [
    ['write', 'EACCES'],
    ['writeDurable', 'ENOSPC'],
    ['datasync', 'EIO'],
  ] as [SimOp, string][]) {
    it(`a write whose ${op} fails ${code} rejects IO_ERROR, the database turns read-only (FAILED), reopen has every acknowledged write`, async () => {
      const fs = new SimFileSystem({ seed: 3, durableWrites: op === 'writeDurable' });
      const db = await open({ dir: '/db', fileSystem: fs, ...quiet });
      await db.put('a', 1);
      fs.inject({ op, code, path: (p) => p.endsWith('.log') });
      const error = await db.put('b', 2).then(() => undefined, (e: unknown) => e);
      expect((error as EpochError).code).toBe('IO_ERROR');
      expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe(code);
      const later = await db.put('c', 3).then(() => undefined, (e: unknown) => e);
      expect((later as EpochError).code).toBe('FAILED');
      expect(db.get('a')).toBe(1);
      await db.close();
      const again = await open({ dir: '/db', fileSystem: fs, ...quiet });
      expect(again.get('a')).toBe(1);
      expect(again.has('c')).toBe(false);
      await again.close();
    });
  }
});
