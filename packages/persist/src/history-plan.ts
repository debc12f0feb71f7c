import type { Version } from '@epochdb/core';
import type { CheckpointFile, DirectoryListing } from './directory-layout.js';

/**
 * Retained history across restarts (`retainVersions`), kept as files that
 * exist anyway: an older checkpoint (the *history base*, at or below the
 * newest version minus `historyVersions`) and the WAL after it. Opening
 * loads the base and replays the WAL from there, so the store holds every
 * version since the base again. Pure plans: which checkpoint to load, what
 * pruning keeps.
 */

/** Where recovery starts to rebuild history: a checkpoint, or `'empty'` (version 0, when the WAL still starts at version 1). */
export type HistoryBase = CheckpointFile | 'empty';

/**
 * The checkpoint recovery loads to bring `historyVersions` of history back
 * (`undefined`: the newest one, as without history). The WAL must go on
 * from it: only checkpoints at or after the oldest segment's first version
 * minus one qualify. Among them the newest at or below the newest segment's
 * start minus `historyVersions` (every version the window can reach lies
 * after it), else the oldest (as much history as the files hold).
 */
export function historyBase(listing: DirectoryListing, historyVersions: number): HistoryBase | undefined {
  const segments = listing.segments;
  const newest = listing.checkpoints[0];
  if (historyVersions <= 0 || newest === undefined || segments.length === 0) return undefined;
  const walFrom = segments[0]!.first;
  // The newest version is at least this (the newest segment's first record may not be written yet).
  const atLeast = segments.at(-1)!.first - 1;
  const replayable = listing.checkpoints.filter((c) => c.version >= walFrom - 1);
  const enough = replayable.find((c) => c.version <= atLeast - historyVersions);
  const base: HistoryBase | undefined = enough ?? (walFrom === 1 ? 'empty' : replayable.at(-1));
  if (base === undefined || base === newest) return undefined;
  return base;
}

/** What pruning after a checkpoint at `newest` keeps for history: the WAL after `walAfter`, and the checkpoint `checkpoint` (0: none needed). */
export interface HistoryKeep {
  readonly walAfter: Version;
  readonly checkpoint: Version;
}

/**
 * The history base to keep after a checkpoint at `newest`: the newest
 * checkpoint at or below `newest - historyVersions` (a later crash or close
 * is at `newest` or beyond, so its window starts no earlier), and the WAL
 * after it. With no such checkpoint, as much as the files still hold: all of
 * the WAL while it starts at version 1, else the oldest checkpoint it goes on
 * from. `checkpoints`: the versions in the directory, the new one included;
 * `walFrom`: the first version of the oldest WAL segment.
 */
export function historyKeep(checkpoints: readonly Version[], newest: Version, historyVersions: number, walFrom: Version): HistoryKeep {
  if (historyVersions <= 0) return { walAfter: newest, checkpoint: 0 };
  const limit = newest - historyVersions;
  // Only a checkpoint the WAL goes on from can be replayed forward.
  const replayable = checkpoints.filter((v) => v >= walFrom - 1);
  const covering = replayable.filter((v) => v <= limit);
  if (covering.length > 0) {
    const base = Math.max(...covering);
    return { walAfter: base, checkpoint: base };
  }
  if (walFrom <= 1) return { walAfter: 0, checkpoint: 0 };
  const oldest = Math.min(...replayable, newest);
  return { walAfter: oldest, checkpoint: oldest };
}
