import { join } from 'node:path';
import { CorruptionError, type CheckpointEntry, type CommitRecord, type RecoveryEvent, type StructureKeys, type Version } from '@epochdb/core';
import { readCheckpoint } from './checkpoint-file.js';
import type { FileSystem } from './file-system.js';
import { DirectoryListing, listSegments } from './directory-layout.js';
import { recover, type Recovered, type WalPosition } from './recovery.js';
import { checkSegmentHeader, scanFrames, WAL_HEADER_BYTES } from './wal-format.js';

/** Attempts of {@link recoverReadOnly} before a race with the writer counts as damage. */
const READ_ONLY_ATTEMPTS = 5;

/**
 * Reads a database directory's committed state without changing a byte of
 * it, while another process may hold it and keep writing: recovery with
 * `readOnly`. The writer may prune a checkpoint or a WAL segment between the
 * listing and the read (ENOENT, or records that seem to be missing): then the
 * whole read starts again, up to 5 times, so only damage that stays is reported.
 */
export async function recoverReadOnly(options: { fs: FileSystem; dir: string; onEvent?: ((event: RecoveryEvent) => void) | undefined; historyVersions?: number | undefined }): Promise<Recovered> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await recover({ ...options, mode: 'strict', readOnly: true });
    } catch (error) {
      const raced = (error as NodeJS.ErrnoException).code === 'ENOENT' || error instanceof CorruptionError;
      if (!raced || attempt >= READ_ONLY_ATTEMPTS) throw error;
    }
  }
}

/** What one {@link WalTail.poll} found. */
export type TailRead =
  /** Records after the position, contiguous (possibly none). */
  | { readonly kind: 'records'; readonly records: readonly CommitRecord[] }
  /** The WAL no longer holds the next record (a checkpoint covered and pruned it): start again from this checkpoint. */
  | { readonly kind: 'checkpoint'; readonly version: Version; readonly entries: readonly CheckpointEntry[]; readonly structures: readonly StructureKeys[] };

/**
 * Follows the WAL of a directory another process writes: each
 * {@link poll} reads the records appended since the last one, from the
 * position where reading stopped, across segment rotations. Reads only.
 */
export class WalTail {
  readonly #fs: FileSystem;
  readonly #dir: string;
  #position: WalPosition;
  #version: Version;

  /** Starts after `version`, read up to `position` (what recovery returned). */
  constructor(fs: FileSystem, dir: string, position: WalPosition, version: Version) {
    this.#fs = fs;
    this.#dir = dir;
    this.#position = position;
    this.#version = version;
  }

  /** The newest version read. */
  get version(): Version {
    return this.#version;
  }

  /** Reads what was appended since the last poll. */
  async poll(): Promise<TailRead> {
    const records: CommitRecord[] = [];
    for (;;) {
      const segments = listSegments(await this.#fs.readdir(this.#dir));
      const next = this.#version + 1;
      let index = segments.findIndex((s) => s.name === this.#position.segment);
      if (index < 0) {
        // Not started yet, or our segment was pruned: the segment that holds the next record.
        index = segments.findLastIndex((s) => s.first <= next);
        if (index < 0) {
          if (segments.length === 0 || records.length > 0) return { kind: 'records', records };
          return this.#fromCheckpoint(records);
        }
        this.#position = { segment: segments[index]!.name, offset: WAL_HEADER_BYTES };
      }
      const segment = segments[index]!;
      const following = segments[index + 1];
      const bytes = await this.#read(segment.name);
      if (bytes === undefined) continue; // pruned meanwhile: find the next record's segment again
      const scan = scanFrames(bytes, 0);
      for (const record of scan.records) {
        if (record.version <= this.#version) continue;
        if (record.version !== this.#version + 1) return records.length > 0 ? { kind: 'records', records } : this.#fromCheckpoint(records);
        records.push(record);
        this.#version = record.version;
      }
      this.#position = { segment: segment.name, offset: this.#position.offset + scan.validBytes };
      // A later segment exists: this one was complete when it was read, unless its tail is torn.
      if (following === undefined || scan.damage !== undefined) return { kind: 'records', records };
      if (following.first > this.#version + 1) return records.length > 0 ? { kind: 'records', records } : this.#fromCheckpoint(records);
      this.#position = { segment: following.name, offset: WAL_HEADER_BYTES };
    }
  }

  /** The bytes of `name` from the position on; `undefined` if it is gone. A header still being written reads as nothing. */
  async #read(name: string): Promise<Buffer | undefined> {
    let handle;
    try {
      handle = await this.#fs.open(join(this.#dir, name), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#position = { segment: undefined, offset: 0 };
        return undefined;
      }
      throw error;
    }
    try {
      const size = await handle.size();
      if (this.#position.offset === WAL_HEADER_BYTES) {
        const header = await handle.read(0, WAL_HEADER_BYTES);
        if (checkSegmentHeader(header) !== 'ok') return Buffer.alloc(0);
      }
      return size > this.#position.offset ? await handle.read(this.#position.offset, size - this.#position.offset) : Buffer.alloc(0);
    } finally {
      await handle.close();
    }
  }

  /** The newest checkpoint, if it is past what was read: the state to move to when the WAL has moved on. */
  async #fromCheckpoint(records: CommitRecord[]): Promise<TailRead> {
    const newest = (await DirectoryListing.read(this.#fs, this.#dir)).checkpoints[0];
    if (newest === undefined || newest.version <= this.#version) return { kind: 'records', records };
    const contents = await readCheckpoint(this.#fs, join(this.#dir, newest.name));
    this.#version = contents.version;
    this.#position = { segment: undefined, offset: 0 };
    return { kind: 'checkpoint', version: contents.version, entries: contents.entries, structures: contents.structures };
  }
}
