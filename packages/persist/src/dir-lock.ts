import { hostname } from 'node:os';
import { join } from 'node:path';
import { IoError, LockedError } from '@epochdb/core';
import type { FileSystem } from './file-system.js';

import { LOCK_FILE } from './directory-layout.js';

export { LOCK_FILE };

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
    for (let attempt = 0; attempt < TAKEOVER_ATTEMPTS; attempt++) {
      if (await createExclusive(fs, path, me)) return new DirectoryLock(fs, path);
      const holder = await readHolderPatiently(fs, path);
      if (holder === MISSING) continue;
      if (holder !== undefined && !isStale(holder, me.host)) throw lockedBy(dir, holder, me.host);
      // The holder is gone. Replacing its lock is serialised by a second exclusive
      // file, the takeover token: only its owner may delete LOCK, and only after
      // checking (while holding the token) that LOCK is still the stale one. A live
      // lock is never moved or deleted.
      const token = join(dir, TAKEOVER_FILE);
      if (!(await createExclusive(fs, token, me))) {
        const owner = await readHolderPatiently(fs, token);
        if (owner === MISSING) continue;
        if (owner === undefined || isStale(owner, me.host)) await fs.unlink(token).catch(() => undefined);
        else await new Promise((resolve) => setTimeout(resolve, TAKEOVER_WAIT_MS));
        continue;
      }
      try {
        const current = await readHolder(fs, path);
        if (current !== MISSING && (current === undefined ? holder === undefined : isStale(current, me.host) && sameHolder(current, holder))) {
          await fs.unlink(path).catch(() => undefined);
        }
      } finally {
        await fs.unlink(token).catch(() => undefined);
      }
    }
    throw new LockedError(`database directory ${dir} is locked: another process kept taking the lock while a stale one was being replaced`);
  }

  /** Removes the lock file. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.#fs.unlink(this.#path).catch(() => undefined);
  }
}

/** The file that serialises the takeover of a stale lock. */
export const TAKEOVER_FILE = 'LOCK.takeover';
const TAKEOVER_ATTEMPTS = 100;
const TAKEOVER_WAIT_MS = 10;

/** Creates `path` with O_EXCL holding `me`; false if it already exists. */
async function createExclusive(fs: FileSystem, path: string, me: Holder): Promise<boolean> {
  let handle;
  try {
    handle = await fs.open(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new IoError(`cannot create lock file ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    await handle.write(Buffer.from(JSON.stringify(me)), 0);
    await handle.datasync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    // A lock we could not complete is no lock: left behind, it would name this live process
    // and refuse every later open in it.
    await fs.unlink(path).catch(() => undefined);
    throw new IoError(`cannot write lock file ${path}: ${(error as Error).message}`, { cause: error });
  }
  await handle.close();
  return true;
}

function sameHolder(a: Holder, b: Holder | undefined): boolean {
  return b !== undefined && a.pid === b.pid && a.host === b.host && a.since === b.since;
}

function isStale(holder: Holder, host: string): boolean {
  return holder.host === host && !isAlive(holder.pid);
}

function lockedBy(dir: string, holder: Holder, host: string): LockedError {
  const who = holder.pid === process.pid && holder.host === host ? 'this process' : `process ${holder.pid} on ${holder.host}`;
  return new LockedError(`database directory ${dir} is locked by ${who} (since ${holder.since}); close that database first`);
}

/** How long an unreadable lock file gets to be finished by the process writing it before it counts as stale. */
const LOCK_WRITE_GRACE_MS = 100;

/** Reads the holder; an unreadable file may be one another process is writing right now, so look again a little later. */
async function readHolderPatiently(fs: FileSystem, path: string): Promise<Holder | typeof MISSING | undefined> {
  const holder = await readHolder(fs, path);
  if (holder !== undefined) return holder;
  await new Promise((resolve) => setTimeout(resolve, LOCK_WRITE_GRACE_MS));
  return readHolder(fs, path);
}

/** The lock file does not exist (its holder just closed): simply try to create it again. */
const MISSING = 'missing';

/** The holder named in a lock file; {@link MISSING} if there is none; `undefined` if it is unreadable or half-written. */
async function readHolder(fs: FileSystem, path: string): Promise<Holder | typeof MISSING | undefined> {
  let text: string;
  try {
    text = (await fs.readFile(path)).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return MISSING;
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<Holder>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') return { pid: parsed.pid, host: parsed.host, since: String(parsed.since) };
  } catch {
    // Half-written: the grace period in readHolderPatiently decides.
  }
  return undefined;
}
