import type { CommitRecord } from '@epochdb/core';
import { checksum } from './checksum.js';
import { encodeFrame, FRAME_HEADER_BYTES } from './wal-format.js';

/** The first buffer of a batch; it grows by doubling and starts the next batch at the size the last one needed. */
const INITIAL_BYTES = 64 * 1024;

/** msgpack's typed-array extension as msgpackr writes a `Uint8Array` (`moreTypes`): ext type `t`, then array type 1. */
const EXT_TYPED_ARRAY = 0x74;
const UINT8_ARRAY = 1;
/** Payloads up to this size are checksummed in JavaScript: for a small frame a call into the native CRC costs more than the loop. */
const SMALL_PAYLOAD_BYTES = 512;

/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) lookup tables for
 * slicing-by-8: `CRC32C_TABLES[k * 256 + b]` is the CRC of byte `b`
 * followed by `k` zero bytes, so eight bytes go through eight independent
 * lookups instead of a chain of eight.
 */
const CRC32C_TABLES = (() => {
  const tables = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    tables[n] = c;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const previous = tables[(k - 1) * 256 + n]!;
      tables[k * 256 + n] = tables[previous & 0xff]! ^ (previous >>> 8);
    }
  }
  return tables;
})();

/** CRC-32C of `bytes[start, end)`, the same value as {@link checksum}. */
function crc32cSmall(bytes: Uint8Array, start: number, end: number): number {
  const t = CRC32C_TABLES;
  let crc = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const low = crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    crc =
      t[0x700 + (low & 0xff)]! ^
      t[0x600 + ((low >>> 8) & 0xff)]! ^
      t[0x500 + ((low >>> 16) & 0xff)]! ^
      t[0x400 + (low >>> 24)]! ^
      t[0x300 + bytes[i + 4]!]! ^
      t[0x200 + bytes[i + 5]!]! ^
      t[0x100 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < end; i++) crc = t[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** Under `useRecords`, msgpackr writes positive fixints only below 0x40 (0x40-0x7f name record structures). */
const FIXINT_LIMIT = 0x40;

/**
 * The WAL frames of one group commit, appended into one buffer as the
 * commits happen: byte for byte what {@link encodeFrame} makes for each
 * record (a test holds the two equal on random records), without its
 * per-record arrays, payload buffer, frame buffer and final concatenation.
 * Records of a shape the direct encoder does not cover (a negative
 * integer, a key or tag that is not a string, a value that is neither a
 * `Buffer` nor a plain `Uint8Array`, a record carrying structures) go through
 * {@link encodeFrame} and are copied in.
 */
export class FrameBatch {
  #buffer: Buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  #length = 0;
  /** A buffer handed back by {@link FrameBatch.recycle}, for the next {@link FrameBatch.take}. */
  #spare: Buffer | undefined;
  #view: DataView = new DataView(this.#buffer.buffer, this.#buffer.byteOffset, this.#buffer.byteLength);

  /** Bytes of frames appended since the last {@link FrameBatch.take}. */
  get length(): number {
    return this.#length;
  }

  /**
   * Appends `record` as one frame and returns its size in bytes. Throws
   * only what {@link encodeFrame} throws (a record that cannot be encoded),
   * leaving the batch as it was.
   */
  append(record: CommitRecord): number {
    const start = this.#length;
    if (this.#direct(record)) return this.#length - start;
    this.#length = start;
    const frame = encodeFrame(record);
    this.#reserve(frame.byteLength);
    this.#buffer.set(frame, this.#length);
    this.#length += frame.byteLength;
    return frame.byteLength;
  }

  /** The frames appended so far, as one buffer the batch no longer writes to (until {@link FrameBatch.recycle}); the next frames start a new buffer. */
  take(): Buffer {
    const data = this.#buffer.subarray(0, this.#length);
    const spare = this.#spare;
    this.#spare = undefined;
    this.#use(spare !== undefined && spare.byteLength >= this.#length ? spare : Buffer.allocUnsafe(Math.max(INITIAL_BYTES, this.#length)));
    this.#length = 0;
    return data;
  }

  /**
   * Hands back a buffer {@link FrameBatch.take} returned, once nothing reads
   * it any more (its write has completed): the next batch reuses it instead
   * of allocating, so a steady stream of small groups allocates nothing.
   */
  recycle(data: Buffer): void {
    if (data.byteOffset !== 0 || data.buffer.byteLength < INITIAL_BYTES || data.buffer === this.#buffer.buffer) return;
    if (this.#spare === undefined || this.#spare.byteLength < data.buffer.byteLength) this.#spare = Buffer.from(data.buffer as ArrayBuffer);
  }

  #use(buffer: Buffer): void {
    this.#buffer = buffer;
    this.#view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  /** Encodes `record` at the end; false (with garbage past `#length`'s old value) when its shape needs {@link encodeFrame}. */
  #direct(record: CommitRecord): boolean {
    // A record that carries structures has a longer payload ({@link encodeFrame} writes it); fields
    // neither encoder knows are ignored by both. (No `Object.keys` here: an array per commit.)
    if (record.structures !== undefined) return false;
    const ops = record.ops;
    // An upper bound of the frame's size, so the writes below need no checks.
    let bound = FRAME_HEADER_BYTES + 1 + 9 + 9 + 5;
    for (const op of ops) {
      if (typeof op.key !== 'string') return false;
      bound += 2 + 5 + op.key.length * 3;
      if (op.kind !== 'put') continue;
      if (!(op.encoded instanceof Uint8Array) || !stringOrAbsent(op.run) || !stringOrAbsent(op.type)) return false;
      bound += 6 + op.encoded.byteLength + 5 + (op.run?.length ?? 0) * 3 + 5 + (op.type?.length ?? 0) * 3 + 9;
    }
    this.#reserve(bound);
    const frameStart = this.#length;
    this.#length += FRAME_HEADER_BYTES;
    this.#buffer[this.#length++] = 0x93;
    if (!this.#number(record.version) || !this.#number(record.time)) return false;
    this.#arrayHeader(ops.length);
    for (const op of ops) {
      if (op.kind === 'put') {
        this.#buffer[this.#length++] = 0x96;
        this.#buffer[this.#length++] = 0;
        if (!this.#string(op.key) || !this.#bytes(op.encoded)) return false;
        if (!this.#optionalString(op.run) || !this.#optionalString(op.type)) return false;
        if (op.expiresAt === undefined || op.expiresAt === null) this.#buffer[this.#length++] = 0xc0;
        else if (!this.#number(op.expiresAt)) return false;
      } else {
        this.#buffer[this.#length++] = 0x92;
        this.#buffer[this.#length++] = op.kind === 'delete' ? 1 : op.kind === 'expire' ? 2 : 0xff;
        if (this.#buffer[this.#length - 1] === 0xff || !this.#string(op.key)) return false;
      }
    }
    const payloadStart = frameStart + FRAME_HEADER_BYTES;
    const payloadBytes = this.#length - payloadStart;
    this.#buffer.writeUInt32LE(payloadBytes, frameStart);
    const crc = payloadBytes <= SMALL_PAYLOAD_BYTES ? crc32cSmall(this.#buffer, payloadStart, this.#length) : checksum(this.#buffer.subarray(payloadStart, this.#length));
    this.#buffer.writeUInt32LE(crc, frameStart + 4);
    return true;
  }

  #reserve(bytes: number): void {
    if (this.#length + bytes <= this.#buffer.byteLength) return;
    let size = this.#buffer.byteLength * 2;
    while (size < this.#length + bytes) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.#buffer.copy(grown, 0, 0, this.#length);
    this.#use(grown);
  }

  /** A number as msgpackr writes it (uint or float64); false for a negative integer. */
  #number(value: unknown): boolean {
    if (typeof value !== 'number') return false;
    const b = this.#buffer;
    if (value >>> 0 === value) {
      if (value < FIXINT_LIMIT) b[this.#length++] = value;
      else if (value < 0x100) {
        b[this.#length++] = 0xcc;
        b[this.#length++] = value;
      } else if (value < 0x10000) {
        b[this.#length++] = 0xcd;
        b.writeUInt16BE(value, this.#length);
        this.#length += 2;
      } else {
        b[this.#length++] = 0xce;
        b.writeUInt32BE(value, this.#length);
        this.#length += 4;
      }
      return true;
    }
    if (value >> 0 === value) return false;
    b[this.#length++] = 0xcb;
    this.#view.setFloat64(this.#length, value);
    this.#length += 8;
    return true;
  }

  #arrayHeader(length: number): void {
    const b = this.#buffer;
    if (length < 16) b[this.#length++] = 0x90 | length;
    else if (length < 0x10000) {
      b[this.#length++] = 0xdc;
      b.writeUInt16BE(length, this.#length);
      this.#length += 2;
    } else {
      b[this.#length++] = 0xdd;
      b.writeUInt32BE(length, this.#length);
      this.#length += 4;
    }
  }

  #optionalString(value: unknown): boolean {
    if (value === undefined || value === null) {
      this.#buffer[this.#length++] = 0xc0;
      return true;
    }
    return typeof value === 'string' && this.#string(value);
  }

  /** A msgpack str with the smallest header for its UTF-8 length (as msgpackr writes it); false for a lone surrogate (msgpackr keeps it, UTF-8 cannot). */
  #string(value: string): boolean {
    const b = this.#buffer;
    const at = this.#length;
    if (value.length < 0x20) {
      // Short ASCII (most keys): written byte by byte, cheaper than a call into the UTF-8 encoder.
      let i = 0;
      for (; i < value.length; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        b[at + 1 + i] = c;
      }
      if (i === value.length) {
        b[at] = 0xa0 | i;
        this.#length = at + 1 + i;
        return true;
      }
    }
    if (!value.isWellFormed()) return false;
    const headerFor = (bytes: number): number => (bytes < 0x20 ? 1 : bytes < 0x100 ? 2 : bytes < 0x10000 ? 3 : 5);
    // Written after the largest header it could need, then moved back if the real one is smaller.
    const guess = headerFor(value.length * 3);
    const bytes = b.write(value, at + guess, 'utf8');
    const header = headerFor(bytes);
    if (header !== guess) b.copyWithin(at + header, at + guess, at + guess + bytes);
    if (header === 1) b[at] = 0xa0 | bytes;
    else if (header === 2) {
      b[at] = 0xd9;
      b[at + 1] = bytes;
    } else if (header === 3) {
      b[at] = 0xda;
      b.writeUInt16BE(bytes, at + 1);
    } else {
      b[at] = 0xdb;
      b.writeUInt32BE(bytes, at + 1);
    }
    this.#length = at + header + bytes;
    return true;
  }

  /** A value's bytes: `bin` for a `Buffer`, the typed-array extension for a plain `Uint8Array` (as msgpackr writes them). */
  #bytes(value: Uint8Array): boolean {
    const b = this.#buffer;
    const n = value.byteLength;
    if (Buffer.isBuffer(value)) {
      if (n < 0x100) {
        b[this.#length++] = 0xc4;
        b[this.#length++] = n;
      } else if (n < 0x10000) {
        b[this.#length++] = 0xc5;
        b.writeUInt16BE(n, this.#length);
        this.#length += 2;
      } else {
        b[this.#length++] = 0xc6;
        b.writeUInt32BE(n, this.#length);
        this.#length += 4;
      }
    } else if (value.constructor === Uint8Array) {
      if (n + 1 < 0x100) {
        b[this.#length++] = 0xc7;
        b[this.#length++] = n + 1;
      } else if (n + 1 < 0x10000) {
        b[this.#length++] = 0xc8;
        b.writeUInt16BE(n + 1, this.#length);
        this.#length += 2;
      } else {
        b[this.#length++] = 0xc9;
        b.writeUInt32BE(n + 1, this.#length);
        this.#length += 4;
      }
      b[this.#length++] = EXT_TYPED_ARRAY;
      b[this.#length++] = UINT8_ARRAY;
    } else {
      return false;
    }
    b.set(value, this.#length);
    this.#length += n;
    return true;
  }
}

function stringOrAbsent(value: unknown): boolean {
  return value === undefined || value === null || typeof value === 'string';
}
