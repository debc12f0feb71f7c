import { constants } from 'node:fs';
import * as fsp from 'node:fs/promises';

import type { FileHandle, FileSystem } from '@epochdb/core';

export type { FileHandle, FileSystem };

class NodeFileHandle implements FileHandle {
  readonly #handle: fsp.FileHandle;

  constructor(handle: fsp.FileHandle) {
    this.#handle = handle;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.byteLength) {
      const { bytesWritten } = await this.#handle.write(data, done, data.byteLength - done, position + done);
      done += bytesWritten;
    }
  }

  async read(position: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.#handle.read(buffer, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === length ? buffer : buffer.subarray(0, done);
  }

  datasync(): Promise<void> {
    return this.#handle.datasync();
  }

  truncate(length: number): Promise<void> {
    return this.#handle.truncate(length);
  }

  async size(): Promise<number> {
    return (await this.#handle.stat()).size;
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}

/** The real file system (`node:fs/promises`). */
export const nodeFileSystem: FileSystem = Object.freeze({
  async open(path: string, flags: 'r' | 'r+' | 'w' | 'wx', mode = 0o600): Promise<FileHandle> {
    return new NodeFileHandle(await fsp.open(path, flags, mode));
  },
  readFile: (path: string) => fsp.readFile(path),
  readdir: (path: string) => fsp.readdir(path),
  async mkdir(path: string, mode = 0o700): Promise<void> {
    await fsp.mkdir(path, { recursive: true, mode });
  },
  rename: (from: string, to: string) => fsp.rename(from, to),
  unlink: (path: string) => fsp.unlink(path),
  async size(path: string): Promise<number | undefined> {
    try {
      return (await fsp.stat(path)).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  },
  async syncDir(path: string): Promise<void> {
    const handle = await fsp.open(path, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
});
