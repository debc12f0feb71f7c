/**
 * FrameBatch, the WAL writer's direct frame encoder, against the reference
 * encoder `encodeFrame`: for random commit records (every op kind, keys and
 * tags of every UTF-8 length class, values as `Uint8Array` and `Buffer` of
 * every length class, versions, times and expiries across msgpack's number
 * formats) a batch of frames is byte for byte the concatenation of
 * `encodeFrame`'s frames, and reads back with `scanFrames`. Records outside
 * the direct encoder's shape go through `encodeFrame` and still match.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CommitOp, CommitRecord } from '@epochdb/core';
import { FrameBatch } from '../../packages/persist/src/frame-batch.js';
import { encodeFrame, scanFrames } from '../../packages/persist/src/wal-format.js';

const lengths = fc.constantFrom(0, 1, 31, 32, 33, 255, 256, 300, 65_535, 65_536);
const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 40 }), lengths.map((n) => 'k'.repeat(n)), lengths.map((n) => 'é'.repeat(Math.ceil(n / 2))));
const bytes = fc.oneof(fc.uint8Array({ maxLength: 40 }), lengths.map((n) => new Uint8Array(n).fill(7)));
const value = fc.tuple(bytes, fc.boolean()).map(([b, asBuffer]) => (asBuffer ? Buffer.from(b) : b));
const number = fc.oneof(
  fc.constantFrom(0, 1, 0x3f, 0x40, 0x7f, 0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, 1.8e12, 2 ** 53 - 1),
  fc.nat(),
  fc.integer({ min: 1e12, max: 2e12 }),
  fc.double({ noNaN: true, min: 0, max: 3e12 }),
);
const op: fc.Arbitrary<CommitOp> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: text, encoded: value, run: fc.option(text, { nil: undefined }), type: fc.option(text, { nil: undefined }), expiresAt: fc.option(number, { nil: undefined }) }).map(
    (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as CommitOp,
  ),
  fc.record({ kind: fc.constantFrom('delete' as const, 'expire' as const), key: text }),
);
const record: fc.Arbitrary<CommitRecord> = fc.record({ version: fc.oneof(fc.integer({ min: 1, max: 2 ** 32 + 5 }), fc.constantFrom(1, 0x3f, 0x40, 0x100, 0x10000)), time: number, ops: fc.array(op, { maxLength: 20 }) });

describe('FrameBatch', () => {
  it('writes exactly the frames encodeFrame writes, and they scan back', () => {
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 8 }), (records) => {
        const batch = new FrameBatch();
        let total = 0;
        for (const r of records) {
          const size = batch.append(r);
          expect(size).toBe(encodeFrame(r).byteLength);
          total += size;
        }
        expect(batch.length).toBe(total);
        const data = batch.take();
        expect(data.equals(Buffer.concat(records.map(encodeFrame)))).toBe(true);
        expect(batch.length).toBe(0);
        const scan = scanFrames(data, 0);
        expect(scan.damage).toBeUndefined();
        expect(scan.records.map((r) => r.version)).toStrictEqual(records.map((r) => r.version));
      }),
      { numRuns: 300 },
    );
  });

  it('grows past its first buffer and keeps taken buffers intact', () => {
    const batch = new FrameBatch();
    const big: CommitRecord = { version: 7, time: 1.8e12, ops: [{ kind: 'put', key: 'big', encoded: new Uint8Array(200_000).fill(3) }] };
    batch.append({ version: 6, time: 1, ops: [{ kind: 'delete', key: 'a' }] });
    const first = batch.take();
    const firstCopy = Buffer.from(first);
    batch.append(big);
    batch.append({ ...big, version: 8 });
    const second = batch.take();
    expect(first.equals(firstCopy)).toBe(true);
    expect(second.equals(Buffer.concat([encodeFrame(big), encodeFrame({ ...big, version: 8 })]))).toBe(true);
  });

  it('reuses a recycled buffer for a later batch (a steady stream of groups allocates nothing), never the one being filled', () => {
    const batch = new FrameBatch();
    const r = (version: number): CommitRecord => ({ version, time: 1.8e12, ops: [{ kind: 'put', key: `k${version}`, encoded: new Uint8Array(50).fill(version) }] });
    batch.append(r(1));
    const first = batch.take();
    batch.append(r(2));
    batch.recycle(first);
    const second = batch.take();
    expect(second.equals(encodeFrame(r(2)))).toBe(true);
    batch.recycle(second);
    batch.append(r(3));
    const third = batch.take();
    expect(third.buffer, 'the recycled buffer took the third batch').toBe(first.buffer);
    expect(third.equals(encodeFrame(r(3)))).toBe(true);
    // Handing back the buffer being filled (a stale second recycle) is ignored: the next batch would write over it while in use.
    batch.recycle(third);
    batch.append(r(4));
    batch.take();
    batch.recycle(third);
    batch.append(r(5));
    const fifth = batch.take();
    batch.append(r(6));
    expect(fifth.equals(encodeFrame(r(5))), 'the taken batch was not written over').toBe(true);
    expect(batch.take().equals(encodeFrame(r(6)))).toBe(true);
  });

  it('falls back to encodeFrame for shapes it does not encode itself (a negative time, an extra field, a Uint16Array value)', () => {
    const odd: CommitRecord[] = [
      { version: 1, time: -5, ops: [{ kind: 'delete', key: 'a' }] },
      { version: 2, time: 3, ops: [], ...{ structures: [['a', 'b']] } } as CommitRecord,
      { version: 3, time: 3, ops: [{ kind: 'put', key: 'k', encoded: new Uint16Array([1, 2]) as unknown as Uint8Array }] },
    ];
    const batch = new FrameBatch();
    for (const r of odd) batch.append(r);
    expect(batch.take().equals(Buffer.concat(odd.map(encodeFrame)))).toBe(true);
  });
});
