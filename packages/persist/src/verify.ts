import { join } from 'node:path';
import { CorruptionError, EpochError, StructureTableError, ValueCodec, type CommitRecord } from '@epochdb/core';
import { readCheckpoint } from './checkpoint-file.js';
import { listSegments, parseCheckpointName } from './directory-layout.js';
import type { FileSystem } from './file-system.js';
import { checkSegmentHeader, hasValidFrameAfter, scanFrames, WAL_HEADER_BYTES } from './wal-format.js';

/** What {@link verifyDirectory} found in one file. */
export interface FileReport {
  readonly file: string;
  readonly kind: 'checkpoint' | 'wal';
  readonly bytes: number;
  /** Entries (checkpoint) or records (WAL segment) that verified. */
  readonly items: number;
  /** The first damage in the file, if any. */
  readonly error?: { readonly offset: number; readonly message: string };
  /** The newest WAL segment ends in an incomplete record: a write in progress or a crash (recovery truncates it). */
  readonly incompleteTail?: { readonly offset: number; readonly bytes: number };
}

/** The result of checking every checksum of every file of a database directory. */
export interface VerifyReport {
  readonly ok: boolean;
  readonly files: readonly FileReport[];
  /** The first damage found, in file order (checkpoints newest first, then WAL segments oldest first). */
  readonly firstError?: { readonly file: string; readonly offset: number; readonly message: string };
  readonly checkpoints: number;
  readonly segments: number;
  readonly entries: number;
  readonly records: number;
  /**
   * Files listed but deleted before they could be read: a checkpoint of the
   * open database made them redundant meanwhile (not damage). The files that
   * checkpoint wrote are verified instead. Absent when none.
   */
  readonly vanished?: readonly string[];
}

/** Listings read again after files vanished, before verify gives up chasing a writer that checkpoints without pause. */
const MAX_LISTINGS = 16;

/**
 * Reads every checkpoint and WAL segment of `dir` and checks every checksum,
 * header and footer, without changing anything. Safe to run while the
 * database is open: the newest segment may end in a record being written
 * (reported as an incomplete tail, not an error), and a file a checkpoint
 * deletes between the listing and its read is reported in `vanished`, not
 * as damage, and the directory listed again so the files that replaced it
 * are verified too. A plain function over files, so it can run on a worker
 * thread.
 */
export async function verifyDirectory(fs: FileSystem, dir: string): Promise<VerifyReport> {
  const checkpointReports = new Map<string, { version: number; report: FileReport }>();
  const segmentReports = new Map<string, { first: number; report: FileReport }>();
  const vanished = new Set<string>();
  let lastVersion = 0;
  // WAL values decode with the newest checkpoint's structure table (tables only grow), grown by the records' own structures.
  const codec = new ValueCodec();
  /** Segments read once already because their values named structures the table lacked (see below). */
  const rereadForStructures = new Set<string>();
  for (let listing = 0; listing < MAX_LISTINGS; listing++) {
    const names = await fs.readdir(dir);
    const checkpoints = names
      .map((name) => ({ name, version: parseCheckpointName(name) }))
      .filter((c): c is { name: string; version: number } => c.version !== undefined && !checkpointReports.has(c.name) && !vanished.has(c.name))
      .sort((a, b) => b.version - a.version);
    const allSegments = listSegments(names);
    const newestSegment = allSegments.at(-1)?.name;
    const segments = allSegments.filter((s) => !segmentReports.has(s.name) && !vanished.has(s.name));
    if (checkpoints.length === 0 && segments.length === 0) break;
    let gone = false;
    for (const { name, version } of checkpoints) {
      const report = await verifyCheckpoint(fs, dir, name, codec);
      if (report === undefined) {
        vanished.add(name);
        gone = true;
      } else checkpointReports.set(name, { version, report });
    }
    for (const { name, first } of segments) {
      const bytes = await readIfPresent(fs, join(dir, name));
      if (bytes === undefined) {
        vanished.add(name);
        gone = true;
        continue;
      }
      const { report, newest, structures } = verifySegment(name, bytes, name === newestSegment, lastVersion, codec);
      // A structure the table lacks may be defined in WAL a checkpoint written since the listing replaced:
      // list again (newer checkpoints are read first) and read the segment once more before calling it damage.
      if (structures === true && !rereadForStructures.has(name) && listing < MAX_LISTINGS - 1) {
        rereadForStructures.add(name);
        gone = true;
        continue;
      }
      lastVersion = Math.max(lastVersion, newest);
      segmentReports.set(name, { first, report });
    }
    // Nothing vanished: this listing was read in full, and it is the consistent set.
    if (!gone) break;
  }
  const files = [
    ...[...checkpointReports.values()].sort((a, b) => b.version - a.version).map((c) => c.report),
    ...[...segmentReports.values()].sort((a, b) => a.first - b.first).map((s) => s.report),
  ];
  const damaged = files.find((f) => f.error !== undefined);
  return {
    ok: damaged === undefined,
    files,
    ...(damaged?.error === undefined ? {} : { firstError: { file: damaged.file, offset: damaged.error.offset, message: damaged.error.message } }),
    checkpoints: checkpointReports.size,
    segments: segmentReports.size,
    entries: files.filter((f) => f.kind === 'checkpoint').reduce((sum, f) => sum + f.items, 0),
    records: files.filter((f) => f.kind === 'wal').reduce((sum, f) => sum + f.items, 0),
    ...(vanished.size === 0 ? {} : { vanished: [...vanished].sort() }),
  };
}

/** Checks one checkpoint file; `undefined` if it no longer exists. */
async function verifyCheckpoint(fs: FileSystem, dir: string, name: string, walCodec: ValueCodec): Promise<FileReport | undefined> {
  try {
    const contents = await readCheckpoint(fs, join(dir, name));
    // Recovery leaves values encoded until first read: check here that every one decodes, with the checkpoint's own table.
    const codec = new ValueCodec({ table: contents.structures });
    const bad = contents.entries.find((entry) => undecodable(codec, entry.encoded) !== undefined);
    const error = bad === undefined ? undefined : { offset: 0, message: `value of key ${JSON.stringify(bad.key)} passed its checksum but does not decode: ${undecodable(codec, bad.encoded)}` };
    if (contents.structures.length > walCodec.size) walCodec.define({ from: 0, keys: contents.structures });
    return { file: name, kind: 'checkpoint', bytes: contents.bytes, items: contents.entries.length, ...(error === undefined ? {} : { error }) };
  } catch (error) {
    if (isMissing(error)) return undefined;
    if (!(error instanceof EpochError)) throw error;
    const offset = error instanceof CorruptionError ? error.offset : 0;
    return { file: name, kind: 'checkpoint', bytes: (await fs.size(join(dir, name))) ?? 0, items: 0, error: { offset, message: error.message } };
  }
}

/** Checks one WAL segment's bytes (`isLast`: the newest segment, whose tail may be a write in progress). */
function verifySegment(name: string, bytes: Buffer, isLast: boolean, lastVersion: number, codec: ValueCodec): { report: FileReport; newest: number; structures?: boolean } {
  const header = checkSegmentHeader(bytes);
  if (header !== 'ok') {
    const message = header === 'torn' ? 'segment header is incomplete' : header === 'bad' ? 'segment header is damaged' : `segment has format version ${header}`;
    if (header === 'torn' && isLast) return { report: { file: name, kind: 'wal', bytes: bytes.byteLength, items: 0, incompleteTail: { offset: 0, bytes: bytes.byteLength } }, newest: 0 };
    return { report: { file: name, kind: 'wal', bytes: bytes.byteLength, items: 0, error: { offset: 0, message } }, newest: 0 };
  }
  const scan = scanFrames(bytes, WAL_HEADER_BYTES);
  const newest = Math.max(lastVersion, scan.records.at(-1)?.version ?? 0);
  const report: FileReport = { file: name, kind: 'wal', bytes: bytes.byteLength, items: scan.records.length };
  const badValue = firstUndecodableValue(scan.records, scan.offsets, codec);
  if (badValue !== undefined) return { report: { ...report, error: { offset: badValue.offset, message: badValue.message } }, newest, structures: badValue.structures };
  if (scan.damage === undefined) return { report, newest };
  if (isLast && !hasValidFrameAfter(bytes, scan.damage.offset, newest)) {
    return { report: { ...report, incompleteTail: { offset: scan.damage.offset, bytes: bytes.byteLength - scan.damage.offset } }, newest };
  }
  return { report: { ...report, error: { offset: scan.damage.offset, message: `record damaged: ${scan.damage.reason}` } }, newest };
}

/** The file's bytes, or `undefined` if it no longer exists. */
async function readIfPresent(fs: FileSystem, path: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(path);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/** Whether `error` (or what it wraps) says a file does not exist. */
function isMissing(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
  }
  return false;
}

/** Why `encoded` does not decode to a storable value, or `undefined` if it does. */
function undecodable(codec: ValueCodec, encoded: Uint8Array): string | undefined {
  try {
    codec.prepareEncoded(encoded);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The first put in `records` whose value does not decode, as a file error at its record's offset. */
function firstUndecodableValue(records: readonly CommitRecord[], offsets: readonly number[], codec: ValueCodec): { offset: number; message: string; structures: boolean } | undefined {
  for (const [index, record] of records.entries()) {
    if (record.structures !== undefined) {
      try {
        codec.define(record.structures);
      } catch (error) {
        return { offset: offsets[index]!, message: `record of version ${record.version}: ${(error as Error).message}`, structures: error instanceof StructureTableError };
      }
    }
    for (const op of record.ops) {
      if (op.kind !== 'put') continue;
      try {
        codec.prepareEncoded(op.encoded);
      } catch (error) {
        const message = `record of version ${record.version}: value of key ${JSON.stringify(op.key)} passed its checksum but does not decode: ${(error as Error).message}`;
        return { offset: offsets[index]!, message, structures: error instanceof StructureTableError };
      }
    }
  }
  return undefined;
}
