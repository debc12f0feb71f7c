import { hostname } from 'node:os';
import { join } from 'node:path';
import { IoError, LockedError } from '@epochdb/core';
import type { FileSystem } from './file-system.js';

export const LOCK_FILE = 'LOCK';

interface Holder {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

/** Whether a process with `pid` is alive on this machine. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Exclusive use of a database directory: a `LOCK` file created with O_EXCL,
 * holding the owner's pid and host. A lock whose owner process is gone (on
 * this host) is taken over; a live owner, in this process or another, gets a
 * {@link LockedError} naming it.
 */
export class DirectoryLock {
  readonly #fs: FileSystem;
  readonly #path: string;
  #released = false;

  private constructor(fs: FileSystem, path: string) {
    this.#fs = fs;
    this.#path = path;
  }

  static async acquire(fs: FileSystem, dir: string): Promise<DirectoryLock> {
    const path = join(dir, LOCK_FILE);
    const me: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await fs.open(path, 'wx');
        try {
          await handle.write(Buffer.from(JSON.stringify(me)), 0);
          await handle.datasync();
        } finally {
          await handle.close();
        }
        return new DirectoryLock(fs, path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new IoError(`cannot create lock file ${path}: ${(error as Error).message}`, { cause: error });
      }
      const holder = await readHolder(fs, path);
      if (holder !== undefined && (holder.host !== me.host || isAlive(holder.pid))) {
        const who = holder.pid === process.pid && holder.host === me.host ? 'this process' : `process ${holder.pid} on ${holder.host}`;
        throw new LockedError(`database directory ${dir} is locked by ${who} (since ${holder.since}); close that database first`);
      }
      // The holder is dead (or the lock is unreadable, i.e. it died while writing it): take over.
      await fs.unlink(path).catch(() => undefined);
    }
    throw new LockedError(`database directory ${dir} is locked: another process took the lock while a stale one was being replaced`);
  }

  /** Removes the lock file. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.#fs.unlink(this.#path).catch(() => undefined);
  }
}

async function readHolder(fs: FileSystem, path: string): Promise<Holder | undefined> {
  try {
    const parsed = JSON.parse((await fs.readFile(path)).toString('utf8')) as Partial<Holder>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') return { pid: parsed.pid, host: parsed.host, since: String(parsed.since) };
  } catch {
    // Unreadable or half-written: treated as stale.
  }
  return undefined;
}
