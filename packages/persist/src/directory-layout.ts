import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { IoError, UnsupportedFormatError, type Version } from '@epochdb/core';
import type { FileSystem } from './file-system.js';

// Every file of a database directory is named here, and only here:
//   EPOCHDB                     the marker: this is an EpochDB directory, of this format
//   LOCK                        the exclusive lock of the process that holds it
//   wal-<first version>.log     a WAL segment (16-digit zero-padded decimal)
//   checkpoint-<version>.ckpt   the state at a version
//   <name>.<random>.tmp         a file being written (checkpoint, marker): renamed into place when complete
//   damaged/                    files moved aside by salvage recovery

/** The file that marks a directory as an EpochDB database, holding its format version. */
export const MARKER_FILE = 'EPOCHDB';
export const DIRECTORY_FORMAT_VERSION = 1;
/** The lock file of the process that holds the directory. */
export const LOCK_FILE = 'LOCK';
/** Where salvage recovery moves damaged files. */
export const DAMAGED_DIR = 'damaged';

/** The file name of the WAL segment whose first record has `version`. */
export function segmentName(firstVersion: Version): string {
  return `wal-${String(firstVersion).padStart(16, '0')}.log`;
}

/** Parses {@link segmentName}; `undefined` for other names. */
export function parseSegmentName(name: string): Version | undefined {
  const match = /^wal-(\d{16})\.log$/.exec(name);
  return match === null ? undefined : Number(match[1]);
}

/** The name of the checkpoint file at `version`. */
export function checkpointName(version: Version): string {
  return `checkpoint-${String(version).padStart(16, '0')}.ckpt`;
}

/** Parses {@link checkpointName}; `undefined` for other names. */
export function parseCheckpointName(name: string): Version | undefined {
  const match = /^checkpoint-(\d{16})\.ckpt$/.exec(name);
  return match === null ? undefined : Number(match[1]);
}

/** A temporary name for writing `path`, of its own per attempt (`<path>.<random>.tmp`). */
export function temporaryPath(path: string): string {
  return `${path}.${randomBytes(4).toString('hex')}.tmp`;
}

/** Whether `name` is a file being written (see {@link temporaryPath}). */
export function isTemporary(name: string): boolean {
  return name.endsWith('.tmp');
}

/** A WAL segment in a listing. */
export interface SegmentFile {
  readonly name: string;
  readonly first: Version;
}

/** A checkpoint in a listing. */
export interface CheckpointFile {
  readonly name: string;
  readonly version: Version;
}

/** The WAL segments among a directory's file names, oldest first. */
export function listSegments(names: readonly string[]): SegmentFile[] {
  return names
    .map((name) => ({ name, first: parseSegmentName(name) }))
    .filter((s): s is SegmentFile => s.first !== undefined)
    .sort((a, b) => a.first - b.first);
}

/** The checkpoints among a directory's file names, newest first. */
export function listCheckpoints(names: readonly string[]): CheckpointFile[] {
  return names
    .map((name) => ({ name, version: parseCheckpointName(name) }))
    .filter((c): c is CheckpointFile => c.version !== undefined)
    .sort((a, b) => b.version - a.version);
}

/** What is in a database directory: one listing, read once, parsed by file kind. */
export class DirectoryListing {
  readonly names: readonly string[];
  /** WAL segments, oldest first. */
  readonly segments: readonly SegmentFile[];
  /** Checkpoints, newest first. */
  readonly checkpoints: readonly CheckpointFile[];

  constructor(names: readonly string[]) {
    this.names = names;
    this.segments = listSegments(names);
    this.checkpoints = listCheckpoints(names);
  }

  /** Lists `dir`. */
  static async read(fs: FileSystem, dir: string): Promise<DirectoryListing> {
    return new DirectoryListing(await fs.readdir(dir));
  }

  /** Whether the directory has its marker. */
  get hasMarker(): boolean {
    return this.names.includes(MARKER_FILE);
  }

  /** Files being written, or left by a write that died. */
  get temporaries(): readonly string[] {
    return this.names.filter(isTemporary);
  }
}

/**
 * Refuses a directory that holds files but no EpochDB marker (another
 * program's data, or a backup cut short). Run before the lock is touched, so
 * another program's `LOCK` is never taken for a stale one of ours.
 */
export function assertNotForeign(listing: DirectoryListing | readonly string[], dir: string): void {
  const names = listing instanceof DirectoryListing ? listing.names : listing;
  if (names.includes(MARKER_FILE)) return;
  // A crash during the very first open can leave our LOCK and the marker's temporary file.
  const foreign = names.filter((n) => !n.startsWith(LOCK_FILE) && n !== `${MARKER_FILE}.tmp`);
  if (foreign.length > 0) {
    throw new UnsupportedFormatError(`${dir} is not an EpochDB directory (no ${MARKER_FILE} file, but it holds ${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''})`);
  }
}

/**
 * Throws {@link UnsupportedFormatError} unless `text`, the contents of
 * `dir`'s marker file, names the directory format this EpochDB reads.
 */
export function checkMarker(text: string, dir: string): void {
  let format: unknown;
  try {
    format = (JSON.parse(text) as { format?: unknown }).format;
  } catch {
    throw new UnsupportedFormatError(`${join(dir, MARKER_FILE)} is not a valid EpochDB marker`);
  }
  if (format !== DIRECTORY_FORMAT_VERSION) {
    throw new UnsupportedFormatError(`${dir} was written in EpochDB directory format ${String(format)}; this EpochDB reads format ${DIRECTORY_FORMAT_VERSION}`);
  }
}

/** Reads and checks `dir`'s marker ({@link checkMarker}); a marker that cannot be read is an {@link IoError}. */
export async function readMarker(fs: FileSystem, dir: string): Promise<void> {
  let text: string;
  try {
    text = (await fs.readFile(join(dir, MARKER_FILE))).toString('utf8');
  } catch (error) {
    // A marker that cannot be read (EIO, EACCES) says nothing about the format.
    throw new IoError(`cannot read ${join(dir, MARKER_FILE)}: ${(error as Error).message}`, { cause: error });
  }
  checkMarker(text, dir);
}

/** Writes the marker file atomically (temporary name, fsync, rename, directory fsync). */
export async function writeMarker(fs: FileSystem, dir: string): Promise<void> {
  const path = join(dir, MARKER_FILE);
  const handle = await fs.open(`${path}.tmp`, 'w');
  try {
    await handle.write(Buffer.from(`${JSON.stringify({ format: DIRECTORY_FORMAT_VERSION, createdBy: 'epochdb' })}\n`), 0);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.rename(`${path}.tmp`, path);
  await fs.syncDir(dir);
}
