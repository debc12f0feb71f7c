import { join } from 'node:path';
import { CorruptionError, InvalidOptionError, UnsupportedFormatError, type CheckpointEntry, type CommitRecord, type RecoveryEvent, type StructureKeys, type Version } from '@epochdb/core';
import { readCheckpointForLoad, type CheckpointEntries } from './checkpoint-file.js';
import { assertNotForeign, DAMAGED_DIR, DirectoryListing, MARKER_FILE, readMarker, writeMarker, type CheckpointFile } from './directory-layout.js';
import { historyBase } from './history-plan.js';
import type { FileSystem } from './file-system.js';
import { checkSegmentHeader, hasValidFrameAfter, scanFrames, WAL_HEADER_BYTES } from './wal-format.js';

/** What recovery found: the state to load and what it had to do. */
export interface Recovered {
  readonly checkpointVersion: Version;
  /** The checkpoint's entries, decoded chunk by chunk as they are iterated (its bytes verified; see `CheckpointEntries`). */
  readonly checkpointEntries: CheckpointEntries;
  /** The checkpoint's shared structure table (load it before any value; the records carry the structures added after it). */
  readonly checkpointStructures: readonly StructureKeys[];
  /** Records after the checkpoint, contiguous, in version order. */
  readonly records: readonly CommitRecord[];
  /** The newest recovered version. */
  readonly version: Version;
  /**
   * The newest checkpoint in the directory: `checkpointVersion` unless an
   * older one was loaded to bring back history (`historyVersions`).
   */
  readonly newestCheckpointVersion: Version;
  /** Recovery changed what is on disk in a way only a new checkpoint makes whole (salvage, checkpoint fallback). */
  readonly needsCheckpoint: boolean;
  /** Bytes of WAL replayed after the checkpoint: they count toward the next automatic checkpoint. */
  readonly walBytesReplayed: number;
  readonly events: readonly RecoveryEvent[];
  /** Where the WAL read ended: the last segment read and the offset after its last whole record (for following it). */
  readonly tail: WalPosition;
}

/** A place in the WAL: a segment (`undefined`: none yet) and a byte offset in it. */
export interface WalPosition {
  readonly segment: string | undefined;
  readonly offset: number;
}

/** Options of {@link recover}. */
export interface RecoverOptions {
  readonly fs: FileSystem;
  readonly dir: string;
  readonly mode: 'strict' | 'salvage';
  readonly onEvent?: ((event: RecoveryEvent) => void) | undefined;
  /**
   * Change nothing on disk (a directory another process may hold): no marker,
   * no truncation of a torn tail (it is read as the end of the WAL, as a
   * record still being appended is), no temporary files removed, nothing moved
   * aside. Only with `mode: 'strict'`. The directory must already be a database.
   */
  readonly readOnly?: boolean | undefined;
  /**
   * The directory's listing, if the caller has just read it (and created the
   * directory): then recovery does not list it again.
   */
  readonly listing?: DirectoryListing | undefined;
  /**
   * Versions of history to bring back (`retainVersions`): load the older
   * checkpoint pruning kept for it and replay the WAL from there (see
   * `historyBase`), so the records of those versions are replayed too. Damage
   * in that older part falls back to the newest checkpoint. Strict mode only.
   */
  readonly historyVersions?: number | undefined;
}

/**
 * Opens (creating if needed) a database directory and reads back its
 * committed state: the newest valid checkpoint, then the WAL records after it.
 * A torn record at the very end of the last segment is truncated and
 * reported. Damage anywhere else is a {@link CorruptionError}, unless `mode`
 * is `'salvage'`: then the longest consistent prefix is kept and the damaged
 * files are moved into `damaged/` (never deleted). A damaged newest checkpoint
 * falls back to the previous one and the longer WAL.
 */
/** No checkpoint: no entries. */
const NO_ENTRIES: CheckpointEntries = { length: 0, [Symbol.iterator]: () => ([] as CheckpointEntry[])[Symbol.iterator](), chunks: () => [] };

export async function recover(options: RecoverOptions): Promise<Recovered> {
  const { fs, dir, mode } = options;
  const readOnly = options.readOnly === true;
  if (readOnly && mode !== 'strict') throw new InvalidOptionError('recover(): a read-only recovery cannot salvage (it would move files)');
  const listing = readOnly ? await inspectDirectory(fs, dir) : await prepareDirectory(fs, dir, options.listing);
  if (!readOnly) for (const name of listing.temporaries) await fs.unlink(join(dir, name));
  const base = mode === 'strict' ? historyBase(listing, options.historyVersions ?? 0) : undefined;
  if (base !== undefined) {
    const newest = listing.checkpoints[0]!.version;
    try {
      const recovered = await replay({ ...options, onEvent: undefined }, listing, base === 'empty' ? [] : [base], newest);
      for (const event of recovered.events) options.onEvent?.(event);
      return recovered;
    } catch (error) {
      // Damage in the part only history needs: recover as without history, which reads less of it.
      if (!(error instanceof CorruptionError)) throw error;
    }
  }
  return replay(options, listing, listing.checkpoints, undefined);
}

/**
 * Loads the first of `candidates` that verifies (none: version 0), then the
 * WAL after it. `historyFrom`: the newest checkpoint's version when an older
 * one is loaded for history; then that one must verify (no fallback) and only
 * the WAL after the newest counts as replayed bytes.
 */
async function replay(options: RecoverOptions, listing: DirectoryListing, candidates: readonly CheckpointFile[], historyFrom: Version | undefined): Promise<Recovered> {
  const { fs, dir, mode } = options;
  const events: RecoveryEvent[] = [];
  const emit = (event: RecoveryEvent): void => {
    events.push(event);
    options.onEvent?.(event);
  };
  const readOnly = options.readOnly === true;

  const copyAside = async (name: string, reason: string): Promise<void> => {
    await fs.mkdir(join(dir, DAMAGED_DIR));
    const movedTo = join(DAMAGED_DIR, `${name}.${Date.now()}`);
    const copy = await fs.open(join(dir, movedTo), 'w');
    try {
      await copy.write(await fs.readFile(join(dir, name)), 0);
      await copy.datasync();
    } finally {
      await copy.close();
    }
    await fs.syncDir(join(dir, DAMAGED_DIR));
    emit({ type: 'salvaged', file: name, movedTo, reason });
  };
  const moveAside = async (name: string, reason: string): Promise<void> => {
    await fs.mkdir(join(dir, DAMAGED_DIR));
    const movedTo = join(DAMAGED_DIR, `${name}.${Date.now()}`);
    await fs.rename(join(dir, name), join(dir, movedTo));
    await fs.syncDir(dir);
    emit({ type: 'salvaged', file: name, movedTo, reason });
  };

  // Checkpoints, newest first: the first one that verifies wins.
  const checkpoints = candidates;
  let checkpointVersion = 0;
  let checkpointEntries: CheckpointEntries = NO_ENTRIES;
  let checkpointStructures: readonly StructureKeys[] = [];
  let needsCheckpoint = false;
  /** Moved aside only once recovery has succeeded: a failed open leaves the directory as it was. */
  const damagedCheckpoints: { name: string; reason: string }[] = [];
  for (const candidate of checkpoints) {
    try {
      const contents = await readCheckpointForLoad(fs, join(dir, candidate.name), (bytesDone, bytesTotal) =>
        emit({ type: 'progress', phase: 'checkpoint', file: candidate.name, bytesDone, bytesTotal }),
      );
      if (contents.version !== candidate.version) throw new CorruptionError(`checkpoint holds version ${contents.version}, its name says ${candidate.version}`, { file: candidate.name, offset: 0, lastGoodVersion: 0 });
      checkpointVersion = contents.version;
      checkpointEntries = contents.entries;
      checkpointStructures = contents.structures;
      break;
    } catch (error) {
      if (!(error instanceof CorruptionError) || historyFrom !== undefined) throw error;
      emit({ type: 'checkpoint-fallback', file: candidate.name, reason: error.message });
      damagedCheckpoints.push({ name: candidate.name, reason: error.message });
      needsCheckpoint = true;
    }
  }

  // WAL segments, oldest first; replay what follows the checkpoint, contiguously.
  const segments = listing.segments;
  const records: CommitRecord[] = [];
  let walBytesReplayed = 0;
  let tail: WalPosition = { segment: undefined, offset: 0 };
  let expected = checkpointVersion + 1;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const next = segments[i + 1];
    if (next !== undefined && next.first <= expected) continue; // wholly covered by the checkpoint
    const isLast = next === undefined;
    const path = join(dir, segment.name);
    /**
     * Damage at `offset` of this segment: strict mode fails; salvage keeps the good
     * records in place (a copy of the whole file goes to damaged/, then the segment is
     * truncated to `keep` bytes, so what recovery keeps stays durable even if the
     * process dies before the salvage checkpoint) and moves every later segment aside.
     */
    const damage = async (message: string, offset: number, keep = 0): Promise<boolean> => {
      if (mode === 'strict') throw new CorruptionError(message, { file: segment.name, offset, lastGoodVersion: expected - 1 });
      if (keep > WAL_HEADER_BYTES) {
        await copyAside(segment.name, message);
        await truncateFile(fs, path, keep);
      } else {
        await moveAside(segment.name, message);
      }
      for (const later of segments.slice(i + 1)) await moveAside(later.name, message);
      needsCheckpoint = true;
      return true;
    };
    if (segment.first > expected) {
      if (await damage(`write-ahead log records ${expected}..${segment.first - 1} are missing`, 0)) break;
    }
    const bytes = await fs.readFile(path);
    emit({ type: 'progress', phase: 'wal', file: segment.name, bytesDone: bytes.byteLength, bytesTotal: bytes.byteLength });
    const header = checkSegmentHeader(bytes);
    if (typeof header === 'number') {
      throw new UnsupportedFormatError(`write-ahead log segment ${segment.name} has format version ${header}; this EpochDB reads version 1`);
    }
    if (header === 'torn' && isLast) {
      // A crash while creating the segment (or, read-only, one being created): nothing in it was ever acknowledged.
      if (readOnly) break;
      emit({ type: 'truncated', file: segment.name, offset: 0, bytesDropped: bytes.byteLength });
      await fs.unlink(path);
      continue;
    }
    if (header !== 'ok') {
      if (await damage('write-ahead log segment header is damaged', 0)) break;
    }
    const scan = scanFrames(bytes, WAL_HEADER_BYTES);
    // Bytes a checkpoint already covers do not count toward the next one.
    if ((next?.first ?? Infinity) - 1 > (historyFrom ?? checkpointVersion)) walBytesReplayed += scan.validBytes;
    tail = { segment: segment.name, offset: WAL_HEADER_BYTES + scan.validBytes };
    let stopped = false;
    for (const [index, record] of scan.records.entries()) {
      if (record.version < expected) continue;
      if (record.version !== expected) {
        const at = scan.offsets[index]!;
        stopped = await damage(`write-ahead log jumps from version ${expected - 1} to ${record.version}`, at, at);
        break;
      }
      records.push(record);
      expected++;
    }
    if (stopped) break;
    if (scan.damage !== undefined) {
      const { offset, reason } = scan.damage;
      if (isLast && !hasValidFrameAfter(bytes, offset, expected - 1)) {
        // A torn write at the very end: a crash mid-append. Never acknowledged under 'always'.
        // Read-only, it may be a record being appended right now: the WAL ends before it.
        if (readOnly) break;
        await truncateFile(fs, path, offset);
        emit({ type: 'truncated', file: segment.name, offset, bytesDropped: bytes.byteLength - offset });
      } else if (await damage(`write-ahead log record is damaged (${reason})`, offset, offset)) {
        break;
      }
    }
  }
  if (!readOnly) for (const { name, reason } of damagedCheckpoints) await moveAside(name, reason);
  const newestCheckpointVersion = historyFrom ?? checkpointVersion;
  return { checkpointVersion, checkpointEntries, checkpointStructures, records, version: expected - 1, newestCheckpointVersion, needsCheckpoint: needsCheckpoint && !readOnly, walBytesReplayed, events, tail };
}

/** Cuts `path` to `length` bytes, durably. */
async function truncateFile(fs: FileSystem, path: string, length: number): Promise<void> {
  const handle = await fs.open(path, 'r+');
  try {
    await handle.truncate(length);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/**
 * Lists an existing database directory without changing it: a missing
 * directory is an {@link InvalidOptionError}, one without a marker of a known
 * format an {@link UnsupportedFormatError}.
 */
async function inspectDirectory(fs: FileSystem, dir: string): Promise<DirectoryListing> {
  let listing: DirectoryListing;
  try {
    listing = await DirectoryListing.read(fs, dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new InvalidOptionError(`open(): ${dir} does not exist (readOnly: true opens an existing database only)`);
    throw error;
  }
  if (!listing.hasMarker) {
    assertNotForeign(listing, dir);
    throw new UnsupportedFormatError(`${dir} is not an EpochDB directory (no ${MARKER_FILE} file)`);
  }
  await readMarker(fs, dir);
  return listing;
}

/**
 * Creates the directory and its marker, or checks that an existing one is an
 * EpochDB directory of a known format. Returns its listing (`listing`, when
 * the caller has just read it, instead of reading it again).
 */
async function prepareDirectory(fs: FileSystem, dir: string, listing?: DirectoryListing): Promise<DirectoryListing> {
  if (listing === undefined) {
    await fs.mkdir(dir);
    listing = await DirectoryListing.read(fs, dir);
  }
  if (!listing.hasMarker) {
    assertNotForeign(listing, dir);
    await writeMarker(fs, dir);
    // writeMarker renamed its temporary file (perhaps one a crash left) into the marker.
    return new DirectoryListing([...listing.names.filter((name) => name !== `${MARKER_FILE}.tmp`), MARKER_FILE]);
  }
  await readMarker(fs, dir);
  return listing;
}
