import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { basename } from 'node:path';
import { CorruptionError, UnsupportedFormatError, encodeValue, type CheckpointChunk, type CheckpointEntry, type ChunkedEntries, type StructureKeys, type Version } from '@epochdb/core';
import { ChunkEncoder, chunkRowCount, decodeChunk, decodeTable, entriesOf } from './checkpoint-chunk.js';
import { checksum } from './checksum.js';
import { temporaryPath } from './directory-layout.js';
import type { FileHandle, FileSystem } from './file-system.js';

/**
 * Checkpoint file layout (see docs/format.md):
 *   header 24 bytes: magic "EPDBCKP\0", u32 format version, u64 version,
 *                    u32 CRC-32C of the first 20 bytes
 *   structures (format 2) [u32 payload length][u32 CRC-32C][payload = msgpack array of
 *          the shared structure table: each structure an array of field names, by id]
 *   chunks [u32 payload length][u32 CRC-32C of payload][payload]; format 3: a binary,
 *          columnar chunk (see checkpoint-chunk.ts), formats 1-2: a msgpack array of
 *          entries [key, encoded value, version, run|null, type|null, expiresAt|null]
 *   footer 32 bytes: magic "EPDBEND\0", u64 entry count, u64 version, u32 chunk count,
 *                    u32 CRC-32C of the first 28 footer bytes
 */
export const CHECKPOINT_MAGIC = Buffer.from('EPDBCKP\0', 'latin1');
export const CHECKPOINT_END_MAGIC = Buffer.from('EPDBEND\0', 'latin1');
export const CHECKPOINT_FORMAT_VERSION = 3;
/** Format 1 had no structure table (its values are self-describing); formats 1 and 2 held msgpack chunks. */
const READABLE_CHECKPOINT_FORMATS: readonly number[] = [1, 2, 3];
const HEADER_BYTES = 24;
const FOOTER_BYTES = 32;
const CHUNK_HEADER_BYTES = 8;
/** Entries per chunk: big enough to amortize framing, small enough to stream. */
const CHUNK_ENTRIES = 2048;

/** What {@link writeCheckpoint} wrote. */
export interface CheckpointWritten {
  readonly path: string;
  readonly version: Version;
  readonly entries: number;
  readonly bytes: number;
}

/**
 * Writes a checkpoint at `version` row by row (in key order), a chunk at a
 * time: to a temporary name of its own (`<name>.<random>.tmp`), then
 * fdatasync'ed, renamed into place and the directory fsync'ed by
 * {@link finish}, so the file is either complete or absent. A plain class over
 * files, so it can run on a worker thread.
 */
export class CheckpointWriter {
  readonly #fs: FileSystem;
  readonly #path: string;
  readonly #temporary: string;
  readonly #dir: string;
  readonly #version: Version;
  readonly #handle: FileHandle;
  readonly #chunk = new ChunkEncoder();
  #position = 0;
  #count = 0;
  #chunks = 0;
  #previous: string | undefined;

  private constructor(fs: FileSystem, path: string, temporary: string, dir: string, version: Version, handle: FileHandle) {
    this.#fs = fs;
    this.#path = path;
    this.#temporary = temporary;
    this.#dir = dir;
    this.#version = version;
    this.#handle = handle;
  }

  /** Starts the checkpoint at `version`: its header and structure table are written. */
  static async create(fs: FileSystem, path: string, version: Version, dir: string, structures: readonly StructureKeys[]): Promise<CheckpointWriter> {
    // A name of its own per attempt: a worker that died mid-write leaves its file behind, and
    // the retry must neither share nor truncate it (it is removed once no build runs).
    const temporary = temporaryPath(path);
    const handle = await fs.open(temporary, 'w');
    const writer = new CheckpointWriter(fs, path, temporary, dir, version, handle);
    try {
      const header = Buffer.alloc(HEADER_BYTES);
      CHECKPOINT_MAGIC.copy(header, 0);
      header.writeUInt32LE(CHECKPOINT_FORMAT_VERSION, 8);
      header.writeBigUInt64LE(BigInt(version), 12);
      header.writeUInt32LE(checksum(header.subarray(0, 20)), 20);
      await writer.#write(header);
      await writer.#write(frameOf(encodeValue(structures)));
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return writer;
  }

  /**
   * Adds a row whose value bytes are `source[start, end)`; resolves at once
   * unless a full chunk is written (then await it). Rows must come in
   * strictly ascending key order (a checkpoint's; loading builds its tree
   * bottom-up from that order): anything else throws.
   */
  add(key: string, source: Uint8Array, start: number, end: number, version: Version, run: string | undefined, type: string | undefined, expiresAt: number | undefined): Promise<void> | undefined {
    if (this.#previous !== undefined && !(key > this.#previous)) throw new Error(`checkpoint rows must be in ascending key order: ${JSON.stringify(key)} after ${JSON.stringify(this.#previous)}`);
    this.#previous = key;
    this.#chunk.add(key, source, start, end, version, run, type, expiresAt);
    this.#count++;
    return this.#chunk.length >= CHUNK_ENTRIES ? this.#flush() : undefined;
  }

  addEntry(entry: CheckpointEntry): Promise<void> | undefined {
    return this.add(entry.key, entry.encoded, 0, entry.encoded.byteLength, entry.version, entry.run, entry.type, entry.expiresAt);
  }

  /** Writes the last chunk and the footer, syncs, and renames the file into place. */
  async finish(): Promise<CheckpointWritten> {
    try {
      if (this.#chunk.length > 0) await this.#flush();
      const footer = Buffer.alloc(FOOTER_BYTES);
      CHECKPOINT_END_MAGIC.copy(footer, 0);
      footer.writeBigUInt64LE(BigInt(this.#count), 8);
      footer.writeBigUInt64LE(BigInt(this.#version), 16);
      footer.writeUInt32LE(this.#chunks, 24);
      footer.writeUInt32LE(checksum(footer.subarray(0, 28)), 28);
      await this.#write(footer);
      await this.#handle.datasync();
    } catch (error) {
      await this.abort();
      throw error;
    }
    await this.#handle.close();
    await this.#fs.rename(this.#temporary, this.#path);
    await this.#fs.syncDir(this.#dir);
    return { path: this.#path, version: this.#version, entries: this.#count, bytes: this.#position };
  }

  /** Gives the checkpoint up: the temporary file is removed. */
  async abort(): Promise<void> {
    await this.#handle.close().catch(() => undefined);
    await this.#fs.unlink(this.#temporary).catch(() => undefined);
  }

  async #flush(): Promise<void> {
    await this.#write(frameOf(this.#chunk.encode()));
    this.#chunks++;
    await yieldToEventLoop();
  }

  async #write(bytes: Buffer): Promise<void> {
    await this.#handle.write(bytes, this.#position);
    this.#position += bytes.byteLength;
  }
}

/**
 * Writes every entry (in key order) as the checkpoint at `version` (see
 * {@link CheckpointWriter}): the file is either complete or absent. Yields to
 * the event loop between chunks.
 */
export async function writeCheckpoint(
  fs: FileSystem,
  path: string,
  version: Version,
  entries: Iterable<CheckpointEntry> | AsyncIterable<CheckpointEntry>,
  dir: string,
  structures: readonly StructureKeys[],
): Promise<CheckpointWritten> {
  const writer = await CheckpointWriter.create(fs, path, version, dir, structures);
  try {
    if (Symbol.iterator in entries) {
      // A synchronous source (a snapshot): no microtask per entry, a yield per chunk.
      for (const e of entries) {
        const flushing = writer.addEntry(e);
        if (flushing !== undefined) await flushing;
      }
    } else {
      for await (const e of entries) {
        const flushing = writer.addEntry(e);
        if (flushing !== undefined) await flushing;
      }
    }
  } catch (error) {
    await writer.abort();
    throw error;
  }
  return writer.finish();
}

/** A checkpoint read back and verified. */
export interface CheckpointContents {
  readonly version: Version;
  readonly entries: CheckpointEntry[];
  readonly bytes: number;
  /** The shared structure table the values are encoded with (empty for format 1). */
  readonly structures: StructureKeys[];
}

/**
 * A checkpoint whose chunks passed their checksums, held as the file's raw
 * chunk bytes and decoded into entries only as they are iterated: a reopen
 * holds the file's bytes (off the V8 heap), never an object per entry.
 * Iterating throws {@link CorruptionError} for a chunk that passed its
 * checksum but does not decode, or a count that disagrees with the footer.
 */
export interface CheckpointEntries extends ChunkedEntries {
  /** Entries the footer counts (every chunk's checksum was verified). */
  readonly length: number;
}

/** What a checkpoint's header and footer say, once verified. */
interface CheckpointFrame {
  version: Version;
  size: number;
  footerAt: number;
  expectedEntries: number;
  expectedChunks: number;
  /** The shared structure table (empty for format 1). */
  structures: StructureKeys[];
  /** The file's format version. */
  format: number;
}

/**
 * The one reader of checkpoint files: verifies the header and footer (filling
 * `frame`), then yields each chunk's payload once its checksum is verified.
 * Reads piece by piece (header, footer, then one chunk at a time): a
 * checkpoint may be larger than any single buffer Node can read (2 GiB).
 */
async function* verifiedChunks(fs: FileSystem, path: string, frame: CheckpointFrame, damaged: (message: string, offset: number) => CorruptionError, onProgress?: (bytesDone: number, bytesTotal: number) => void): AsyncGenerator<{ offset: number; payload: Buffer }> {
  const file = basename(path);
  const handle = await fs.open(path, 'r');
  try {
    const size = await handle.size();
    if (size < HEADER_BYTES + FOOTER_BYTES) throw damaged(`is too short (${size} bytes)`, 0);
    const header = await handle.read(0, HEADER_BYTES);
    if (!header.subarray(0, 8).equals(CHECKPOINT_MAGIC)) throw damaged('has no EpochDB checkpoint header', 0);
    if (header.readUInt32LE(20) !== checksum(header.subarray(0, 20))) throw damaged('header checksum mismatch', 0);
    const format = header.readUInt32LE(8);
    if (!READABLE_CHECKPOINT_FORMATS.includes(format)) {
      throw new UnsupportedFormatError(`checkpoint ${file} has format version ${format}; this EpochDB reads version ${CHECKPOINT_FORMAT_VERSION}`);
    }
    const version = Number(header.readBigUInt64LE(12));
    const footerAt = size - FOOTER_BYTES;
    const footer = await handle.read(footerAt, FOOTER_BYTES);
    if (!footer.subarray(0, 8).equals(CHECKPOINT_END_MAGIC) || footer.readUInt32LE(28) !== checksum(footer.subarray(0, 28))) {
      throw damaged('footer is missing or damaged (incomplete file?)', footerAt);
    }
    if (Number(footer.readBigUInt64LE(16)) !== version) throw damaged('footer version differs from header version', footerAt);
    Object.assign(frame, { version, size, footerAt, expectedEntries: Number(footer.readBigUInt64LE(8)), expectedChunks: footer.readUInt32LE(24), structures: [], format });
    let offset = HEADER_BYTES;
    if (format >= 2) {
      // The structure table's frame comes first: every value of the checkpoint may name its ids.
      if (offset + CHUNK_HEADER_BYTES > footerAt) throw damaged('structure table header runs into the footer', offset);
      const tableHeader = await handle.read(offset, CHUNK_HEADER_BYTES);
      const length = tableHeader.readUInt32LE(0);
      const end = offset + CHUNK_HEADER_BYTES + length;
      if (end > footerAt) throw damaged(`structure table of ${length} bytes runs into the footer`, offset);
      const payload = await handle.read(offset + CHUNK_HEADER_BYTES, length);
      if (payload.byteLength !== length || checksum(payload) !== tableHeader.readUInt32LE(4)) throw damaged('structure table checksum mismatch', offset);
      const table = decodeTable(payload);
      if (table === undefined) throw damaged('structure table does not decode to lists of field names', offset);
      frame.structures = table;
      offset = end;
    }
    while (offset < footerAt) {
      if (offset + CHUNK_HEADER_BYTES > footerAt) throw damaged('chunk header runs into the footer', offset);
      const chunkHeader = await handle.read(offset, CHUNK_HEADER_BYTES);
      const length = chunkHeader.readUInt32LE(0);
      const end = offset + CHUNK_HEADER_BYTES + length;
      if (end > footerAt) throw damaged(`chunk of ${length} bytes runs into the footer`, offset);
      const payload = await handle.read(offset + CHUNK_HEADER_BYTES, length);
      if (payload.byteLength !== length || checksum(payload) !== chunkHeader.readUInt32LE(4)) throw damaged('chunk checksum mismatch', offset);
      yield { offset, payload };
      offset = end;
      onProgress?.(offset, size);
    }
  } finally {
    await handle.close();
  }
}

/** A frame to be filled by {@link verifiedChunks}. */
function emptyFrame(): CheckpointFrame {
  return { version: 0, size: 0, footerAt: 0, expectedEntries: 0, expectedChunks: 0, structures: [], format: 0 };
}

/**
 * Reads every chunk of a checkpoint (checksums verified), counts its rows
 * from the chunk's own header without decoding them, and checks the chunk
 * and row counts against the footer; `keep` sees each verified chunk.
 * Returns the row count.
 */
async function countVerifiedChunks(
  fs: FileSystem,
  path: string,
  frame: CheckpointFrame,
  damaged: (message: string, offset: number) => CorruptionError,
  onProgress?: (bytesDone: number, bytesTotal: number) => void,
  keep?: (chunk: { offset: number; payload: Buffer }) => void,
): Promise<number> {
  let rows = 0;
  let chunks = 0;
  for await (const chunk of verifiedChunks(fs, path, frame, damaged, onProgress)) {
    const count = chunkRowCount(chunk.payload, frame.format);
    if (count === undefined) throw damaged('chunk does not decode to entries', chunk.offset);
    rows += count;
    chunks++;
    keep?.(chunk);
  }
  if (chunks !== frame.expectedChunks || rows !== frame.expectedEntries) {
    throw damaged(`holds ${chunks} chunks / ${rows} entries, footer says ${frame.expectedChunks} / ${frame.expectedEntries}`, frame.footerAt);
  }
  return rows;
}

/** A checksummed frame: [u32 payload length][u32 CRC-32C of payload][payload]. */
function frameOf(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + payload.byteLength);
  frame.writeUInt32LE(payload.byteLength, 0);
  frame.writeUInt32LE(checksum(payload), 4);
  frame.set(payload, CHUNK_HEADER_BYTES);
  return frame;
}

function damage(path: string): (message: string, offset: number) => CorruptionError {
  const file = basename(path);
  return (message, offset) => new CorruptionError(`checkpoint ${message}`, { file, offset, lastGoodVersion: 0 });
}

/** The rows of a verified chunk in columns, checked against the checkpoint's version. */
function columnsOf(payload: Buffer, offset: number, frame: CheckpointFrame, damaged: (message: string, offset: number) => CorruptionError): CheckpointChunk {
  const chunk = decodeChunk(payload, frame.format);
  if (chunk === undefined) throw damaged('chunk does not decode to entries', offset);
  const { versions, keys } = chunk;
  for (let i = 0; i < chunk.length; i++) {
    if (versions[i]! > frame.version) throw damaged(`entry ${JSON.stringify(keys[i])} has version ${versions[i]} above the checkpoint's ${frame.version}`, offset);
  }
  return chunk;
}

/**
 * Reads a checkpoint for loading: header, footer, every chunk's checksum and
 * the entry counts (from each chunk's msgpack array header) are verified now;
 * chunks are decoded lazily by the returned entries.
 */
export async function readCheckpointForLoad(
  fs: FileSystem,
  path: string,
  onProgress?: (bytesDone: number, bytesTotal: number) => void,
): Promise<{ version: Version; bytes: number; entries: CheckpointEntries; structures: StructureKeys[] }> {
  const damaged = damage(path);
  const frame = emptyFrame();
  const payloads: { offset: number; payload: Buffer }[] = [];
  const counted = await countVerifiedChunks(fs, path, frame, damaged, onProgress, (chunk) => payloads.push(chunk));
  function* chunks(): Generator<CheckpointChunk> {
    let seen = 0;
    for (const { offset, payload } of payloads) {
      const chunk = columnsOf(payload, offset, frame, damaged);
      seen += chunk.length;
      yield chunk;
    }
    if (seen !== counted) throw damaged(`holds ${seen} entries, its chunks say ${counted}`, frame.footerAt);
  }
  function* entries(): Generator<CheckpointEntry> {
    for (const chunk of chunks()) yield* entriesOf(chunk);
  }
  return { version: frame.version, bytes: frame.size, entries: { length: counted, [Symbol.iterator]: entries, chunks }, structures: frame.structures };
}

/**
 * Reads and verifies a whole checkpoint: magic, format version, every chunk
 * checksum, the footer, and that counts and versions agree. Any damage is a
 * {@link CorruptionError} naming the file and offset; a newer format is an
 * {@link UnsupportedFormatError}. Holds every entry in memory: for large
 * checkpoints, stream them with {@link readCheckpointChunks}.
 */
export async function readCheckpoint(fs: FileSystem, path: string, onProgress?: (bytesDone: number, bytesTotal: number) => void): Promise<CheckpointContents> {
  const entries: CheckpointEntry[] = [];
  const reader = readCheckpointChunks(fs, path, onProgress);
  for await (const chunk of reader) for (const row of entriesOf(chunk)) entries.push(row);
  const { version, bytes, structures } = reader.info();
  return { version, entries, bytes, structures };
}

/** A streaming read of a checkpoint: its chunks in key order (as columns), and what the file said once read. */
export interface CheckpointChunks extends AsyncIterable<CheckpointChunk> {
  /** The checkpoint's version (known after the first chunk is read, or at the end of an empty one) and size. */
  info(): { readonly version: Version; readonly bytes: number; readonly structures: StructureKeys[] };
}

/**
 * Reads a checkpoint chunk by chunk (rows in key order, in columns),
 * verifying as it goes: header first, footer before the first chunk, each
 * chunk's checksum, and at the end that the counts agree. Memory: one chunk.
 * Damage throws from the iteration, so a consumer that builds something must
 * be able to drop it.
 */
export function readCheckpointChunks(fs: FileSystem, path: string, onProgress?: (bytesDone: number, bytesTotal: number) => void): CheckpointChunks {
  const damaged = damage(path);
  const frame = emptyFrame();
  async function* chunks(): AsyncGenerator<CheckpointChunk> {
    let count = 0;
    let chunkCount = 0;
    for await (const { offset, payload } of verifiedChunks(fs, path, frame, damaged, onProgress)) {
      const chunk = columnsOf(payload, offset, frame, damaged);
      count += chunk.length;
      chunkCount++;
      yield chunk;
    }
    if (chunkCount !== frame.expectedChunks || count !== frame.expectedEntries) {
      throw damaged(`holds ${chunkCount} chunks / ${count} entries, footer says ${frame.expectedChunks} / ${frame.expectedEntries}`, frame.footerAt);
    }
  }
  return { [Symbol.asyncIterator]: () => chunks(), info: () => ({ version: frame.version, bytes: frame.size, structures: frame.structures }) };
}

/** The shared structure table of a checkpoint (header, footer and the table's checksum verified; empty for format 1). */
export async function readCheckpointStructures(fs: FileSystem, path: string): Promise<StructureKeys[]> {
  const frame = emptyFrame();
  const chunks = verifiedChunks(fs, path, frame, damage(path));
  try {
    await chunks.next();
  } finally {
    await chunks.return(undefined);
  }
  return frame.structures;
}

/**
 * Reads a checkpoint just written back from disk and checks it whole (every
 * checksum, and that it holds the version and entry count that were written):
 * only then may the files it supersedes be deleted. A mismatch is a
 * {@link CorruptionError}.
 */
export async function verifyWritten(fs: FileSystem, written: CheckpointWritten): Promise<void> {
  // Streamed: every chunk's checksum and row count, and the footer's counts, are checked without decoding
  // the rows (the bytes were just encoded here; what the read-back guards against is the disk).
  const frame = emptyFrame();
  const count = await countVerifiedChunks(fs, written.path, frame, damage(written.path));
  if (frame.version !== written.version || count !== written.entries || frame.size !== written.bytes) {
    throw new CorruptionError(`checkpoint read back as version ${frame.version} with ${count} entries (${frame.size} bytes); ${written.version} with ${written.entries} (${written.bytes} bytes) were written`, {
      file: basename(written.path),
      offset: 0,
      lastGoodVersion: 0,
    });
  }
}


