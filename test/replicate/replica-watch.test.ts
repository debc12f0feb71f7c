import { describe, expect, it } from 'vitest';
import type { Change, ChangeStream } from 'epochdb';
import { useDatabases } from '../support/databases.js';
import { runWorkload, useNats } from './harness.js';

// Change feeds on replicas, memory-only and with a directory: every commit the replica applies,
// in version order, whole, equal to the primary's own feed; a consumer that stops resumes with
// `fromVersion` (from memory, or from the replica's WAL) and misses nothing.

const { openDb, tempDir } = useDatabases();
const { nats, nextName, openReplicaFor } = useNats();

/** Reads from `stream` until the change(s) of `version` are all in (the stream stays open). */
async function readTo(stream: ChangeStream, version: number, expected: readonly Change[]): Promise<Change[]> {
  const count = expected.filter((c) => c.version <= version).length;
  const out: Change[] = [];
  while (out.length < count) {
    const next = await stream.next();
    if (next.done === true) break;
    out.push(next.value);
  }
  return out;
}

/** A change as read back from history, on a primary too: a delete carries no tags there. */
const untagged = (c: Change): Change => (c.kind === 'put' ? c : { version: c.version, key: c.key, kind: c.kind });

describe('replication: watch() on replicas', () => {
  it('delivers what the primary committed, whole and in order, and resumes with fromVersion', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), replicate: { servers: nats().url, name } });
    await runWorkload(primary, 61, 20);
    const start = primary.version;
    const replicas = [await openReplicaFor({ servers: nats().url, name }), await openReplicaFor({ servers: nats().url, name, dir: tempDir() })];
    for (const replica of replicas) await replica.caughtUp(start, { timeoutMs: 10_000 });
    const streams = replicas.map((replica) => replica.watch());
    const reference = primary.watch({ fromVersion: start });
    await runWorkload(primary, 62, 60);
    const middle = primary.version;
    await runWorkload(primary, 63, 60);
    const end = primary.version;
    const expected: Change[] = [];
    while (expected.length === 0 || expected.at(-1)!.version < end) expected.push((await reference.next()).value as Change);
    reference.close();
    for (const [i, replica] of replicas.entries()) {
      const first = await readTo(streams[i]!, middle, expected);
      streams[i]!.close();
      expect(first, `replica ${i}, live`).toEqual(expected.filter((c) => c.version <= middle));
      const resumed = replica.watch({ fromVersion: middle });
      await replica.caughtUp(end, { timeoutMs: 10_000 });
      const rest = await readTo(resumed, end, expected.filter((c) => c.version > middle));
      resumed.close();
      // History, then live: deletes from history carry no tags (as on a primary), so they are compared without.
      expect(rest.map(untagged), `replica ${i}, resumed from ${middle}`).toEqual(expected.filter((c) => c.version > middle).map(untagged));
    }
  });
});
