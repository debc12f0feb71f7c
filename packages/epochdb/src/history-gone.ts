import { VersionUnavailableError, type Version } from '@epochdb/core';

/** What {@link historyGone} needs to know about the database. */
export interface HistoryFacts {
  /** The oldest version `snapshotAt` can read now. */
  readonly oldest: Version;
  /** The newest committed version. */
  readonly newest: Version;
  readonly retainVersions: number;
  /** The checkpoint version the database was opened from (0: none, or memory-only). */
  readonly openedFrom: Version;
}

/**
 * The error for `snapshotAt(version)` below the oldest retained version,
 * saying which of the three reasons applies: history older than the
 * checkpoint the database was opened from (its files did not keep it), the
 * `retainVersions` window, or version
 * GC with no retention at all.
 */
export function historyGone(version: Version, facts: HistoryFacts, cause: unknown): VersionUnavailableError {
  const { oldest, newest, retainVersions, openedFrom } = facts;
  let why: string;
  if (version < openedFrom && version >= newest - retainVersions) {
    why =
      `the database was opened from a checkpoint at version ${openedFrom}, which holds only the newest version of each key: ` +
      `its files kept no history before it (they were written with a smaller retainVersions than ${retainVersions}, or the older checkpoint that carried it was damaged)`;
  } else if (retainVersions > 0) {
    why = `it is more than retainVersions (${retainVersions}) behind the newest version ${newest}, and no open snapshot pins it`;
  } else {
    why = 'history below it was garbage-collected; pin it with an open snapshot, or set retainVersions';
  }
  return new VersionUnavailableError(`snapshotAt(): version ${version} is older than the oldest retained version ${oldest}: ${why}`, { cause });
}
