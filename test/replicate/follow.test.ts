import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openReplica, ReadOnlyError, type Replica } from 'epochdb';
import { useDatabases } from '../support/databases.js';
import { NatsServer } from '../support/nats-server.js';

const { openDb, tempDir } = useDatabases();
let nats: NatsServer;
let names = 0;
const nextName = (): string => `t${process.pid}_${names++}`;

beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  await nats.stop();
});

describe('replication: primary to replica', () => {
  it('a replica follows the primary and refuses writes', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), replicate: { servers: nats.url, name } });
    await primary.put('a', { n: 1 }, { type: 't', ttl: 60_000 });
    const replica = await openReplica({ servers: nats.url, name });
    try {
      const v = await primary.put('b', 'two', { run: 'r1' });
      await replica.caughtUp(v, { timeoutMs: 10_000 });
      expect(replica.version).toBe(v);
      expect(replica.getEntry('a')).toEqual(primary.getEntry('a'));
      expect(replica.getEntry('b')).toEqual(primary.getEntry('b'));
      await expect(replica.put('c', 1)).rejects.toBeInstanceOf(ReadOnlyError);
      await expect(replica.db.put('c', 1)).rejects.toMatchObject({ code: 'READ_ONLY' });
    } finally {
      await replica.close();
    }
  });
});
