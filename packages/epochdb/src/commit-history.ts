import { VersionUnavailableError, type CommitRecord, type FileSystem } from '@epochdb/core';
import { nodeFileSystem, readWalHistory, type Persistence } from '@epochdb/persist';
import type { RecentCommits } from './watch.js';

/** Where a database's commit history is: recent commits in memory, older ones in its WAL (if persistent). */
export interface HistorySources {
  readonly recent: RecentCommits;
  readonly persistence: Persistence | undefined;
  readonly dir: string | undefined;
  readonly fileSystem: FileSystem | undefined;
}

/**
 * Commit records in `(after, upTo]` for a change stream's history: from
 * memory when it still holds them all, else the WAL on disk for what memory
 * no longer holds, then memory. Throws `VERSION_UNAVAILABLE` when neither
 * reaches back to `after`.
 */
export function commitHistory(sources: HistorySources, after: number, upTo: number): CommitRecord[] | Promise<CommitRecord[]> {
  const { recent, persistence, dir, fileSystem } = sources;
  const inMemory = recent.read(after, upTo);
  if (inMemory !== undefined) return inMemory;
  if (dir === undefined) {
    throw new VersionUnavailableError(`watch(): changes after version ${after} are no longer retained in memory (a memory-only database keeps the commits of its last ${recent.capacity} operations)`);
  }
  const firstInMemory = recent.oldestVersion ?? upTo + 1;
  // Taken now: the records kept in memory may be trimmed while the WAL is read.
  const newer = firstInMemory <= upTo ? recent.read(firstInMemory - 1, upTo) : [];
  if (newer === undefined) throw new VersionUnavailableError(`watch(): changes after version ${after} are no longer retained`);
  // Commits still queued for the WAL are not in its files yet: wait for them first.
  const written = persistence?.flushed() ?? Promise.resolve();
  return written.then(async () => [...(await readWalHistory(fileSystem ?? nodeFileSystem, dir, after, Math.min(upTo, firstInMemory - 1))), ...newer]);
}
