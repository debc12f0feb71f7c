import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Database, Entry, Replica } from 'epochdb';
import { useDatabases } from '../support/databases.js';
import { stateOf, useNats } from './harness.js';

const { openDb, tempDir } = useDatabases();
const { nats, nextName, openReplicaFor } = useNats();

type Tags = { run?: string; type?: string; expiresAt?: number };
type Command =
  | { kind: 'put'; key: string; value: unknown; tags: Tags }
  | { kind: 'delete'; key: string }
  | { kind: 'batch'; puts: { key: string; value: unknown }[]; del: string }
  | { kind: 'tx'; a: string; b: string }
  | { kind: 'restartServer' }
  | { kind: 'restartReplica' }
  | { kind: 'restartPrimary' }
  | { kind: 'checkpoint' };

const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
const value = fc.oneof(fc.integer(), fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 16 }), fc.record({ n: fc.integer(), s: fc.array(fc.boolean(), { maxLength: 3 }) }));
const tags: fc.Arbitrary<Tags> = fc.record(
  { run: fc.constantFrom('r1', 'r2'), type: fc.constantFrom('t1', 't2'), expiresAt: fc.constantFrom(Date.now() + 3_600_000, Date.now() - 1) },
  { requiredKeys: [] },
);
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('put' as const), key, value, tags }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('batch' as const), puts: fc.array(fc.record({ key, value }), { minLength: 1, maxLength: 3 }), del: key }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tx' as const), a: key, b: key }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restartServer' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restartReplica' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restartPrimary' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
);

/** The model: what a reader must see, from the acknowledged versions alone. */
class Model {
  readonly entries = new Map<string, Entry>();
  put(key: string, value: unknown, version: number, tags: Tags = {}): void {
    this.entries.set(key, { key, value, version, ...tags });
  }
  delete(key: string): void {
    this.entries.delete(key);
  }
  /** The value a reader sees at `key` now (an expired entry is absent). */
  visible(key: string): unknown {
    const entry = this.entries.get(key);
    return entry === undefined || (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) ? undefined : entry.value;
  }
  state(now: number): Entry[] {
    return [...this.entries.values()].filter((e) => e.expiresAt === undefined || e.expiresAt > now).sort((x, y) => (x.key < y.key ? -1 : 1));
  }
}

describe('replication: property', () => {
  const property = (): fc.IAsyncProperty<[Command[]]> =>
      fc.asyncProperty(fc.array(command, { minLength: 5, maxLength: 30 }), async (commands) => {
        const name = nextName();
        const primaryDir = tempDir();
        const replicaDir = tempDir();
        const replicate = { servers: nats().url, name, timeoutMs: 300 };
        let primary: Database = await openDb({ dir: primaryDir, replicate });
        const memory = await openReplicaFor({ servers: nats().url, name });
        let durable: Replica = await openReplicaFor({ servers: nats().url, name, dir: replicaDir });
        const model = new Model();
        for (const c of commands) {
          switch (c.kind) {
            case 'put':
              model.put(c.key, c.value, await primary.put(c.key, c.value, c.tags), c.tags);
              break;
            case 'delete':
              await primary.delete(c.key);
              model.delete(c.key);
              break;
            case 'batch': {
              const v = await primary.batch([...c.puts.map((p) => ({ op: 'put' as const, ...p })), { op: 'delete', key: c.del }]);
              for (const p of c.puts) model.put(p.key, p.value, v);
              model.delete(c.del);
              break;
            }
            case 'tx': {
              const moved = model.visible(c.b) ?? null;
              await primary.transaction((tx) => {
                tx.put(c.a, { moved: tx.get(c.b) ?? null });
                tx.delete(c.b === c.a ? `${c.a}-none` : c.b);
              });
              model.put(c.a, { moved }, primary.version);
              if (c.b !== c.a) model.delete(c.b);
              break;
            }
            case 'restartServer':
              await nats().kill('SIGKILL');
              await nats().restart();
              break;
            case 'restartReplica':
              await durable.close();
              durable = await openReplicaFor({ servers: nats().url, name, dir: replicaDir });
              break;
            case 'restartPrimary':
              await primary.close();
              primary = await openDb({ dir: primaryDir, replicate });
              break;
            case 'checkpoint':
              await primary.checkpoint();
              break;
          }
        }
        for (const replica of [memory, durable]) {
          await replica.caughtUp(primary.version, { timeoutMs: 30_000 });
          expect(replica.version).toBe(primary.version);
          expect(stateOf(replica)).toEqual(model.state(Date.now()));
        }
        expect(stateOf(primary)).toEqual(model.state(Date.now()));
        await memory.close();
        await durable.close();
        await primary.close();
      });

  it('random commit sequences with server, replica and primary restarts in between: every replica equals the model', async () => {
    await fc.assert(property(), { numRuns: 25, endOnFailure: true });
  }, 240_000);

  // The recorded seed and path replay exactly the counterexample (numRuns 1): without it fast-check went on
  // generating about 100 more cases from there, which took the test past its timeout on a busy machine.
  // Found by this property: the server SIGKILLed and restarted, a batch, then the primary closed: its closing
  // checkpoint pruned the WAL it had not shipped yet, the reopened primary jumped the stream past it, and no
  // later message told the replicas (stuck at 6 of 9). Unshipped WAL now stays through checkpoints.
  it('regression: a primary closed with an unshipped backlog ships it after reopening (seed -398558664, path 18)', async () => {
    await fc.assert(property(), { seed: -398558664, path: '18', numRuns: 1, endOnFailure: true });
  }, 120_000);
});
