// The read contract (README, Reads): plain data comes back deep-frozen; a value
// holding Date, Map, Set or typed arrays comes back as a fresh, unfrozen copy per
// read; nothing a reader gets aliases value memory or another reader's value.
// Checked by mutating every node of every returned value, through every read
// path, then reading again.
import { describe, expect, it } from 'vitest';
import type { Database, Snapshot, Transaction } from 'epochdb';
import { useDatabases } from '../support/databases.js';

const { openDb, tempDir } = useDatabases({ workers: 0, maintenance: { intervalMs: 0 } }, 'epochdb-read-contract-');

const plain = () => ({ id: 1, name: 'Ada', tags: ['a', 'b', { deep: [1, 2, { deeper: { x: 1 } }] }], nested: { list: [[1], [2, [3]]], empty: {}, none: null } });
const thawed = () => ({
  when: new Date(1_700_000_000_000),
  map: new Map<unknown, unknown>([['k', { inside: [1, 2] }]]),
  set: new Set([1, 'two']),
  bytes: new Uint8Array([1, 2, 3]),
  buffer: Buffer.from('xyz'),
  floats: new Float64Array([1.5]),
  plainPart: { list: [1, { x: 2 }] },
});

/** Tries to change every node reachable from `value`; returns how many changes took (frozen nodes refuse silently or throw). */
function mutateEverywhere(value: unknown, seen = new Set<unknown>()): number {
  if (value === null || typeof value !== 'object' || seen.has(value)) return 0;
  seen.add(value);
  let took = 0;
  const attempt = (fn: () => void): void => {
    try {
      fn();
      took++;
    } catch {
      // A frozen node: the change is refused.
    }
  };
  if (value instanceof Date) attempt(() => value.setTime(0));
  else if (value instanceof Map) {
    for (const v of value.values()) took += mutateEverywhere(v, seen);
    attempt(() => value.set('added', 1));
  } else if (value instanceof Set) attempt(() => value.add('added'));
  else if (ArrayBuffer.isView(value)) attempt(() => ((value as Uint8Array)[0] = 99));
  else {
    for (const v of Object.values(value)) took += mutateEverywhere(v, seen);
    if (Array.isArray(value)) attempt(() => value.push('added'));
    else attempt(() => ((value as Record<string, unknown>)['added'] = 1));
  }
  return took;
}

function isDeepFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeepFrozen);
}

function inSnapshot<T>(db: Database, read: (snapshot: Snapshot) => T): T {
  const snapshot = db.snapshot();
  try {
    return read(snapshot);
  } finally {
    snapshot.release();
  }
}

function inTransaction<T>(db: Database, read: (tx: Transaction) => T): T {
  const tx = db.begin();
  try {
    return read(tx);
  } finally {
    tx.abort();
  }
}

/** Every read path a user has, each returning the value at `key`. */
function readPaths(db: Database): [string, (key: string) => unknown][] {
  return [
    ['db.get', (k) => db.get(k)],
    ['db.getEntry', (k) => db.getEntry(k)!.value],
    ['db.scan', (k) => [...db.scan({ prefix: k })].find((e) => e.key === k)!.value],
    ['db.byRun', (k) => [...db.byRun('r')].find((e) => e.key === k)!.value],
    ['db.byType', (k) => [...db.byType('t')].find((e) => e.key === k)!.value],
    ['snapshot.get', (k) => inSnapshot(db, (s) => s.get(k))],
    ['snapshot.scan', (k) => inSnapshot(db, (s) => [...s.scan({ prefix: k })][0]!.value)],
    ['tx.get', (k) => inTransaction(db, (tx) => tx.get(k))],
    ['tx.scan', (k) => inTransaction(db, (tx) => [...tx.scan({ prefix: k })][0]!.value)],
  ];
}

describe.each([
  ['memory-only', false],
  ['persistent, after a reopen', true],
])('read contract (%s)', (_name, persistent) => {
  async function database(): Promise<Database> {
    const dir = persistent ? tempDir() : undefined;
    let db = await openDb(dir === undefined ? {} : { dir });
    await db.put('plain', plain(), { run: 'r', type: 't' });
    await db.put('thawed', thawed(), { run: 'r', type: 't' });
    if (dir !== undefined) {
      await db.close();
      db = await openDb({ dir });
    }
    return db;
  }

  it('plain data is deep-frozen on every read path: no change takes, the next read is unchanged', async () => {
    const db = await database();
    for (const [path, read] of readPaths(db)) {
      const got = read('plain');
      expect(got, path).toStrictEqual(plain());
      expect(isDeepFrozen(got), path).toBe(true);
      expect(mutateEverywhere(got), path).toBe(0);
      expect(read('plain'), path).toStrictEqual(plain());
    }
  });

  it('Date, Map, Set and typed arrays come back as fresh copies: changes take, but never reach the store or the next reader', async () => {
    const db = await database();
    for (const [path, read] of readPaths(db)) {
      const first = read('thawed');
      const second = read('thawed');
      expect(first, path).not.toBe(second);
      expect(first, path).toStrictEqual(second);
      expect(mutateEverywhere(first), path).toBeGreaterThan(0);
      const again = read('thawed') as ReturnType<typeof thawed>;
      expect(again, path).toStrictEqual(second);
      expect(again.when.getTime(), path).toBe(1_700_000_000_000);
      expect(again.bytes[0], path).toBe(1);
      expect(Buffer.isBuffer(again.buffer), path).toBe(true);
    }
  });

  it("a transaction's own writes read back under the same contract", async () => {
    const db = await database();
    const tx = db.begin();
    tx.put('own-plain', plain());
    tx.put('own-thawed', thawed());
    const own = tx.get('own-plain');
    expect(isDeepFrozen(own)).toBe(true);
    expect(mutateEverywhere(own)).toBe(0);
    const mine = tx.get('own-thawed');
    expect(mutateEverywhere(mine)).toBeGreaterThan(0);
    expect(tx.get('own-thawed')).toStrictEqual(thawed());
    await tx.commit();
    expect(db.get('own-thawed')).toStrictEqual(thawed());
    expect(db.get('own-plain')).toStrictEqual(plain());
  });

  it('change-feed values follow it too', async () => {
    const db = await database();
    const stream = db.watch();
    await db.put('plain', plain());
    await db.put('thawed', thawed());
    const seen: unknown[] = [];
    for await (const change of stream) {
      if (change.kind === 'put') seen.push(change.value);
      if (seen.length === 2) break;
    }
    expect(isDeepFrozen(seen[0])).toBe(true);
    expect(mutateEverywhere(seen[0])).toBe(0);
    expect(mutateEverywhere(seen[1])).toBeGreaterThan(0);
    expect(db.get('plain')).toStrictEqual(plain());
    expect(db.get('thawed')).toStrictEqual(thawed());
  });
});
