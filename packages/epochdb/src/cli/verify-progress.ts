import { basename } from 'node:path';
import type { FileHandle, FileSystem } from '@epochdb/core';

/** Where verification is: bytes read so far of all files, and the file being read. */
export interface VerifyProgress {
  readonly bytesDone: number;
  readonly file: string;
}

/**
 * Wraps a file system so that what `verifyDirectory` reads can be watched:
 * `onFile` when it starts on a file, `onProgress` after every read. Bytes are
 * counted per file up to `sizes[file]`, and a file left early (damage found)
 * counts in full, so progress ends at the total.
 *
 * The library's `verifyDirectory` takes no progress callback; watching its
 * reads gives byte-level progress without one.
 */
export function watchReads(fs: FileSystem, sizes: ReadonlyMap<string, number>, onFile: (file: string) => void, onProgress: (progress: VerifyProgress) => void): FileSystem {
  let finished = 0;
  let current: string | undefined;
  let currentBytes = 0;
  const sizeOf = (file: string): number => sizes.get(file) ?? 0;
  const start = (path: string): string => {
    const file = basename(path);
    if (file !== current) {
      if (current !== undefined) finished += sizeOf(current);
      current = file;
      currentBytes = 0;
      onFile(file);
    }
    return file;
  };
  const advance = (file: string, bytes: number): void => {
    currentBytes = Math.min(sizeOf(file), currentBytes + bytes);
    onProgress({ bytesDone: finished + currentBytes, file });
  };
  return {
    async open(path, flags, mode): Promise<FileHandle> {
      const file = start(path);
      const handle = await fs.open(path, flags, mode);
      const writeDurable = handle.writeDurable?.bind(handle);
      return {
        ...(writeDurable === undefined ? {} : { writeDurable }),
        write: (data, position) => handle.write(data, position),
        datasync: () => handle.datasync(),
        truncate: (length) => handle.truncate(length),
        size: () => handle.size(),
        close: () => handle.close(),
        async read(position, length) {
          const bytes = await handle.read(position, length);
          advance(file, bytes.byteLength);
          return bytes;
        },
      };
    },
    async readFile(path) {
      const file = start(path);
      const bytes = await fs.readFile(path);
      advance(file, bytes.byteLength);
      return bytes;
    },
    readdir: (path) => fs.readdir(path),
    mkdir: (path, mode) => fs.mkdir(path, mode),
    rename: (from, to) => fs.rename(from, to),
    unlink: (path) => fs.unlink(path),
    size: (path) => fs.size(path),
    syncDir: (path) => fs.syncDir(path),
  };
}
