import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { open, ReplicationError, type Database } from 'epochdb';
import { ReplicationLog } from '@epochdb/replicate';
import { useDatabases } from '../support/databases.js';
import { runWorkload, stateAt, stateOf, useNats } from './harness.js';

const { openDb, tempDir } = useDatabases();
const { nats, nextName, openReplicaFor } = useNats();
const HISTORY = 1_000_000;
const WRITER = fileURLToPath(new URL('./primary-writer.mjs', import.meta.url));

/** Checks the stream holds versions 1..`version`, each exactly once, in order. */
async function expectWholeLog(name: string, version: number): Promise<void> {
  const log = await ReplicationLog.open([nats().url], name, 5000);
  try {
    const tail = await log.tail();
    const versions: number[] = [];
    const messages = await log.follow(tail.firstSeq);
    for await (const message of messages) {
      for (const record of ReplicationLog.records(message.data, message.seq)) versions.push(record.version);
      if (message.seq === tail.seq) break;
    }
    messages.stop();
    expect(versions).toEqual(Array.from({ length: version }, (_, i) => i + 1));
  } finally {
    await log.close();
  }
}

/** Waits until `condition()` holds, polling; fails after `timeoutMs`. */
async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('replication: outages, crashes and a second primary', () => {
  it('nats-server SIGKILLed in the middle of a write burst: nothing lost, nothing duplicated, on any replica', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), retainVersions: HISTORY, replicate: { servers: nats().url, name, timeoutMs: 1000 } });
    const replicas = [await openReplicaFor({ servers: nats().url, name, retainVersions: HISTORY }), await openReplicaFor({ servers: nats().url, name, retainVersions: HISTORY, dir: tempDir() })];
    const burst = runWorkload(primary, 11, 600, 4);
    await until(() => primary.version >= 150, 'the burst to be under way');
    await nats().kill('SIGKILL');
    const killedAt = primary.version;
    // Commits go on locally while NATS is away.
    await until(() => primary.version >= killedAt + 100, 'commits while NATS is down');
    await nats().restart();
    await burst;
    for (const replica of replicas) await replica.caughtUp(primary.version, { timeoutMs: 30_000 });
    for (const replica of replicas) {
      for (let v = 1; v <= primary.version; v += 13) expect(stateAt(replica, v), `version ${v}`).toEqual(stateAt(primary, v));
      expect(stateOf(replica)).toEqual(stateOf(primary));
    }
    await expectWholeLog(name, primary.version);
  });

  it('a primary SIGKILLed and reopened ships what it had not shipped', async () => {
    const name = nextName();
    const dir = tempDir();
    const child = spawn(process.execPath, [WRITER, JSON.stringify({ dir, servers: nats().url, name })], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let acked = 0;
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve) => {
      lines.on('line', (line) => {
        const message = JSON.parse(line) as { t: string; v?: number };
        if (message.t === 'a') acked = Math.max(acked, message.v!);
        // Take NATS away part-way, so that there is a backlog when the primary dies.
        if (acked >= 100 && nats().running) void nats().kill('SIGKILL');
        if (acked >= 300) resolve();
      });
    });
    child.kill('SIGKILL');
    await exited;
    await until(() => !nats().running, 'nats-server to be down');
    await nats().restart();
    const reopened = await openDb({ dir, replicate: { servers: nats().url, name } });
    expect(reopened.version).toBeGreaterThanOrEqual(acked);
    const replica = await openReplicaFor({ servers: nats().url, name });
    await replica.caughtUp(reopened.version, { timeoutMs: 30_000 });
    expect(stateOf(replica)).toEqual(stateOf(reopened));
    await expectWholeLog(name, reopened.version);
  });

  it('a second primary is fenced: one behind the log cannot open, one that races loses its writes with REPLICATION', async () => {
    const name = nextName();
    const first = await openDb({ dir: tempDir(), replicate: { servers: nats().url, name } });
    await runWorkload(first, 21, 30);
    const copy = tempDir() + '/copy';
    await first.backup(copy);
    const replica = await openReplicaFor({ servers: nats().url, name });
    await replica.caughtUp(first.version, { timeoutMs: 10_000 });
    expect.assertions(5);
    // An empty directory is behind the log: refused at open.
    await expect(open({ dir: tempDir(), replicate: { servers: nats().url, name } })).rejects.toMatchObject({ code: 'REPLICATION', message: expect.stringContaining('another primary') });
    // A copy at the same version opens, and the two race: the one that loses is fenced.
    const second = await openDb({ dir: copy, replicate: { servers: nats().url, name, ack: 'replicated' } });
    await first.put('winner', 'first');
    await replica.caughtUp(first.version, { timeoutMs: 10_000 });
    const error = await second.put('winner', 'second').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplicationError);
    expect(error).toMatchObject({ code: 'REPLICATION', durableLocally: true });
    // Fenced for good: later writes are refused at once, and the replicas never saw its write.
    await expect(second.put('later', 1)).rejects.toMatchObject({ code: 'REPLICATION' });
    expect(replica.get('winner')).toBe('first');
  });

  it("ack: 'replicated' with the server down times out with a REPLICATION error saying it is durable locally, and ships it later", async () => {
    const name = nextName();
    const dir = tempDir();
    const primary: Database = await openDb({ dir, replicate: { servers: nats().url, name, ack: 'replicated', timeoutMs: 300 } });
    const v1 = await primary.put('a', 1);
    await nats().kill('SIGKILL');
    const error = await primary.put('b', 2).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplicationError);
    expect(error).toMatchObject({ code: 'REPLICATION', durableLocally: true, message: expect.stringContaining('durable locally') });
    expect(primary.get('b')).toBe(2);
    await nats().restart();
    const replica = await openReplicaFor({ servers: nats().url, name });
    await replica.caughtUp(v1 + 1, { timeoutMs: 20_000 });
    expect(replica.get('b')).toBe(2);
    // And a replicated write resolves once JetStream has it.
    const v3 = await primary.put('c', 3);
    await replica.caughtUp(v3, { timeoutMs: 10_000 });
    expect(replica.get('c')).toBe(3);
  });
});
