import { decodeValue, encodeValue, type CommitOp, type CommitRecord, type StructureDefs } from '@epochdb/core';
import { checksum } from './checksum.js';

/**
 * WAL segment layout (see docs/format.md):
 *   header  16 bytes: magic "EPDBWAL\0", u32 format version, u32 CRC-32C of the first 12 bytes
 *   records [u32 payload length][u32 CRC-32C of payload][payload], payload = msgpack [version, time, ops]
 *           or, for a record that carries new shared structures, [version, time, ops, from, keys] (format 2)
 * All integers little-endian.
 */
export const WAL_MAGIC = Buffer.from('EPDBWAL\0', 'latin1');
export const WAL_FORMAT_VERSION = 2;
/** Segment formats this version reads: 1 (records without structures, values self-describing) and 2. */
const READABLE_WAL_FORMATS: readonly number[] = [1, 2];
export const WAL_HEADER_BYTES = 16;
export const FRAME_HEADER_BYTES = 8;
/**
 * Largest payload a frame may claim; anything above is damage, not data. The
 * store refuses commits over `MAX_COMMIT_BYTES` (1 GiB, with overhead counted
 * generously), so every acknowledged record fits.
 */
export const MAX_FRAME_PAYLOAD = 2 * 1024 * 1024 * 1024 - 1;

const OP_KINDS = ['put', 'delete', 'expire'] as const;

/** The header of a new segment. */
export function encodeSegmentHeader(): Buffer {
  const header = Buffer.alloc(WAL_HEADER_BYTES);
  WAL_MAGIC.copy(header, 0);
  header.writeUInt32LE(WAL_FORMAT_VERSION, 8);
  header.writeUInt32LE(checksum(header.subarray(0, 12)), 12);
  return header;
}

/** Checks a segment header: `'ok'`, `'torn'` (too short: a crash while creating it), `'bad'`, or a newer format version number. */
export function checkSegmentHeader(bytes: Buffer): 'ok' | 'torn' | 'bad' | number {
  if (bytes.byteLength < WAL_HEADER_BYTES) return 'torn';
  if (!bytes.subarray(0, 8).equals(WAL_MAGIC)) return 'bad';
  if (bytes.readUInt32LE(12) !== checksum(bytes.subarray(0, 12))) return 'bad';
  const format = bytes.readUInt32LE(8);
  if (!READABLE_WAL_FORMATS.includes(format)) return format;
  return 'ok';
}

/** One commit record as a checksummed frame. */
export function encodeFrame(record: CommitRecord): Buffer {
  const ops = record.ops.map((op) =>
    op.kind === 'put'
      ? [0, op.key, op.encoded, op.run ?? null, op.type ?? null, op.expiresAt ?? null]
      : [OP_KINDS.indexOf(op.kind), op.key],
  );
  const structures = record.structures;
  // Structures ride in the record whose values may be the first to use them: [version, time, ops, from, keys].
  const payload = encodeValue(structures === undefined ? [record.version, record.time, ops] : [record.version, record.time, ops, structures.from, structures.keys]);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  frame.writeUInt32LE(payload.byteLength, 0);
  frame.writeUInt32LE(checksum(payload), 4);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** The outcome of reading frames from a buffer. */
export interface FrameScan {
  readonly records: CommitRecord[];
  /** Where each record's frame starts. */
  readonly offsets: number[];
  /** Bytes of whole, valid frames from `start` (the good prefix ends at `start + validBytes`). */
  readonly validBytes: number;
  /** Why reading stopped before the end, if it did. */
  readonly damage?: { readonly offset: number; readonly reason: string };
}

/** Reads consecutive frames from `bytes` starting at `start`, stopping at the first damaged one. */
export function scanFrames(bytes: Buffer, start: number): FrameScan {
  const records: CommitRecord[] = [];
  const offsets: number[] = [];
  let offset = start;
  while (offset < bytes.byteLength) {
    const result = readFrame(bytes, offset);
    if (typeof result === 'string') return { records, offsets, validBytes: offset - start, damage: { offset, reason: result } };
    records.push(result.record);
    offsets.push(offset);
    offset = result.end;
  }
  return { records, offsets, validBytes: offset - start };
}

/** A msgpack fixarray of 3 (or of 5, a record carrying structures): every record payload starts with one. */
const RECORD_PAYLOAD_START = 0x93;
const RECORD_WITH_STRUCTURES_START = 0x95;

/**
 * Whether a valid frame of a version above `afterVersion` starts anywhere
 * after `offset` (then damage at `offset` is not a torn tail). Candidates are
 * screened by their length and the payload's first byte before any checksum,
 * so a torn multi-megabyte record is scanned in about linear time.
 */
export function hasValidFrameAfter(bytes: Buffer, offset: number, afterVersion: number): boolean {
  const end = bytes.byteLength;
  for (let at = offset + 1; at + FRAME_HEADER_BYTES < end; at++) {
    const first = bytes[at + FRAME_HEADER_BYTES];
    if (first !== RECORD_PAYLOAD_START && first !== RECORD_WITH_STRUCTURES_START) continue;
    const length = bytes.readUInt32LE(at);
    if (length === 0 || at + FRAME_HEADER_BYTES + length > end) continue;
    const result = readFrame(bytes, at);
    if (typeof result !== 'string' && result.record.version > afterVersion) return true;
  }
  return false;
}

function readFrame(bytes: Buffer, offset: number): { record: CommitRecord; end: number } | string {
  if (offset + FRAME_HEADER_BYTES > bytes.byteLength) return 'incomplete frame header';
  const length = bytes.readUInt32LE(offset);
  if (length === 0 || length > MAX_FRAME_PAYLOAD) return `impossible frame length ${length}`;
  const end = offset + FRAME_HEADER_BYTES + length;
  if (end > bytes.byteLength) return `frame of ${length} bytes runs past the end of the file`;
  const payload = bytes.subarray(offset + FRAME_HEADER_BYTES, end);
  if (checksum(payload) !== bytes.readUInt32LE(offset + 4)) return 'checksum mismatch';
  const record = decodeRecord(payload);
  return record === undefined ? 'undecodable record' : { record, end };
}

function decodeRecord(payload: Buffer): CommitRecord | undefined {
  let decoded: unknown;
  try {
    decoded = decodeValue(payload);
  } catch {
    return undefined;
  }
  if (!Array.isArray(decoded) || (decoded.length !== 3 && decoded.length !== 5)) return undefined;
  const [version, time, rawOps, from, keys] = decoded as unknown[];
  let structures: StructureDefs | undefined;
  if (decoded.length === 5) {
    if (!Number.isSafeInteger(from) || (from as number) < 0 || !Array.isArray(keys) || keys.length === 0) return undefined;
    if (!keys.every((k) => Array.isArray(k) && k.every((name) => typeof name === 'string'))) return undefined;
    structures = { from: from as number, keys: keys as string[][] };
  }
  if (!Number.isSafeInteger(version) || (version as number) < 1 || typeof time !== 'number' || !Array.isArray(rawOps)) return undefined;
  const ops: CommitOp[] = [];
  for (const raw of rawOps as unknown[]) {
    if (!Array.isArray(raw) || typeof raw[1] !== 'string') return undefined;
    const kind = OP_KINDS[raw[0] as number];
    if (kind === undefined) return undefined;
    if (kind !== 'put') {
      ops.push({ kind, key: raw[1] });
      continue;
    }
    const [, key, encoded, run, type, expiresAt] = raw as [number, string, unknown, unknown, unknown, unknown];
    if (!(encoded instanceof Uint8Array)) return undefined;
    if ((run !== null && typeof run !== 'string') || (type !== null && typeof type !== 'string') || (expiresAt !== null && typeof expiresAt !== 'number')) return undefined;
    ops.push({
      kind,
      key,
      encoded,
      ...(run === null ? {} : { run }),
      ...(type === null ? {} : { type }),
      ...(expiresAt === null ? {} : { expiresAt }),
    });
  }
  return { version: version as number, time, ops, ...(structures === undefined ? {} : { structures }) };
}
