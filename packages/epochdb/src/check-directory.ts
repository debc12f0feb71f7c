import { dirname } from 'node:path';
import { InvalidOptionError, type FileSystem } from '@epochdb/core';

/**
 * Refuses a `dir` that is a file, and (unless `createParents`) one whose
 * parent does not exist, with messages that say so; other failures are left
 * to opening, which reports them as `IO_ERROR`.
 */
export async function checkDirectory(fs: FileSystem, dir: string, createParents: boolean): Promise<void> {
  const problem = await listingProblem(fs, dir);
  if (problem === 'ENOTDIR') throw new InvalidOptionError(`open(): options.dir ${JSON.stringify(dir)} is not a directory (a file, or a path through one)`);
  if (problem !== 'ENOENT' || createParents) return;
  const parent = dirname(dir);
  const parentProblem = await listingProblem(fs, parent);
  if (parentProblem === 'ENOENT') {
    throw new InvalidOptionError(`open(): options.dir ${JSON.stringify(dir)}: its parent directory ${JSON.stringify(parent)} does not exist (only the last directory is created; pass createParents: true to create the whole path)`);
  }
  if (parentProblem === 'ENOTDIR') throw new InvalidOptionError(`open(): options.dir ${JSON.stringify(dir)}: its parent ${JSON.stringify(parent)} is not a directory`);
}

/** The error code listing `path` fails with, or `undefined` when it lists. */
async function listingProblem(fs: FileSystem, path: string): Promise<string | undefined> {
  try {
    await fs.readdir(path);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'unknown';
  }
}
