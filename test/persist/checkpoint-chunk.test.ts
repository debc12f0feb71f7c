// Checkpoint format 3's chunk payload: a binary, columnar layout decoded with a
// few native calls. Every row written must read back exactly (keys of any
// script, the empty metadata key, tags, expiries, values of any size), and a
// payload cut short must never decode (the frame's checksum catches damage; the
// decoder must still never throw, read out of bounds or size an allocation
// from a damaged count).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CheckpointEntry } from '@epochdb/core';
import { decodeChunk, encodeChunk, entriesOf } from '@epochdb/persist';

const key = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 8 })).filter((k) => k.isWellFormed());
const tag = fc.option(fc.constantFrom('run-a', 'run-b', 'тип', '🙂tag', 'x'.repeat(300)), { nil: undefined });
const row = fc.record({
  encoded: fc.oneof(fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ minLength: 100, maxLength: 3000 })),
  version: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
  run: tag,
  type: tag,
  expiresAt: fc.option(fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.double({ min: 1, max: 1e15, noNaN: true })), { nil: undefined }),
});
/** Rows with distinct keys in key order, as a checkpoint holds them. */
const rows = fc.uniqueArray(fc.tuple(key, row), { selector: ([k]) => k, maxLength: 60 }).map((pairs) =>
  pairs
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, r]): CheckpointEntry => ({ key: k, encoded: r.encoded, version: r.version, ...(r.run === undefined ? {} : { run: r.run }), ...(r.type === undefined ? {} : { type: r.type }), ...(r.expiresAt === undefined ? {} : { expiresAt: r.expiresAt }) })),
);

const plain = (entries: readonly CheckpointEntry[]): unknown[] => entries.map((e) => ({ ...e, encoded: [...e.encoded] }));

describe('checkpoint chunk format 3', () => {
  it('property: every row reads back exactly, as entries and as columns', () => {
    fc.assert(
      fc.property(rows, (written) => {
        const chunk = decodeChunk(encodeChunk(written), 3)!;
        expect(chunk).toBeDefined();
        expect(chunk.length).toBe(written.length);
        expect(plain(entriesOf(chunk))).toStrictEqual(plain(written));
        for (let i = 0; i < written.length; i++) {
          expect([...chunk.bytes.subarray(chunk.valueStarts[i], chunk.valueStarts[i + 1])]).toStrictEqual([...written[i]!.encoded]);
          expect(chunk.runs?.[i]).toBe(written[i]!.run);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the empty metadata key, keys outside the BMP and a chunk with no tags or expiries at all', () => {
    const written: CheckpointEntry[] = [
      { key: '', encoded: Uint8Array.of(0xc0), version: 3 },
      { key: 'a😀b', encoded: Uint8Array.of(1, 2, 3), version: 1 },
      { key: 'z', encoded: new Uint8Array(0), version: 2 },
    ];
    const payload = encodeChunk(written);
    const chunk = decodeChunk(payload, 3)!;
    expect(chunk.runs).toBeUndefined();
    expect(chunk.types).toBeUndefined();
    expect(chunk.expiresAt).toBeUndefined();
    expect(plain(entriesOf(chunk))).toStrictEqual(plain(written));
  });

  it('property: a payload cut short never decodes; damaged bytes never make the decoder throw', () => {
    fc.assert(
      fc.property(rows.filter((r) => r.length > 0), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (written, cutAt, flipAt, mask) => {
        const payload = encodeChunk(written);
        expect(decodeChunk(payload.subarray(0, cutAt % payload.byteLength), 3)).toBeUndefined();
        const damaged = Buffer.from(payload);
        damaged[flipAt % damaged.byteLength]! ^= mask;
        const decoded = decodeChunk(damaged, 3);
        // Damage inside a value or a version may still decode (the frame checksum is what catches it); the structure may not break.
        if (decoded !== undefined) {
          expect(decoded.keys).toHaveLength(decoded.length);
          expect(decoded.valueStarts[decoded.length]).toBe(decoded.bytes.byteLength);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a row count far past what the payload can hold is refused before anything is sized from it', () => {
    const payload = encodeChunk([{ key: 'k', encoded: Uint8Array.of(1), version: 1 }]);
    payload.writeUInt32LE(0xffffffff, 0);
    expect(decodeChunk(payload, 3)).toBeUndefined();
  });
});

describe('checkpoint rows are written in key order', () => {
  it('a row at or below the one before is refused, and no file is left behind', async () => {
    const { mkdtempSync, readdirSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { nodeFileSystem, writeCheckpoint } = await import('@epochdb/persist');
    const dir = mkdtempSync(join(tmpdir(), 'epochdb-order-'));
    try {
      const rows = [
        { key: 'b', encoded: Uint8Array.of(1), version: 1 },
        { key: 'a', encoded: Uint8Array.of(2), version: 1 },
      ];
      await expect(writeCheckpoint(nodeFileSystem, join(dir, 'c.ckpt'), 1, rows, dir, [])).rejects.toThrow(/ascending key order/);
      await expect(writeCheckpoint(nodeFileSystem, join(dir, 'c.ckpt'), 1, [rows[0]!, rows[0]!], dir, [])).rejects.toThrow(/ascending key order/);
      expect(readdirSync(dir)).toStrictEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
