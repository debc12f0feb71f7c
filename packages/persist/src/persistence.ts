import { join } from 'node:path';
import { EpochError, InvalidOptionError, IoError, type CheckpointEntry, type CommitRecord, type RecoveryEvent, type StructureKeys, type SyncMode, type Version } from '@epochdb/core';
import type { CheckpointPlan } from './checkpoint-build.js';
import { verifyWritten, writeCheckpoint, type CheckpointWritten } from './checkpoint-file.js';
import { DirectoryLock } from './dir-lock.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import { assertNotForeign, checkpointName, DirectoryListing, writeMarker } from './directory-layout.js';
import { historyKeep } from './history-plan.js';
import { recover, type Recovered } from './recovery.js';
import { WalWriter } from './wal-writer.js';

/** Options of {@link Persistence.open}. */
export interface PersistenceOptions {
  readonly dir: string;
  readonly fs?: FileSystem | undefined;
  /** Default durability of commits that do not ask for one. */
  readonly sync: SyncMode;
  readonly syncIntervalMs: number;
  readonly walSegmentBytes: number;
  /** Report that a checkpoint is due once the WAL since the last one passes this many bytes. */
  readonly checkpointWalBytes: number;
  readonly recovery: 'strict' | 'salvage';
  readonly onRecoveryEvent?: ((event: RecoveryEvent) => void) | undefined;
  /**
   * Versions of history that survive a restart (`retainVersions`; default 0):
   * pruning keeps an older checkpoint and the WAL after it (see
   * `historyKeep`), and opening replays them (see `historyBase`).
   */
  readonly historyVersions?: number | undefined;
}

/** Counters of the persistence layer. */
export interface PersistenceStats {
  readonly walBytesSinceCheckpoint: number;
  readonly walSyncs: number;
  readonly checkpoints: number;
  readonly lastCheckpointVersion: Version;
  /** How long the last checkpoint took, from plan to pruned, in ms. */
  readonly lastCheckpointMs: number;
  /** Bytes of WAL segments and checkpoint files deleted because a newer checkpoint covers them. */
  readonly bytesReclaimed: number;
  /** Whether a checkpoint is being built or installed right now. */
  readonly checkpointing: boolean;
}

/** A checkpoint smaller than this is rewritten by `close()` whatever the WAL since it: it costs well under a second. */
export const CLOSE_CHECKPOINT_FREE_BYTES = 16 * 1024 * 1024;

/**
 * Under `checkpointOnClose: 'auto'`, `close()` leaves the WAL since the newest
 * checkpoint for the next open to replay while it is smaller than this share
 * of that checkpoint's bytes: a closing checkpoint rewrites the whole file
 * (at 10M keys about 700 MB and ten seconds), while open replays the WAL in
 * one pass, its last write per key merged with the checkpoint's rows.
 */
export const CLOSE_CHECKPOINT_WAL_SHARE = 1;

/**
 * Whether a closing checkpoint is worth its cost (the policy of
 * `checkpointOnClose: 'auto'`): yes when the newest checkpoint is small
 * ({@link CLOSE_CHECKPOINT_FREE_BYTES}) or the WAL since it is at least
 * {@link CLOSE_CHECKPOINT_WAL_SHARE} of its size. Either way nothing
 * acknowledged is lost: the WAL is flushed and kept, and open replays it.
 */
export function closingCheckpointWorthIt(checkpointBytes: number, walBytesSince: number): boolean {
  return walBytesSince > 0 && (checkpointBytes < CLOSE_CHECKPOINT_FREE_BYTES || walBytesSince >= checkpointBytes * CLOSE_CHECKPOINT_WAL_SHARE);
}

/**
 * A database directory in use: its lock, the WAL writer, and the checkpoint
 * and pruning policy. Knows commit records and checkpoint entries, never the
 * store.
 */
export class Persistence {
  #walFloor: (() => Version) | undefined;
  readonly #fs: FileSystem;
  readonly #options: PersistenceOptions;
  readonly #lock: DirectoryLock;
  readonly #wal: WalWriter;
  #walBytesAtCheckpoint = 0;
  /** Like `#walBytesAtCheckpoint`, but moved only by checkpoints written (not by failed ones). */
  #walBytesAtLastCheckpoint = 0;
  #checkpointing: Promise<CheckpointWritten | undefined> | undefined;
  #checkpointQueue: Promise<unknown> = Promise.resolve();
  #checkpoints = 0;
  #lastCheckpointVersion: Version;
  #lastCheckpointMs = 0;
  /** Size of the newest checkpoint file (0: none). */
  #checkpointBytes: number;
  #bytesReclaimed = 0;
  #closed = false;

  private constructor(fs: FileSystem, options: PersistenceOptions, lock: DirectoryLock, wal: WalWriter, recovered: Recovered, checkpointBytes: number) {
    this.#fs = fs;
    this.#checkpointBytes = checkpointBytes;
    this.#options = options;
    this.#lock = lock;
    this.#wal = wal;
    this.#lastCheckpointVersion = recovered.newestCheckpointVersion;
    // WAL left by earlier runs counts too: a process that never lives long enough to
    // write checkpointWalBytes itself must not let the WAL grow across restarts.
    this.#walBytesAtCheckpoint = -recovered.walBytesReplayed;
    this.#walBytesAtLastCheckpoint = -recovered.walBytesReplayed;
  }

  /** Locks the directory, recovers its state, and starts a new WAL segment after it. */
  static async open(options: PersistenceOptions): Promise<{ persistence: Persistence; recovered: Recovered }> {
    try {
      return await Persistence.#open(options);
    } catch (error) {
      if (error instanceof EpochError) throw error;
      throw new IoError(`cannot open database directory ${options.dir}: ${(error as Error).message}`, { cause: error });
    }
  }

  static async #open(options: PersistenceOptions): Promise<{ persistence: Persistence; recovered: Recovered }> {
    const fs = options.fs ?? nodeFileSystem;
    // The one mkdir and listing of an open: the foreign-directory check before the lock, recovery after it.
    await fs.mkdir(options.dir);
    const listing = await DirectoryListing.read(fs, options.dir);
    assertNotForeign(listing, options.dir);
    const lock = await DirectoryLock.acquire(fs, options.dir);
    try {
      const recovered = await recover({ fs, dir: options.dir, mode: options.recovery, onEvent: options.onRecoveryEvent, listing, historyVersions: options.historyVersions });
      const wal = await WalWriter.create({ fs, dir: options.dir, segmentBytes: options.walSegmentBytes, syncIntervalMs: options.syncIntervalMs }, recovered.version + 1);
      const checkpointBytes = recovered.checkpointVersion > 0 ? ((await fs.size(join(options.dir, checkpointName(recovered.checkpointVersion)))) ?? 0) : 0;
      return { persistence: new Persistence(fs, options, lock, wal, recovered, checkpointBytes), recovered };
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** The error that made the WAL read-only, if any. */
  get failed(): Error | undefined {
    return this.#wal.failed;
  }

  /** Appends a commit record; resolves when it is as durable as `sync` (or the default) asks. */
  append(record: CommitRecord, sync: SyncMode | undefined): Promise<void> {
    return this.#wal.append(record, sync ?? this.#options.sync);
  }

  /** Resolves when everything appended so far is on disk (fdatasync'ed). */
  flushed(): Promise<void> {
    return this.#wal.flushed();
  }

  /**
   * Whether the WAL since the last checkpoint has passed `checkpointWalBytes`
   * (and no failed checkpoint asked to wait: after a failure the next attempt
   * waits for another `checkpointWalBytes` of WAL, so a full disk is not
   * hammered by a checkpoint per commit).
   */
  get checkpointDue(): boolean {
    return this.#checkpointing === undefined && this.#wal.bytesAppended - this.#walBytesAtCheckpoint >= this.#options.checkpointWalBytes;
  }

  /** Records a failed automatic checkpoint: the next one waits for another threshold's worth of WAL. */
  checkpointFailed(): void {
    this.#walBytesAtCheckpoint = this.#wal.bytesAppended;
  }

  /**
   * Whether a checkpoint at close is worth writing ({@link closingCheckpointWorthIt}
   * on the newest checkpoint's size and the WAL appended since it).
   */
  get closingCheckpointWorthIt(): boolean {
    return closingCheckpointWorthIt(this.#checkpointBytes, this.#wal.bytesAppended - this.#walBytesAtLastCheckpoint);
  }

  /** Whether a checkpoint is being written. */
  get checkpointing(): boolean {
    return this.#checkpointing !== undefined;
  }

  stats(): PersistenceStats {
    return {
      walBytesSinceCheckpoint: this.#wal.bytesAppended - this.#walBytesAtCheckpoint,
      walSyncs: this.#wal.syncs,
      checkpoints: this.#checkpoints,
      lastCheckpointVersion: this.#lastCheckpointVersion,
      lastCheckpointMs: this.#lastCheckpointMs,
      bytesReclaimed: this.#bytesReclaimed,
      checkpointing: this.#checkpointing !== undefined,
    };
  }

  /**
   * Writes the state at `version` (`entries`, in key order) as a checkpoint,
   * reads it back and verifies it whole, then deletes what it makes
   * redundant: the WAL segments wholly at or below `version`, and checkpoints
   * before the previous one. So when it resolves, the disk holds this
   * checkpoint, the WAL after it, and the previous checkpoint (a last resort
   * for salvage). One checkpoint runs at a time; a
   * checkpoint at or below the newest one's version writes nothing (resolves
   * to `undefined`).
   */
  async checkpoint(version: Version, entries: Iterable<CheckpointEntry>, structures: readonly StructureKeys[]): Promise<CheckpointWritten | undefined> {
    return this.#enqueue(() => this.#runCheckpoint(version, entries, structures));
  }

  /**
   * Runs checkpoints one behind the other: two at once would write the same
   * temporary file and prune the same segments.
   */
  async #enqueue(task: () => Promise<CheckpointWritten | undefined>): Promise<CheckpointWritten | undefined> {
    const run = this.#checkpointQueue.then(task).catch((error: unknown) => {
      // Listing the directory or rotating the WAL can fail too: always a typed error.
      if (error instanceof EpochError) throw error;
      throw new IoError(`checkpoint failed: ${(error as Error).message}`, { cause: error });
    });
    this.#checkpointQueue = run.catch(() => undefined);
    this.#checkpointing = run;
    try {
      return await run;
    } finally {
      if (this.#checkpointing === run) this.#checkpointing = undefined;
    }
  }

  async #runCheckpoint(version: Version, entries: Iterable<CheckpointEntry>, structures: readonly StructureKeys[]): Promise<CheckpointWritten | undefined> {
    // Nothing committed since the newest checkpoint: it already holds this state.
    if (version <= this.#lastCheckpointVersion) return undefined;
    const walBytes = this.#wal.bytesAppended;
    // Later commits go to a new segment, so the old ones become deletable as a whole.
    await this.#wal.rotate();
    // The WAL must hold everything up to `version` before its checkpoint can supersede anything.
    await this.#wal.flushed();
    return this.#install(version, walBytes, async () => {
      const written = await writeCheckpoint(this.#fs, join(this.#options.dir, checkpointName(version)), version, entries, this.#options.dir, structures);
      await verifyWritten(this.#fs, written);
      return written;
    });
  }

  /**
   * Checkpoints from files: rotates the WAL (the version of its last closed
   * record becomes the checkpoint's), plans the merge of the previous
   * checkpoint with the closed segments, and hands the plan to `build` (a
   * worker, or {@link buildCheckpoint} inline); then prunes as
   * {@link checkpoint} does. Queued with other checkpoints. Resolves to
   * `undefined` when nothing was committed since the last checkpoint.
   */
  async checkpointFromWal(now: number, build: (plan: CheckpointPlan) => Promise<CheckpointWritten>): Promise<CheckpointWritten | undefined> {
    return this.#enqueue(async () => {
      const walBytes = this.#wal.bytesAppended;
      const version = await this.#wal.rotate();
      if (version <= this.#lastCheckpointVersion) return undefined;
      const baseVersion = this.#lastCheckpointVersion;
      const segments = (await DirectoryListing.read(this.#fs, this.#options.dir)).segments;
      const plan: CheckpointPlan = {
        dir: this.#options.dir,
        base: baseVersion > 0 ? checkpointName(baseVersion) : undefined,
        baseVersion,
        // Segments holding records after the base up to `version` (the new segment starts after it).
        segments: segments.filter((s, i) => s.first <= version && (segments[i + 1]?.first ?? Infinity) - 1 > baseVersion).map((s) => s.name),
        version,
        now,
      };
      return this.#install(version, walBytes, () => build(plan));
    });
  }

  /** Writes (and verifies) a checkpoint with `write`, then makes it the newest and prunes what it covers. */
  async #install(version: Version, walBytes: number, write: () => Promise<CheckpointWritten>): Promise<CheckpointWritten> {
    const started = performance.now();
    let written: CheckpointWritten;
    try {
      written = await write();
    } catch (error) {
      // Whatever the failed build left behind (after a success, #prune clears it).
      await DirectoryListing.read(this.#fs, this.#options.dir).then((listing) => this.#removeTemporaryFiles(listing)).catch(() => undefined);
      if (error instanceof EpochError) throw error;
      // The WAL is still complete and authoritative: the database stays writable.
      throw new IoError(`checkpoint at version ${version} could not be written: ${(error as Error).message}`, { cause: error });
    }
    const previous = this.#lastCheckpointVersion;
    this.#lastCheckpointVersion = version;
    this.#checkpointBytes = written.bytes;
    this.#walBytesAtCheckpoint = walBytes;
    this.#walBytesAtLastCheckpoint = walBytes;
    this.#checkpoints++;
    try {
      await this.#prune(previous, version);
    } catch (error) {
      throw new IoError(`pruning after the checkpoint at version ${version} failed: ${(error as Error).message}`, { cause: error });
    }
    this.#lastCheckpointMs = performance.now() - started;
    return written;
  }

  /**
   * Deletes, among `names`, the temporary files of checkpoint builds that
   * died mid-write (a crashed worker). Checkpoints run one at a time, so none
   * belongs to a build still running.
   */
  async #removeTemporaryFiles(listing: DirectoryListing): Promise<void> {
    for (const name of listing.temporaries) {
      if (name.startsWith('checkpoint-')) await this.#fs.unlink(join(this.#options.dir, name));
    }
  }

  /**
   * After the (verified) checkpoint at `newest`: deletes the WAL segments whose
   * records all lie at or below it (and below the history base, with
   * `historyVersions`), checkpoints older than `previous` but the history base, and
   * leftover temporary files of earlier builds. The previous checkpoint stays
   * as a last resort for salvage recovery (the WAL between the two is gone,
   * so strict recovery does not fall back to it). The WAL goes first: should
   * the process die in between, the newest checkpoint and the WAL after it
   * are complete.
   */
  async #prune(previous: Version, newest: Version): Promise<void> {
    const listing = await DirectoryListing.read(this.#fs, this.#options.dir);
    await this.#removeTemporaryFiles(listing).catch(() => undefined);
    const segments = listing.segments;
    const doomed: string[] = [];
    // WAL someone still needs (records not yet shipped to replicas) stays, checkpoint or not.
    const history = historyKeep(
      listing.checkpoints.map((c) => c.version),
      newest,
      this.#options.historyVersions ?? 0,
      segments[0]?.first ?? newest + 1,
    );
    const covered = Math.min(newest, this.#walFloor?.() ?? newest, history.walAfter);
    for (let i = 0; i + 1 < segments.length; i++) {
      if (segments[i + 1]!.first - 1 <= covered) doomed.push(segments[i]!.name);
    }
    // Kept: the newest, the previous (for salvage) and the history base.
    for (const checkpoint of listing.checkpoints) if (checkpoint.version < previous && checkpoint.version !== history.checkpoint) doomed.push(checkpoint.name);
    for (const name of doomed) {
      const path = join(this.#options.dir, name);
      const bytes = (await this.#fs.size(path)) ?? 0;
      await this.#fs.unlink(path);
      this.#bytesReclaimed += bytes;
    }
    if (doomed.length > 0) await this.#fs.syncDir(this.#options.dir);
  }

  /**
   * Keeps the WAL records above `floor()` when checkpoints prune (replication
   * reads what it has not shipped yet from the WAL): pruning deletes only
   * segments wholly at or below both the new checkpoint and the floor.
   */
  retainWalAbove(floor: () => Version): void {
    this.#walFloor = floor;
  }

  /** Flushes the WAL, closes it and releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#checkpointing !== undefined) await this.#checkpointing.catch(() => undefined);
      await this.#wal.close();
    } finally {
      await this.#lock.release();
    }
  }
}

/**
 * Writes a complete database directory at `dest` holding `entries` as its
 * checkpoint at `version`: what `open({ dir: dest })` opens as a normal
 * database. `dest` must not exist or be empty.
 */
export async function writeBackup(
  dest: string,
  version: Version,
  entries: Iterable<CheckpointEntry>,
  structures: readonly StructureKeys[],
  fs: FileSystem = nodeFileSystem,
): Promise<CheckpointWritten> {
  try {
    await fs.mkdir(dest);
    const existing = await fs.readdir(dest);
    if (existing.length > 0) throw new InvalidOptionError(`backup(): destination ${dest} is not empty`);
    const written = await writeCheckpoint(fs, join(dest, checkpointName(version)), version, entries, dest, structures);
    // The marker last: a backup cut short by a crash is not an EpochDB directory, so it
    // can never be mistaken for a complete (or empty) database.
    await writeMarker(fs, dest);
    return written;
  } catch (error) {
    if (error instanceof EpochError) throw error;
    throw new IoError(`backup(): cannot write to ${dest}: ${(error as Error).message}`, { cause: error });
  }
}
