import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DAMAGED_DIR, parseCheckpointName, parseSegmentName } from '@epochdb/persist';

/** The files of a database directory, by kind, with their sizes. */
export interface DirectoryFiles {
  readonly checkpoints: number;
  readonly checkpointBytes: number;
  readonly segments: number;
  readonly walBytes: number;
  /** Files salvage recovery moved into `damaged/`. */
  readonly damagedFiles: number;
}

/** Counts and measures the checkpoints and WAL segments of `dir` (and what `damaged/` holds); files deleted between the listing and their measure (a live writer's checkpoint) are left out. */
export async function directoryFiles(dir: string): Promise<DirectoryFiles> {
  let checkpoints = 0;
  let checkpointBytes = 0;
  let segments = 0;
  let walBytes = 0;
  for (const name of await readdir(dir)) {
    const isCheckpoint = parseCheckpointName(name) !== undefined;
    const isSegment = !isCheckpoint && parseSegmentName(name) !== undefined;
    if (!isCheckpoint && !isSegment) continue;
    // A live directory: a checkpoint of the writing process may delete what was just listed.
    const size = await stat(join(dir, name)).then(
      (info) => info.size,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      },
    );
    if (size === undefined) continue;
    if (isCheckpoint) {
      checkpoints++;
      checkpointBytes += size;
    } else {
      segments++;
      walBytes += size;
    }
  }
  const damagedFiles = await readdir(join(dir, DAMAGED_DIR)).then(
    (names) => names.length,
    () => 0,
  );
  return { checkpoints, checkpointBytes, segments, walBytes, damagedFiles };
}
