import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, open, ReadOnlyError, UnsupportedFormatError } from 'epochdb';
import { listSegments, nodeFileSystem, recover, WalTail } from '@epochdb/persist';
import { MvccStore } from '@epochdb/store';
import { WalFollower } from '../../packages/epochdb/src/wal-follower.js';
import { useDatabases } from '../support/databases.js';

const { openDb, tempDir } = useDatabases({ workers: 0, maintenance: { intervalMs: 0 } });

/** Every file of `dir` (recursively) with its size, mtime and content hash. */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) continue;
    out[name] = `${stat.size} ${stat.mtimeMs} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
  }
  return out;
}

describe('open({ readOnly: true })', () => {
  it('opens a directory another database holds, sees its newest commit, and writes nothing', async () => {
    const dir = tempDir();
    const writer = await openDb({ dir });
    await writer.put('a', 1);
    await writer.batch([
      { op: 'put', key: 'b', value: 2, type: 't' },
      { op: 'delete', key: 'a' },
    ]);
    await writer.put('ttl', 'x', { ttl: 1 });
    const before = fingerprint(dir);
    const reader = await open({ dir, readOnly: true, workers: 0 });
    try {
      expect(reader.version).toBe(writer.version);
      expect(reader.get('a')).toBeUndefined();
      expect(reader.getEntry('b')).toMatchObject({ value: 2, type: 't' });
      expect(reader.readOnly).toBe(true);
      expect(reader.persistent).toBe(true);
      expect(reader.stats()).toMatchObject({ readOnly: true, persistent: true, followedRecords: 0 });
      await expect(reader.put('c', 3)).rejects.toBeInstanceOf(ReadOnlyError);
      await expect(reader.delete('b')).rejects.toMatchObject({ code: 'READ_ONLY' });
      await expect(reader.transaction((tx) => tx.put('c', 3))).rejects.toMatchObject({ code: 'READ_ONLY' });
      await expect(reader.checkpoint()).rejects.toMatchObject({ code: 'READ_ONLY' });
      // The writer's lock was not touched: it still writes.
      await writer.put('after', true);
    } finally {
      await reader.close();
    }
    const after = fingerprint(dir);
    // Only the writer's own last put changed the files (its WAL segment).
    for (const [name, print] of Object.entries(before)) if (!name.startsWith('wal-')) expect(after[name], name).toBe(print);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
  });

  it('reads a torn WAL tail as the end of the log and leaves every byte as it was', async () => {
    const dir = tempDir();
    const writer = await openDb({ dir, checkpointOnClose: false });
    for (let i = 0; i < 5; i++) await writer.put(`k${i}`, i);
    await writer.close();
    const last = listSegments(readdirSync(dir)).at(-1)!.name;
    appendFileSync(join(dir, last), Buffer.from([0x20, 0, 0, 0, 1, 2, 3]));
    writeFileSync(join(dir, 'checkpoint-0000000000000009.ckpt.tmp'), 'left by a build still running');
    const before = fingerprint(dir);
    const events: string[] = [];
    const reader = await open({ dir, readOnly: true, workers: 0, onRecoveryEvent: (e) => events.push(e.type) });
    expect(reader.version).toBe(5);
    expect(reader.get('k4')).toBe(4);
    await reader.close();
    expect(fingerprint(dir)).toEqual(before);
    expect(events).not.toContain('truncated');
    // A normal open still truncates it.
    const normal = await openDb({ dir });
    expect(normal.recovery?.events.map((e) => e.type)).toContain('truncated');
  });

  it('refuses a missing directory (without creating it), a foreign one, and options that cannot go with it', async () => {
    const root = tempDir();
    const missing = join(root, 'missing');
    await expect(open({ dir: missing, readOnly: true })).rejects.toThrow(/does not exist/);
    expect(existsSync(missing)).toBe(false);
    const foreign = join(root, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'hello');
    await expect(open({ dir: foreign, readOnly: true })).rejects.toBeInstanceOf(UnsupportedFormatError);
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await expect(open({ dir: empty, readOnly: true })).rejects.toThrow(/no EPOCHDB file/);
    expect(readdirSync(empty)).toEqual([]);
    await expect(open({ readOnly: true })).rejects.toThrow(/readOnly: needs dir/);
    await expect(open({ dir: root, readOnly: true, recovery: 'salvage' })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(open({ dir: root, follow: true })).rejects.toThrow(/follow: needs readOnly/);
    await expect(recover({ fs: nodeFileSystem, dir: root, mode: 'salvage', readOnly: true })).rejects.toThrow(/cannot salvage/);
  });

  it('leaves expired entries to the writer: the TTL cleaner does not run read-only', async () => {
    const dir = tempDir();
    const writer = await openDb({ dir });
    await writer.put('short', 1, { ttl: 1 });
    await writer.put('long', 2);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const reader = await open({ dir, readOnly: true, workers: 0, maintenance: { intervalMs: 1 } });
    try {
      expect(reader.get('short')).toBeUndefined();
      await expect.poll(() => reader.stats().maintenancePasses, { timeout: 20_000 }).toBeGreaterThan(2);
      expect(reader.stats()).toMatchObject({ maintenanceErrors: 0, reclaimedExpired: 0, ttlEntries: 1 });
    } finally {
      await reader.close();
    }
  });
});

describe('following the WAL', () => {
  it('WalTail reads across segment rotations, and moves to a checkpoint when the WAL it needs was pruned', async () => {
    const dir = tempDir();
    const writer = await openDb({ dir, walSegmentBytes: 1024 });
    await writer.put('start', 0);
    const recovered = await recover({ fs: nodeFileSystem, dir, mode: 'strict', readOnly: true });
    const tail = new WalTail(nodeFileSystem, dir, recovered.tail, recovered.version);
    for (let i = 0; i < 40; i++) await writer.put(`k${i}`, 'x'.repeat(50));
    expect(listSegments(readdirSync(dir)).length).toBeGreaterThan(2);
    const read = await tail.poll();
    expect(read.kind).toBe('records');
    expect(read.kind === 'records' && read.records.map((r) => r.version)).toEqual(Array.from({ length: 40 }, (_, i) => recovered.version + 1 + i));
    expect((await tail.poll()).kind === 'records').toBe(true);
    // The writer moves on and checkpoints twice: the WAL the tail has not read is pruned.
    for (let i = 0; i < 40; i++) await writer.put(`m${i}`, i);
    await writer.checkpoint();
    await writer.delete('k0');
    await writer.checkpoint();
    await writer.put('last', 1);
    let result = await tail.poll();
    const kinds = [result.kind];
    while (tail.version < writer.version) {
      result = await tail.poll();
      kinds.push(result.kind);
    }
    expect(tail.version).toBe(writer.version);
    expect(kinds).toContain('checkpoint');
  });

  it('WalFollower applies what the tail reads, and a checkpoint as the difference to it', async () => {
    const dir = tempDir();
    const writer = await openDb({ dir, walSegmentBytes: 1024 });
    await writer.put('gone', 1);
    await writer.put('kept', 1);
    await writer.put('changed', 1);
    const recovered = await recover({ fs: nodeFileSystem, dir, mode: 'strict', readOnly: true });
    const store = new MvccStore();
    store.restore(recovered.checkpointEntries, recovered.checkpointVersion);
    for (const record of recovered.records) store.applyRecord(record);
    const follower = new WalFollower(store, new WalTail(nodeFileSystem, dir, recovered.tail, recovered.version), 1_000_000);
    await writer.delete('gone');
    await writer.put('changed', 2, { type: 't' });
    await writer.put('new', 3, { ttl: 3_600_000 });
    for (let i = 0; i < 30; i++) await writer.put(`pad${i}`, 'x'.repeat(60));
    await writer.checkpoint();
    await writer.put('pad0', 'again');
    await writer.checkpoint();
    while (store.version < writer.version) await follower.poll();
    expect(follower.stats().followErrors).toBe(0);
    expect(follower.stats().followedCheckpoints).toBeGreaterThan(0);
    expect([...store.scan()].map((e) => [e.key, e.value, e.type])).toEqual([...writer.scan()].map((e) => [e.key, e.value, e.type]));
    expect(store.getEntry('new')?.expiresAt).toBe(writer.getEntry('new')?.expiresAt);
    await follower.stop();
  });
});
