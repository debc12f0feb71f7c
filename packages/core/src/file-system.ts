/** An open file: the operations persistence performs on one. */
export interface FileHandle {
  /** Writes all of `data` at `position` (or at the current end for files opened to append). */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Reads up to `length` bytes at `position` into a new buffer (shorter at end of file). */
  read(position: number, length: number): Promise<Buffer>;
  /**
   * Optional: writes all of `data` at `position` and returns only once it is on
   * stable storage (as with O_DSYNC): one system call instead of write + fdatasync.
   * Earlier, unsynced writes are not covered.
   */
  writeDurable?(data: Uint8Array, position: number): Promise<void>;
  /** fdatasync: the data (and the size) reach stable storage. */
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The file-system operations `@epochdb/persist` uses, and nothing else. The
 * real one is {@link nodeFileSystem}; tests substitute one that fails or
 * crashes on demand.
 */
export interface FileSystem {
  /** `'r'` read, `'r+'` read/write, `'w'` create or truncate, `'wx'` create exclusively. */
  open(path: string, flags: 'r' | 'r+' | 'w' | 'wx', mode?: number): Promise<FileHandle>;
  readFile(path: string): Promise<Buffer>;
  readdir(path: string): Promise<string[]>;
  mkdir(path: string, mode?: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Size of a file, or `undefined` when it does not exist. */
  size(path: string): Promise<number | undefined>;
  /** fsync a directory, so that creations, renames and deletions in it are durable. */
  syncDir(path: string): Promise<void>;
}
