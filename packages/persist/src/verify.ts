import { join } from 'node:path';
import { CorruptionError, EpochError, prepareEncoded, type CommitRecord } from '@epochdb/core';
import { readCheckpoint } from './checkpoint-file.js';
import type { FileSystem } from './file-system.js';
import { checkSegmentHeader, hasValidFrameAfter, scanFrames, WAL_HEADER_BYTES } from './wal-format.js';
import { DirectoryListing } from './directory-layout.js';

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
}

/**
 * Reads every checkpoint and WAL segment of `dir` and checks every checksum,
 * header and footer, without changing anything. Safe to run while the
 * database is open (the newest segment may end in a record being written:
 * that is reported as an incomplete tail, not an error). A plain function
 * over files, so it can run on a worker thread.
 */
export async function verifyDirectory(fs: FileSystem, dir: string): Promise<VerifyReport> {
  const listing = await DirectoryListing.read(fs, dir);
  const files: FileReport[] = [];
  const checkpoints = listing.checkpoints;
  for (const { name } of checkpoints) {
    try {
      const contents = await readCheckpoint(fs, join(dir, name));
      // Recovery leaves values encoded until first read: check here that every one decodes.
      const bad = contents.entries.find((entry) => undecodable(entry.encoded) !== undefined);
      const error = bad === undefined ? undefined : { offset: 0, message: `value of key ${JSON.stringify(bad.key)} passed its checksum but does not decode: ${undecodable(bad.encoded)}` };
      files.push({ file: name, kind: 'checkpoint', bytes: contents.bytes, items: contents.entries.length, ...(error === undefined ? {} : { error }) });
    } catch (error) {
      // Pruned by the process that holds the directory since it was listed: gone, not damaged.
      if (isGone(error)) continue;
      if (!(error instanceof EpochError)) throw error;
      const offset = error instanceof CorruptionError ? error.offset : 0;
      files.push({ file: name, kind: 'checkpoint', bytes: (await fs.size(join(dir, name))) ?? 0, items: 0, error: { offset, message: error.message } });
    }
  }
  const segments = listing.segments;
  let lastVersion = 0;
  for (const [i, { name }] of segments.entries()) {
    const bytes = await fs.readFile(join(dir, name)).catch((error: unknown) => {
      if (isGone(error)) return undefined;
      throw error;
    });
    if (bytes === undefined) continue;
    const header = checkSegmentHeader(bytes);
    const isLast = i === segments.length - 1;
    if (header !== 'ok') {
      const message = header === 'torn' ? 'segment header is incomplete' : header === 'bad' ? 'segment header is damaged' : `segment has format version ${header}`;
      if (header === 'torn' && isLast) files.push({ file: name, kind: 'wal', bytes: bytes.byteLength, items: 0, incompleteTail: { offset: 0, bytes: bytes.byteLength } });
      else files.push({ file: name, kind: 'wal', bytes: bytes.byteLength, items: 0, error: { offset: 0, message } });
      continue;
    }
    const scan = scanFrames(bytes, WAL_HEADER_BYTES);
    const last = scan.records.at(-1);
    if (last !== undefined) lastVersion = Math.max(lastVersion, last.version);
    const report: FileReport = { file: name, kind: 'wal', bytes: bytes.byteLength, items: scan.records.length };
    const badValue = firstUndecodableValue(scan.records, scan.offsets);
    if (badValue !== undefined) files.push({ ...report, error: badValue });
    else if (scan.damage === undefined) files.push(report);
    else if (isLast && !hasValidFrameAfter(bytes, scan.damage.offset, lastVersion)) {
      files.push({ ...report, incompleteTail: { offset: scan.damage.offset, bytes: bytes.byteLength - scan.damage.offset } });
    } else {
      files.push({ ...report, error: { offset: scan.damage.offset, message: `record damaged: ${scan.damage.reason}` } });
    }
  }
  const damaged = files.find((f) => f.error !== undefined);
  return {
    ok: damaged === undefined,
    files,
    ...(damaged?.error === undefined ? {} : { firstError: { file: damaged.file, offset: damaged.error.offset, message: damaged.error.message } }),
    checkpoints: files.filter((f) => f.kind === 'checkpoint').length,
    segments: files.filter((f) => f.kind === 'wal').length,
    entries: files.filter((f) => f.kind === 'checkpoint').reduce((sum, f) => sum + f.items, 0),
    records: files.filter((f) => f.kind === 'wal').reduce((sum, f) => sum + f.items, 0),
  };
}

/** Whether `error` says the file does not exist (any more). */
function isGone(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' || ((error as Error | undefined)?.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** Why `encoded` does not decode to a storable value, or `undefined` if it does. */
function undecodable(encoded: Uint8Array): string | undefined {
  try {
    prepareEncoded(encoded);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The first put in `records` whose value does not decode, as a file error at its record's offset. */
function firstUndecodableValue(records: readonly CommitRecord[], offsets: readonly number[]): { offset: number; message: string } | undefined {
  for (const [index, record] of records.entries()) {
    for (const op of record.ops) {
      if (op.kind !== 'put') continue;
      const reason = undecodable(op.encoded);
      if (reason !== undefined) return { offset: offsets[index]!, message: `record of version ${record.version}: value of key ${JSON.stringify(op.key)} passed its checksum but does not decode: ${reason}` };
    }
  }
  return undefined;
}
