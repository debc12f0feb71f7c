import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeValue, encodeValue, type CommitOp, type CommitRecord } from '@epochdb/core';
import { Persistence, recover, nodeFileSystem, writeCheckpoint } from '@epochdb/persist';
import { WorkerPool } from '@epochdb/workers';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

type Model = Map<string, { value: unknown; version: number; run?: string; expiresAt?: number }>;

const opArb = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), value: fc.integer(), run: fc.option(fc.constantFrom('r1', 'r2'), { nil: undefined }), expiresAt: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: undefined }) }),
  fc.record({ kind: fc.constantFrom('delete' as const, 'expire' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e') }),
);

describe('checkpoints built from files on a worker (Persistence.checkpointFromWal + the pool task)', () => {
  it('the merged checkpoint equals the committed state, across a base checkpoint and several segments', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 24 }), async (commits, cut) => {
        const dir = mkdtempSync(join(tmpdir(), 'epochdb-build-'));
        dirs.push(dir);
        const now = 1000;
        const { persistence } = await Persistence.open({ dir, sync: 'none', syncIntervalMs: 1000, walSegmentBytes: 1024, checkpointWalBytes: 1 << 30, recovery: 'strict' });
        const pool = new WorkerPool({ workers: 1 });
        const threads = new Set<number>();
        const build = async (plan: Parameters<Parameters<Persistence['checkpointFromWal']>[1]>[0]) => {
          const { threadId: worker, ...written } = await pool.run('checkpoint', plan);
          threads.add(worker);
          return written;
        };
        const model: Model = new Map();
        let version = 0;
        for (const [i, ops] of commits.entries()) {
          version++;
          const recordOps: CommitOp[] = ops.map((op) =>
            op.kind === 'put'
              ? { kind: 'put', key: op.key, encoded: encodeValue(op.value), ...(op.run === undefined ? {} : { run: op.run }), ...(op.expiresAt === undefined ? {} : { expiresAt: op.expiresAt }) }
              : { kind: op.kind, key: op.key },
          );
          for (const op of ops) {
            if (op.kind === 'put') model.set(op.key, { value: op.value, version, ...(op.run === undefined ? {} : { run: op.run }), ...(op.expiresAt === undefined ? {} : { expiresAt: op.expiresAt }) });
            else model.delete(op.key);
          }
          const record: CommitRecord = { version, time: now, ops: recordOps };
          await persistence.append(record, undefined);
          if (i + 1 === cut) await persistence.checkpointFromWal(now, build); // a base for the final merge
        }
        const written = await persistence.checkpointFromWal(now, build);
        await persistence.close();
        await pool.close();
        expect(threads.size).toBeGreaterThan(0);
        expect([...threads].every((t) => t !== threadId)).toBe(true);
        // When the base checkpoint already covers the last commit, the final one writes nothing.
        expect(written?.version).toBe(cut === commits.length ? undefined : version);
        const recovered = await recover({ fs: nodeFileSystem, dir, mode: 'strict' });
        expect(recovered.checkpointVersion).toBe(version);
        expect(recovered.records).toEqual([]);
        const expected = [...model.entries()].filter(([, e]) => e.expiresAt === undefined || e.expiresAt > now).sort(([a], [b]) => (a < b ? -1 : 1));
        expect([...recovered.checkpointEntries].map((e) => [e.key, { value: decodeValue(e.encoded), version: e.version, ...(e.run === undefined ? {} : { run: e.run }), ...(e.expiresAt === undefined ? {} : { expiresAt: e.expiresAt }) }])).toEqual(expected);
        if (written !== undefined) {
          // The merge copies value bytes as they are: its file is byte for byte the one written from the decoded state.
          const decodedDir = mkdtempSync(join(tmpdir(), 'epochdb-build-decoded-'));
          dirs.push(decodedDir);
          const fromDecoded = await writeCheckpoint(nodeFileSystem, join(decodedDir, 'decoded.ckpt'), version, expected.map(([key, e]) => ({ key, encoded: encodeValue(e.value), version: e.version, run: e.run, expiresAt: e.expiresAt })), decodedDir, []);
          expect(readFileSync(fromDecoded.path).equals(readFileSync(written.path))).toBe(true);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('with nothing committed since the last checkpoint it writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epochdb-build-'));
    dirs.push(dir);
    const { persistence } = await Persistence.open({ dir, sync: 'none', syncIntervalMs: 1000, walSegmentBytes: 1024, checkpointWalBytes: 1 << 30, recovery: 'strict' });
    const pool = new WorkerPool({ workers: 0 });
    await persistence.append({ version: 1, time: 0, ops: [{ kind: 'put', key: 'k', encoded: encodeValue(1) }] }, undefined);
    const build = async (plan: Parameters<Parameters<Persistence['checkpointFromWal']>[1]>[0]) => pool.run('checkpoint', plan);
    expect((await persistence.checkpointFromWal(0, build))?.version).toBe(1);
    expect(await persistence.checkpointFromWal(0, build)).toBeUndefined();
    expect(persistence.stats().checkpoints).toBe(1);
    await persistence.close();
  });
});
