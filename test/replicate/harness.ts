import { afterAll, afterEach, beforeAll } from 'vitest';
import { openReplica, type Database, type Entry, type Replica, type ReplicaOptions, type Snapshot } from 'epochdb';
import { NatsServer } from '../support/nats-server.js';
import { prng } from '../support/prng.js';

/** One nats-server for the test file (started before, stopped after), fresh log names, and replicas closed after each test. */
export function useNats(): { nats: () => NatsServer; nextName: () => string; openReplicaFor: (options: ReplicaOptions) => Promise<Replica> } {
  let server: NatsServer | undefined;
  let names = 0;
  const replicas: Replica[] = [];
  beforeAll(async () => {
    server = await NatsServer.start();
  });
  afterEach(async () => {
    if (server !== undefined && !server.running) await server.restart();
    for (const replica of replicas.splice(0)) await replica.close().catch(() => undefined);
  });
  afterAll(async () => {
    await server?.stop();
  });
  return {
    nats: () => server!,
    nextName: () => `t${process.pid}_${Date.now().toString(36)}_${names++}`,
    async openReplicaFor(options) {
      const replica = await openReplica(options);
      replicas.push(replica);
      return replica;
    },
  };
}

/** Everything a reader sees in `view`, expiry included: key, value, version, run, type, expiresAt. */
export function stateOf(view: { scan(options?: object): IterableIterator<Entry> }): Entry[] {
  return [...view.scan()];
}

/** The state at `version` of a database or replica keeping enough history. */
export function stateAt(db: { snapshotAt(version: number): Snapshot }, version: number): Entry[] {
  const snapshot = db.snapshotAt(version);
  try {
    return stateOf(snapshot);
  } finally {
    snapshot.release();
  }
}

/**
 * A seeded workload on `db`: `workers` concurrent loops of transactions
 * (read-modify-write of counters, with conflicts and retries), batches, deletes
 * and puts with tags and TTLs. Resolves when `commits` writes have committed.
 */
export async function runWorkload(db: Database, seed: number, commits: number, workers = 4): Promise<void> {
  const random = prng(seed);
  const key = (): string => `k${Math.floor(random() * 40)}`;
  let left = commits;
  const worker = async (): Promise<void> => {
    while (left-- > 0) {
      const choice = random();
      if (choice < 0.35) {
        const a = key();
        const b = key();
        await db.transaction(async (tx) => {
          const n = (tx.get(a) as { n?: number } | undefined)?.n ?? 0;
          await Promise.resolve();
          tx.put(a, { n: n + 1, at: new Date(1_700_000_000_000 + n) }, { type: 'counter' });
          if (b !== a) tx.put(b, { n: -n, bytes: new Uint8Array([n & 255, 1, 2]) }, { run: 'tx' });
        });
      } else if (choice < 0.55) {
        await db.batch([
          { op: 'put', key: key(), value: [random(), 'x'.repeat(Math.floor(random() * 50))], type: 'batch', ttl: 3_600_000 },
          { op: 'delete', key: key() },
          { op: 'put', key: key(), value: null, run: `r${Math.floor(random() * 3)}` },
        ]);
      } else if (choice < 0.7) {
        await db.delete(key());
      } else {
        await db.put(key(), { s: 'v'.repeat(Math.floor(random() * 20)), big: 2n ** 70n }, { run: 'p', type: 't', expiresAt: Date.now() + 3_600_000 });
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
}
