/**
 * A simulated in-memory file system implementing exactly the `FileSystem` /
 * `FileHandle` interfaces `@epochdb/persist` uses, for deterministic crash
 * simulation. All randomness comes from one seeded PRNG.
 *
 * ## Model of durability
 *
 * Files are inodes. Each inode has its current content (what reads see) and
 * its *durable* content (what survives a power loss), plus the list of data
 * operations (writes, truncations) made since its last `datasync()`:
 *
 * - `write` changes the current content only; the op is pending.
 * - `datasync` makes the current content (and size) durable; nothing pending.
 * - `writeDurable` (O_DSYNC) is applied and is durable by itself; earlier
 *   pending ops stay pending (as the interface documents).
 * - `truncate` (and opening an existing file with `'w'`) is a pending op too.
 *
 * Each directory has its current entries (name -> inode), its durable entries,
 * and the ordered list of entry operations since its last `syncDir()`:
 * creations, renames, unlinks. `syncDir` makes the current entries durable.
 * A rename inside one directory is one atomic op; a rename across directories
 * is an unlink in the source and a link in the destination, each pending in
 * its own directory (stricter than a journaling file system). Directories
 * themselves (`mkdir`) are durable at once (a simplification: persist never
 * relies on a directory's own creation being undone).
 *
 * ## Crashes
 *
 * `crash({ powerLoss: true })` returns a new file system holding the
 * post-crash state:
 * - per directory, the durable entries plus a random prefix of the pending
 *   entry ops (so unsynced creations, renames and unlinks may be undone, but
 *   in order);
 * - per reachable inode, the durable content plus a random prefix of the
 *   pending data ops, the last applied write possibly torn at a random byte;
 *   pending O_DSYNC writes are then re-applied (they were durable).
 * `crash({ powerLoss: false })` models a process crash (SIGKILL): everything
 * the "OS" accepted survives, i.e. the current state.
 *
 * `armCrash(k)` makes the k-th operation from now (0 = the next one) throw
 * and freezes the file system: that operation and every later one fail
 * (with code `ESIMCRASH`) and change nothing. Every `FileSystem` and
 * `FileHandle` method call is one operation.
 *
 * `inject({ op, code })` makes a chosen operation fail with an errno-style
 * error (`EIO`, `ENOSPC`, `EACCES`, ...) without crashing: a failed write or
 * writeDurable writes nothing (or a `partial` prefix, pending), a failed
 * datasync syncs nothing.
 */
import { basename, dirname, posix } from 'node:path';
import type { FileHandle, FileSystem } from '@epochdb/core';
import { prng } from './prng.js';

type DataOp = { readonly kind: 'write'; readonly position: number; readonly bytes: Buffer; readonly durable: boolean } | { readonly kind: 'truncate'; readonly length: number };

class Inode {
  data: Buffer = Buffer.alloc(0);
  durable: Buffer = Buffer.alloc(0);
  pending: DataOp[] = [];
}

type DirOp =
  | { readonly kind: 'link'; readonly name: string; readonly inode: Inode }
  | { readonly kind: 'unlink'; readonly name: string }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string };

class Dir {
  entries = new Map<string, Inode>();
  durable = new Map<string, Inode>();
  pending: DirOp[] = [];
}

export type SimOp =
  | 'open'
  | 'readFile'
  | 'readdir'
  | 'mkdir'
  | 'rename'
  | 'unlink'
  | 'size'
  | 'syncDir'
  | 'write'
  | 'writeDurable'
  | 'read'
  | 'datasync'
  | 'truncate'
  | 'handleSize'
  | 'close';

export interface SimFault {
  readonly op: SimOp;
  /** errno code of the error thrown: 'EIO', 'ENOSPC', 'EACCES', ... */
  readonly code: string;
  /** Only calls on paths for which this holds (default: all). */
  readonly path?: (path: string) => boolean;
  /** Let this many matching calls pass first (default 0). */
  skip?: number;
  /** How many matching calls fail (default 1; Infinity: all). */
  times?: number;
  /** For write / writeDurable: write this many bytes (unsynced) before failing. */
  readonly partial?: number;
}

export interface SimOptions {
  readonly seed: number;
  /** Offer `writeDurable` on handles (default true). */
  readonly durableWrites?: boolean;
}

const ERRNO: Record<string, number> = { ENOENT: -2, EIO: -5, EBADF: -9, EACCES: -13, EEXIST: -17, ENOTDIR: -20, EISDIR: -21, EINVAL: -22, ENOSPC: -28, ENOTEMPTY: -39 };

export function errnoError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated failure, ${syscall} '${path}'`), { code, errno: ERRNO[code] ?? -1, syscall, path });
}

/** Thrown by every operation once the simulated machine has crashed. */
export class SimulatedCrash extends Error {
  readonly code = 'ESIMCRASH';
  constructor(op: string, path: string) {
    super(`simulated crash: ${op} '${path}' did not happen`);
  }
}

function applyOp(content: Buffer, op: DataOp, tornAt?: number): Buffer {
  if (op.kind === 'truncate') {
    if (op.length <= content.length) return Buffer.from(content.subarray(0, op.length));
    return Buffer.concat([content, Buffer.alloc(op.length - content.length)]);
  }
  const bytes = tornAt === undefined ? op.bytes : op.bytes.subarray(0, tornAt);
  const end = op.position + bytes.length;
  const out = Buffer.alloc(Math.max(content.length, end));
  content.copy(out, 0);
  bytes.copy(out, op.position);
  return out;
}

export class SimFileSystem implements FileSystem {
  readonly seed: number;
  readonly durableWrites: boolean;
  readonly #random: () => number;
  readonly #dirs = new Map<string, Dir>();
  #ops = 0;
  #crashAt: number | undefined;
  #crashed = false;
  #faults: SimFault[] = [];
  /** Errors injected so far (op and code), for assertions. */
  readonly injected: { op: SimOp; code: string; path: string }[] = [];

  constructor(options: SimOptions) {
    this.seed = options.seed;
    this.durableWrites = options.durableWrites ?? true;
    this.#random = prng(options.seed);
    this.#dirs.set('/', new Dir());
  }

  // ------------------------------------------------------------ control

  /** Operations performed so far. */
  get ops(): number {
    return this.#ops;
  }

  /** Whether an armed crash has happened (every operation now fails). */
  get crashed(): boolean {
    return this.#crashed;
  }

  /** The `k`-th operation from now (0: the next) crashes the machine. */
  armCrash(k: number): void {
    this.#crashAt = this.#ops + k;
  }

  /** Cancels an armed crash that has not happened yet. */
  disarmCrash(): void {
    this.#crashAt = undefined;
  }

  /** Crashes now: every later operation fails. */
  crashNow(): void {
    this.#crashed = true;
  }

  inject(fault: SimFault): void {
    this.#faults.push({ ...fault, skip: fault.skip ?? 0, times: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.#faults = [];
  }

  /** A random integer in [0, n). */
  randomInt(n: number): number {
    return Math.floor(this.#random() * n);
  }

  /**
   * The machine's state after a crash, as a new file system (this one stays
   * frozen). Power loss: see the module comment. Process crash: the current state.
   */
  crash(options: { powerLoss: boolean; seed?: number }): SimFileSystem {
    this.#crashed = true;
    const next = new SimFileSystem({ seed: options.seed ?? this.randomInt(2 ** 31), durableWrites: this.durableWrites });
    const copies = new Map<Inode, Inode>();
    const copyInode = (inode: Inode): Inode => {
      let copy = copies.get(inode);
      if (copy !== undefined) return copy;
      copy = new Inode();
      let content: Buffer;
      if (!options.powerLoss) {
        content = inode.data;
      } else {
        content = inode.durable;
        const applied = this.randomInt(inode.pending.length + 1);
        for (let i = 0; i < applied; i++) {
          const op = inode.pending[i]!;
          const torn = i === applied - 1 && op.kind === 'write' && !op.durable && this.randomInt(2) === 0 ? this.randomInt(op.bytes.length + 1) : undefined;
          content = applyOp(content, op, torn);
        }
        for (let i = applied; i < inode.pending.length; i++) {
          const op = inode.pending[i]!;
          if (op.kind === 'write' && op.durable) content = applyOp(content, op);
        }
      }
      copy.data = Buffer.from(content);
      copy.durable = Buffer.from(content);
      copies.set(inode, copy);
      return copy;
    };
    for (const [path, dir] of this.#dirs) {
      const copy = new Dir();
      let entries: Map<string, Inode>;
      if (!options.powerLoss) {
        entries = dir.entries;
      } else {
        entries = new Map(dir.durable);
        const applied = this.randomInt(dir.pending.length + 1);
        for (const op of dir.pending.slice(0, applied)) {
          if (op.kind === 'link') entries.set(op.name, op.inode);
          else if (op.kind === 'unlink') entries.delete(op.name);
          else {
            const inode = entries.get(op.from);
            entries.delete(op.from);
            if (inode !== undefined) entries.set(op.to, inode);
          }
        }
      }
      for (const [name, inode] of entries) copy.entries.set(name, copyInode(inode));
      copy.durable = new Map(copy.entries);
      next.#dirs.set(path, copy);
    }
    return next;
  }

  // ------------------------------------------------------------ direct access for tests (not operations)

  /** The current content of a file, or undefined. */
  peek(path: string): Buffer | undefined {
    const { dir, name } = this.#locate(path);
    return dir?.entries.get(name)?.data;
  }

  /** Sets a file's content, durably (test setup: planting files). */
  plant(path: string, content: Uint8Array): void {
    const p = posix.normalize(path);
    this.#mkdirp(dirname(p));
    const dir = this.#dirs.get(dirname(p))!;
    let inode = dir.entries.get(basename(p));
    if (inode === undefined) {
      inode = new Inode();
      dir.entries.set(basename(p), inode);
      dir.durable.set(basename(p), inode);
    }
    inode.data = Buffer.from(content);
    inode.durable = Buffer.from(content);
    inode.pending = [];
  }

  /** The file names in a directory (current state), sorted. */
  list(path: string): string[] {
    const dir = this.#dirs.get(posix.normalize(path));
    return dir === undefined ? [] : [...dir.entries.keys()].sort();
  }

  // ------------------------------------------------------------ internals

  #step(op: SimOp, path: string): SimFault | undefined {
    if (this.#crashed) throw new SimulatedCrash(op, path);
    const n = this.#ops++;
    if (this.#crashAt !== undefined && n >= this.#crashAt) {
      this.#crashed = true;
      throw new SimulatedCrash(op, path);
    }
    for (const fault of this.#faults) {
      if (fault.op !== op || (fault.path !== undefined && !fault.path(path)) || fault.times! <= 0) continue;
      if (fault.skip! > 0) {
        fault.skip!--;
        continue;
      }
      fault.times!--;
      this.injected.push({ op, code: fault.code, path });
      return fault;
    }
    return undefined;
  }

  #locate(path: string): { dir: Dir | undefined; name: string; parent: string } {
    const p = posix.normalize(path);
    const parent = dirname(p);
    return { dir: this.#dirs.get(parent), name: basename(p), parent };
  }

  #mkdirp(path: string): void {
    const p = posix.normalize(path);
    if (this.#dirs.has(p)) return;
    this.#mkdirp(dirname(p));
    this.#dirs.set(p, new Dir());
  }

  #link(dir: Dir, name: string, inode: Inode): void {
    dir.entries.set(name, inode);
    dir.pending.push({ kind: 'link', name, inode });
  }

  // ------------------------------------------------------------ FileSystem

  async open(path: string, flags: 'r' | 'r+' | 'w' | 'wx'): Promise<FileHandle> {
    const fault = this.#step('open', path);
    if (fault !== undefined) throw errnoError(fault.code, 'open', path);
    const { dir, name } = this.#locate(path);
    if (this.#dirs.has(posix.normalize(path))) throw errnoError('EISDIR', 'open', path);
    if (dir === undefined) throw errnoError('ENOENT', 'open', path);
    let inode = dir.entries.get(name);
    if (inode === undefined) {
      if (flags === 'r' || flags === 'r+') throw errnoError('ENOENT', 'open', path);
      inode = new Inode();
      this.#link(dir, name, inode);
    } else if (flags === 'wx') {
      throw errnoError('EEXIST', 'open', path);
    } else if (flags === 'w' && inode.data.length > 0) {
      inode.data = Buffer.alloc(0);
      inode.pending.push({ kind: 'truncate', length: 0 });
    }
    return this.#handle(inode, path, flags !== 'r');
  }

  #handle(inode: Inode, path: string, writable: boolean): FileHandle {
    let closed = false;
    const check = (op: SimOp, write: boolean): SimFault | undefined => {
      const fault = this.#step(op, path);
      if (closed) throw errnoError('EBADF', op, path);
      if (write && !writable && fault === undefined) throw errnoError('EBADF', op, path);
      return fault;
    };
    const write = async (op: 'write' | 'writeDurable', data: Uint8Array, position: number): Promise<void> => {
      const fault = check(op, true);
      const bytes = Buffer.from(data);
      if (fault !== undefined) {
        if (fault.partial !== undefined && fault.partial > 0) {
          const partial: DataOp = { kind: 'write', position, bytes: bytes.subarray(0, fault.partial), durable: false };
          inode.data = applyOp(inode.data, partial);
          inode.pending.push(partial);
        }
        throw errnoError(fault.code, op, path);
      }
      const dataOp: DataOp = { kind: 'write', position, bytes, durable: op === 'writeDurable' };
      inode.data = applyOp(inode.data, dataOp);
      inode.pending.push(dataOp);
    };
    const handle: FileHandle = {
      write: (data, position) => write('write', data, position),
      read: async (position, length) => {
        const fault = check('read', false);
        if (fault !== undefined) throw errnoError(fault.code, 'read', path);
        return Buffer.from(inode.data.subarray(position, position + length));
      },
      datasync: async () => {
        const fault = check('datasync', false);
        if (fault !== undefined) throw errnoError(fault.code, 'fdatasync', path);
        inode.durable = Buffer.from(inode.data);
        inode.pending = [];
      },
      truncate: async (length) => {
        const fault = check('truncate', true);
        if (fault !== undefined) throw errnoError(fault.code, 'ftruncate', path);
        const op: DataOp = { kind: 'truncate', length };
        inode.data = applyOp(inode.data, op);
        inode.pending.push(op);
      },
      size: async () => {
        const fault = check('handleSize', false);
        if (fault !== undefined) throw errnoError(fault.code, 'fstat', path);
        return inode.data.length;
      },
      close: async () => {
        const fault = check('close', false);
        closed = true;
        if (fault !== undefined) throw errnoError(fault.code, 'close', path);
      },
    };
    if (this.durableWrites) handle.writeDurable = (data, position) => write('writeDurable', data, position);
    return handle;
  }

  async readFile(path: string): Promise<Buffer> {
    const fault = this.#step('readFile', path);
    if (fault !== undefined) throw errnoError(fault.code, 'open', path);
    if (this.#dirs.has(posix.normalize(path))) throw errnoError('EISDIR', 'read', path);
    const { dir, name } = this.#locate(path);
    const inode = dir?.entries.get(name);
    if (inode === undefined) throw errnoError('ENOENT', 'open', path);
    return Buffer.from(inode.data);
  }

  async readdir(path: string): Promise<string[]> {
    const fault = this.#step('readdir', path);
    if (fault !== undefined) throw errnoError(fault.code, 'scandir', path);
    const p = posix.normalize(path);
    const dir = this.#dirs.get(p);
    if (dir === undefined) throw errnoError(this.peek(p) === undefined ? 'ENOENT' : 'ENOTDIR', 'scandir', path);
    const subdirs = [...this.#dirs.keys()].filter((d) => d !== p && dirname(d) === p).map((d) => basename(d));
    return [...dir.entries.keys(), ...subdirs];
  }

  async mkdir(path: string): Promise<void> {
    const fault = this.#step('mkdir', path);
    if (fault !== undefined) throw errnoError(fault.code, 'mkdir', path);
    const p = posix.normalize(path);
    // Like mkdir -p, refusing a path whose part is a file.
    for (let d = p; d !== '/'; d = dirname(d)) if (this.peek(d) !== undefined) throw errnoError('EEXIST', 'mkdir', path);
    this.#mkdirp(p);
  }

  async rename(from: string, to: string): Promise<void> {
    const fault = this.#step('rename', from);
    if (fault !== undefined) throw errnoError(fault.code, 'rename', from);
    const a = this.#locate(from);
    const b = this.#locate(to);
    const inode = a.dir?.entries.get(a.name);
    if (inode === undefined) throw errnoError('ENOENT', 'rename', from);
    if (b.dir === undefined) throw errnoError('ENOENT', 'rename', to);
    if (a.dir === b.dir) {
      if (a.name === b.name) return;
      a.dir.entries.delete(a.name);
      a.dir.entries.set(b.name, inode);
      a.dir.pending.push({ kind: 'rename', from: a.name, to: b.name });
    } else {
      a.dir!.entries.delete(a.name);
      a.dir!.pending.push({ kind: 'unlink', name: a.name });
      this.#link(b.dir, b.name, inode);
    }
  }

  async unlink(path: string): Promise<void> {
    const fault = this.#step('unlink', path);
    if (fault !== undefined) throw errnoError(fault.code, 'unlink', path);
    if (this.#dirs.has(posix.normalize(path))) throw errnoError('EISDIR', 'unlink', path);
    const { dir, name } = this.#locate(path);
    if (dir?.entries.has(name) !== true) throw errnoError('ENOENT', 'unlink', path);
    dir.entries.delete(name);
    dir.pending.push({ kind: 'unlink', name });
  }

  async size(path: string): Promise<number | undefined> {
    const fault = this.#step('size', path);
    if (fault !== undefined) throw errnoError(fault.code, 'stat', path);
    return this.peek(path)?.length;
  }

  async syncDir(path: string): Promise<void> {
    const fault = this.#step('syncDir', path);
    if (fault !== undefined) throw errnoError(fault.code, 'fsync', path);
    const dir = this.#dirs.get(posix.normalize(path));
    if (dir === undefined) throw errnoError('ENOENT', 'open', path);
    dir.durable = new Map(dir.entries);
    dir.pending = [];
  }
}
