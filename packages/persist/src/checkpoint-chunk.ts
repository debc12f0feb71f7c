import { chunkExpiresAt, decodeValue, type CheckpointChunk, type CheckpointEntry, type StructureKeys } from '@epochdb/core';

/**
 * The payload of one checkpoint chunk, by file format (see docs/format.md).
 *
 * Format 3 is columnar and binary, so a chunk decodes with a handful of
 * native calls and no object or buffer per entry, and value bytes are copied
 * as they are (all little-endian):
 *
 *     u32 rows n, u32 flags (1: run tags, 2: type tags, 4: expiries)
 *     u32 key bytes K, then K bytes: every key's UTF-8, one after another
 *     n × u16  each key's length in UTF-16 code units
 *     n × f64  each entry's version
 *     n × u32  each value's length in bytes, then every value's bytes, one after another
 *     [runs]   a tag dictionary (u16 d, d × (u32 UTF-8 length, bytes)), then n × u16 (0: none, i: the i-th tag)
 *     [types]  the same for type tags
 *     [expiries] n × f64 (NaN: none)
 *
 * Formats 1 and 2 are a msgpack array of `[key, value bytes, version, run|null,
 * type|null, expiresAt|null]` rows; they are read, never written.
 */
export const CHUNK_RUNS = 1;
export const CHUNK_TYPES = 2;
export const CHUNK_EXPIRIES = 4;
const CHUNK_FLAGS = CHUNK_RUNS | CHUNK_TYPES | CHUNK_EXPIRIES;
const FIXED_BYTES = 12;

/**
 * Gathers the rows of one format-3 chunk, in key order, and encodes them.
 * A row's value is named by a range of a buffer it already sits in (a
 * loaded chunk's value block, a WAL record's value), so merging a checkpoint
 * copies value bytes once, into the payload.
 */
export class ChunkEncoder {
  #length = 0;
  /** Keys, tags and expiries by row; slots past {@link #length} are stale and overwritten. */
  readonly #keys: string[] = [];
  readonly #runs: (string | undefined)[] = [];
  readonly #types: (string | undefined)[] = [];
  readonly #expiries: (number | undefined)[] = [];
  #versions = new Float64Array(INITIAL_ROWS);
  #valueLengths = new Uint32Array(INITIAL_ROWS);
  /** Every row's value bytes, copied in as rows are added. */
  #values = Buffer.allocUnsafe(INITIAL_ROWS * 64);
  #valueBytes = 0;
  #flags = 0;

  /** Rows gathered since the last {@link encode}. */
  get length(): number {
    return this.#length;
  }

  /** Adds a row whose value is `source[start, end)` (copied now). */
  add(key: string, source: Uint8Array, start: number, end: number, version: number, run: string | undefined, type: string | undefined, expiresAt: number | undefined): void {
    const row = this.#length++;
    if (row === this.#versions.length) this.#growRows();
    const length = end - start;
    if (this.#valueBytes + length > this.#values.byteLength) this.#growValues(this.#valueBytes + length);
    const values = this.#values;
    const at = this.#valueBytes;
    // Small values by loop: a native copy (and the view it needs) costs more than the bytes.
    if (length <= SMALL_COPY_BYTES) for (let b = 0; b < length; b++) values[at + b] = source[start + b]!;
    else values.set(source.subarray(start, end), at);
    this.#valueBytes = at + length;
    this.#keys[row] = key;
    this.#versions[row] = version;
    this.#valueLengths[row] = length;
    this.#runs[row] = run;
    this.#types[row] = type;
    this.#expiries[row] = expiresAt;
    if (run !== undefined) this.#flags |= CHUNK_RUNS;
    if (type !== undefined) this.#flags |= CHUNK_TYPES;
    if (expiresAt !== undefined) this.#flags |= CHUNK_EXPIRIES;
  }

  addEntry(entry: CheckpointEntry): void {
    this.add(entry.key, entry.encoded, 0, entry.encoded.byteLength, entry.version, entry.run, entry.type, entry.expiresAt);
  }

  /** The payload of the rows gathered so far; starts a new chunk. */
  encode(): Buffer {
    const n = this.#length;
    const flags = this.#flags;
    const keys = this.#keys;
    if (keys.length > n) keys.length = n;
    const keyText = keys.join('');
    const keyBytes = Buffer.byteLength(keyText, 'utf8');
    const runs = flags & CHUNK_RUNS ? dictionaryOf(this.#runs, n) : undefined;
    const types = flags & CHUNK_TYPES ? dictionaryOf(this.#types, n) : undefined;
    const size =
      FIXED_BYTES + keyBytes + n * (2 + 8 + 4) + this.#valueBytes + (runs === undefined ? 0 : runs.bytes + 2 * n) + (types === undefined ? 0 : types.bytes + 2 * n) + (flags & CHUNK_EXPIRIES ? 8 * n : 0);
    const out = Buffer.allocUnsafe(size);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    view.setUint32(0, n, true);
    view.setUint32(4, flags, true);
    view.setUint32(8, keyBytes, true);
    let at = FIXED_BYTES;
    at += out.write(keyText, at, 'utf8');
    for (let i = 0; i < n; i++, at += 2) view.setUint16(at, keys[i]!.length, true);
    const versions = this.#versions;
    for (let i = 0; i < n; i++, at += 8) view.setFloat64(at, versions[i]!, true);
    const valueLengths = this.#valueLengths;
    for (let i = 0; i < n; i++, at += 4) view.setUint32(at, valueLengths[i]!, true);
    at += this.#values.copy(out, at, 0, this.#valueBytes);
    for (const [dictionary, tags] of [[runs, this.#runs], [types, this.#types]] as const) {
      if (dictionary === undefined) continue;
      at = dictionary.write(out, view, at);
      for (let i = 0; i < n; i++, at += 2) {
        const tag = tags[i];
        view.setUint16(at, tag === undefined ? 0 : dictionary.index.get(tag)!, true);
      }
    }
    if (flags & CHUNK_EXPIRIES) {
      const expiries = this.#expiries;
      for (let i = 0; i < n; i++, at += 8) view.setFloat64(at, expiries[i] ?? Number.NaN, true);
    }
    if (at !== size) throw new Error(`ChunkEncoder: wrote ${at} bytes, sized ${size}`);
    this.#length = 0;
    this.#valueBytes = 0;
    this.#flags = 0;
    return out;
  }

  #growRows(): void {
    const versions = new Float64Array(this.#versions.length * 2);
    versions.set(this.#versions);
    this.#versions = versions;
    const lengths = new Uint32Array(this.#valueLengths.length * 2);
    lengths.set(this.#valueLengths);
    this.#valueLengths = lengths;
  }

  #growValues(needed: number): void {
    const values = Buffer.allocUnsafe(Math.max(needed, this.#values.byteLength * 2));
    this.#values.copy(values, 0, 0, this.#valueBytes);
    this.#values = values;
  }
}

/** Rows a chunk encoder makes room for at first (a checkpoint's chunks hold 2048). */
const INITIAL_ROWS = 2048;

/** Values up to this many bytes are copied by a loop. */
const SMALL_COPY_BYTES = 128;

/** Encodes entries (in key order) as a format-3 chunk payload. */
export function encodeChunk(rows: readonly CheckpointEntry[]): Buffer {
  const encoder = new ChunkEncoder();
  for (const row of rows) encoder.addEntry(row);
  return encoder.encode();
}

/** The distinct tags of a chunk's rows, numbered from 1. */
function dictionaryOf(tags: readonly (string | undefined)[], n: number): { index: Map<string, number>; bytes: number; write(out: Buffer, view: DataView, at: number): number } {
  const index = new Map<string, number>();
  let bytes = 2;
  for (let i = 0; i < n; i++) {
    const tag = tags[i];
    if (tag === undefined || index.has(tag)) continue;
    index.set(tag, index.size + 1);
    bytes += 4 + Buffer.byteLength(tag, 'utf8');
  }
  // Rows name tags with a u16: a chunk holds far fewer rows than that.
  if (index.size > 0xffff) throw new Error(`ChunkEncoder: ${index.size} distinct tags in one chunk`);
  return {
    index,
    bytes,
    write(out, view, at) {
      view.setUint16(at, index.size, true);
      at += 2;
      for (const tag of index.keys()) {
        const length = out.write(tag, at + 4, 'utf8');
        view.setUint32(at, length, true);
        at += 4 + length;
      }
      return at;
    },
  };
}

/** The number of rows a chunk payload of `format` says it holds, or `undefined` if it cannot say. */
export function chunkRowCount(payload: Buffer, format: number): number | undefined {
  if (format >= 3) return payload.byteLength >= FIXED_BYTES ? payload.readUInt32LE(0) : undefined;
  return arrayLength(payload);
}

/** Decodes a chunk payload of `format` into columns, or `undefined` if it is not a well-formed chunk. */
export function decodeChunk(payload: Buffer, format: number): CheckpointChunk | undefined {
  if (format >= 3) return decodeBinaryChunk(payload);
  const rows = decodeMsgpackChunk(payload);
  return rows === undefined ? undefined : columnsOf(rows);
}

/** The rows of a decoded chunk as entries (a buffer view per value). */
export function entriesOf(chunk: CheckpointChunk): CheckpointEntry[] {
  const entries: CheckpointEntry[] = new Array(chunk.length);
  const { keys, versions, bytes, valueStarts, runs, types } = chunk;
  for (let i = 0; i < chunk.length; i++) {
    const run = runs?.[i];
    const type = types?.[i];
    const expiry = chunkExpiresAt(chunk, i);
    entries[i] = {
      key: keys[i]!,
      encoded: bytes.subarray(valueStarts[i], valueStarts[i + 1]),
      version: versions[i]!,
      ...(run === undefined ? {} : { run }),
      ...(type === undefined ? {} : { type }),
      ...(expiry === undefined ? {} : { expiresAt: expiry }),
    };
  }
  return entries;
}

function decodeBinaryChunk(payload: Buffer): CheckpointChunk | undefined {
  const size = payload.byteLength;
  if (size < FIXED_BYTES) return undefined;
  const view = new DataView(payload.buffer, payload.byteOffset, size);
  const n = view.getUint32(0, true);
  const flags = view.getUint32(4, true);
  const keyBytes = view.getUint32(8, true);
  if ((flags & ~CHUNK_FLAGS) !== 0) return undefined;
  let at = FIXED_BYTES;
  // Every row takes at least 14 bytes: a count past that cannot be real (and must not size an allocation).
  if (keyBytes > size - at || n * 14 > size - at - keyBytes) return undefined;
  const keyStart = at;
  const keyText = payload.toString('utf8', at, at + keyBytes);
  at += keyBytes;
  // All ASCII (as many characters as bytes): each key is read on its own, a flat string. A slice of
  // the block would be a V8 sliced string, every later comparison and hash going through its parent.
  const ascii = keyText.length === keyBytes;
  const keys: string[] = new Array(n);
  let char = 0;
  for (let i = 0; i < n; i++, at += 2) {
    const length = view.getUint16(at, true);
    if (char + length > keyText.length) return undefined;
    keys[i] = ascii ? payload.toString('latin1', keyStart + char, keyStart + char + length) : keyText.slice(char, char + length);
    char += length;
  }
  // The lengths must account for the key text exactly (a damaged length or a key block cut short would shift every key).
  if (char !== keyText.length) return undefined;
  const versions = new Float64Array(n);
  for (let i = 0; i < n; i++, at += 8) {
    const version = view.getFloat64(at, true);
    if (!Number.isSafeInteger(version) || version < 1) return undefined;
    versions[i] = version;
  }
  if (at + 4 * n > size) return undefined;
  const valueStarts = new Float64Array(n + 1);
  let total = 0;
  for (let i = 0; i < n; i++, at += 4) {
    valueStarts[i] = total;
    total += view.getUint32(at, true);
  }
  valueStarts[n] = total;
  if (total > size - at) return undefined;
  const bytes = payload.subarray(at, at + total);
  at += total;
  let runs: (string | undefined)[] | undefined;
  let types: (string | undefined)[] | undefined;
  for (const flag of [CHUNK_RUNS, CHUNK_TYPES]) {
    if ((flags & flag) === 0) continue;
    const read = readTags(payload, view, at, n);
    if (read === undefined) return undefined;
    at = read.at;
    if (flag === CHUNK_RUNS) runs = read.tags;
    else types = read.tags;
  }
  let expiresAt: Float64Array | undefined;
  if (flags & CHUNK_EXPIRIES) {
    if (at + 8 * n > size) return undefined;
    expiresAt = new Float64Array(n);
    for (let i = 0; i < n; i++, at += 8) expiresAt[i] = view.getFloat64(at, true);
  }
  if (at !== size) return undefined;
  return { length: n, keys, versions, bytes, valueStarts, runs, types, expiresAt };
}

/** A chunk's tag dictionary and each row's tag. */
function readTags(payload: Buffer, view: DataView, at: number, n: number): { tags: (string | undefined)[]; at: number } | undefined {
  const size = payload.byteLength;
  if (at + 2 > size) return undefined;
  const count = view.getUint16(at, true);
  at += 2;
  const dictionary: string[] = [];
  for (let k = 0; k < count; k++) {
    if (at + 4 > size) return undefined;
    const length = view.getUint32(at, true);
    at += 4;
    if (length === 0 || length > size - at) return undefined;
    dictionary.push(payload.toString('utf8', at, at + length));
    at += length;
  }
  if (at + 2 * n > size) return undefined;
  const tags: (string | undefined)[] = new Array(n);
  for (let i = 0; i < n; i++, at += 2) {
    const index = view.getUint16(at, true);
    if (index > count) return undefined;
    tags[i] = index === 0 ? undefined : dictionary[index - 1];
  }
  return { tags, at };
}

/** Old-format rows as columns (their value bytes copied into one block). */
function columnsOf(rows: readonly CheckpointEntry[]): CheckpointChunk {
  const n = rows.length;
  const valueStarts = new Float64Array(n + 1);
  let total = 0;
  for (let i = 0; i < n; i++) {
    valueStarts[i] = total;
    total += rows[i]!.encoded.byteLength;
  }
  valueStarts[n] = total;
  const bytes = new Uint8Array(total);
  for (let i = 0; i < n; i++) bytes.set(rows[i]!.encoded, valueStarts[i]);
  const anyRun = rows.some((row) => row.run !== undefined);
  const anyType = rows.some((row) => row.type !== undefined);
  const anyExpiry = rows.some((row) => row.expiresAt !== undefined);
  return {
    length: n,
    keys: rows.map((row) => row.key),
    versions: Float64Array.from(rows, (row) => row.version),
    bytes,
    valueStarts,
    runs: anyRun ? rows.map((row) => row.run) : undefined,
    types: anyType ? rows.map((row) => row.type) : undefined,
    expiresAt: anyExpiry ? Float64Array.from(rows, (row) => row.expiresAt ?? Number.NaN) : undefined,
  };
}

/** The length of the msgpack array `payload` starts with, or `undefined` if it does not start with one. */
function arrayLength(payload: Buffer): number | undefined {
  const first = payload[0];
  if (first === undefined) return undefined;
  if (first >= 0x90 && first <= 0x9f) return first - 0x90;
  if (first === 0xdc && payload.byteLength >= 3) return payload.readUInt16BE(1);
  if (first === 0xdd && payload.byteLength >= 5) return payload.readUInt32BE(1);
  return undefined;
}

/** The msgpack array `payload` holds, or `undefined` if it does not decode to one. */
function decodeArray(payload: Buffer): unknown[] | undefined {
  try {
    const decoded = decodeValue(payload);
    return Array.isArray(decoded) ? decoded : undefined;
  } catch {
    return undefined;
  }
}

/** The shared structure table of a format-2 (or later) checkpoint, or `undefined` if the frame does not hold one. */
export function decodeTable(payload: Buffer): StructureKeys[] | undefined {
  const table = decodeArray(payload);
  if (table === undefined || !table.every((keys) => Array.isArray(keys) && keys.every((k) => typeof k === 'string'))) return undefined;
  return table as string[][];
}

/** A format-1/2 chunk's rows, or `undefined` if it does not decode to rows. */
function decodeMsgpackChunk(payload: Buffer): CheckpointEntry[] | undefined {
  const rows = decodeArray(payload);
  if (rows === undefined) return undefined;
  const entries: CheckpointEntry[] = [];
  for (const row of rows as unknown[]) {
    if (!Array.isArray(row) || row.length !== 6) return undefined;
    const [key, encoded, version, run, type, expiresAt] = row as unknown[];
    if (typeof key !== 'string' || !(encoded instanceof Uint8Array) || !Number.isSafeInteger(version) || (version as number) < 1) return undefined;
    if ((run !== null && typeof run !== 'string') || (type !== null && typeof type !== 'string') || (expiresAt !== null && typeof expiresAt !== 'number')) return undefined;
    entries.push({
      key,
      encoded,
      version: version as number,
      ...(run === null ? {} : { run: run as string }),
      ...(type === null ? {} : { type: type as string }),
      ...(expiresAt === null ? {} : { expiresAt: expiresAt as number }),
    });
  }
  return entries;
}
