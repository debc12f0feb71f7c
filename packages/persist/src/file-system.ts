import { closeSync, constants, openSync, write as writeCallback } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname } from 'node:path';

import type { FileHandle, FileSystem } from '@epochdb/core';

export type { FileHandle, FileSystem };

async function writeAll(handle: fsp.FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await handle.write(data, done, data.byteLength - done, position + done);
    done += bytesWritten;
  }
}

class NodeFileHandle implements FileHandle {
  readonly #handle: fsp.FileHandle;
  readonly #path: string;
  /** A second descriptor opened O_DSYNC, for durable writes in one system call. */
  #dsync: number | undefined;

  constructor(handle: fsp.FileHandle, path: string) {
    this.#handle = handle;
    this.#path = path;
  }

  write(data: Uint8Array, position: number): Promise<void> {
    return writeAll(this.#handle, data, position);
  }

  writeDurable(data: Uint8Array, position: number): Promise<void> {
    // The callback API on a raw descriptor: durable commits are latency-bound, and
    // this skips a layer of promises that FileHandle adds to every call.
    this.#dsync ??= openSync(this.#path, constants.O_WRONLY | constants.O_DSYNC);
    const fd = this.#dsync;
    return new Promise((resolve, reject) => {
      const step = (done: number): void => {
        writeCallback(fd, data, done, data.byteLength - done, position + done, (error, written) => {
          if (error !== null) reject(error);
          else if (done + written < data.byteLength) step(done + written);
          else resolve();
        });
      };
      step(0);
    });
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

  async close(): Promise<void> {
    const dsync = this.#dsync;
    this.#dsync = undefined;
    try {
      if (dsync !== undefined) closeSync(dsync);
    } finally {
      await this.#handle.close();
    }
  }
}

/**
 * `mkdir -p`, one level at a time. (Node's `recursive: true` loops forever
 * under `/proc`, where creating a directory fails with ENOENT for ever.)
 */
async function makeDirectory(path: string, mode: number, depth = 0): Promise<void> {
  try {
    await fsp.mkdir(path, { mode });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if ((await fsp.stat(path)).isDirectory()) return;
      throw error;
    }
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path || depth > 256) throw error;
    await makeDirectory(parent, mode, depth + 1);
    await fsp.mkdir(path, { mode }).catch(async (retry: NodeJS.ErrnoException) => {
      if (retry.code !== 'EEXIST' || !(await fsp.stat(path)).isDirectory()) throw retry;
    });
  }
}

/** The real file system (`node:fs/promises`). */
export const nodeFileSystem: FileSystem = Object.freeze({
  async open(path: string, flags: 'r' | 'r+' | 'w' | 'wx', mode = 0o600): Promise<FileHandle> {
    return new NodeFileHandle(await fsp.open(path, flags, mode), path);
  },
  readFile: (path: string) => fsp.readFile(path),
  readdir: (path: string) => fsp.readdir(path),
  mkdir: (path: string, mode = 0o700) => makeDirectory(path, mode),
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
