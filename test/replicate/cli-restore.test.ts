import { describe, expect, it } from 'vitest';
import { open } from 'epochdb';
import { epochdb } from '../cli/cli-harness.js';
import { useDatabases } from '../support/databases.js';
import { runWorkload, stateAt, stateOf, useNats } from './harness.js';

const { openDb, tempDir } = useDatabases();
const { nats, nextName } = useNats();

describe('epochdb restore', () => {
  it('builds a directory at a past version from the replication log, with progress on stderr', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), retainVersions: 1_000_000, replicate: { servers: nats().url, name, ack: 'replicated' } });
    await runWorkload(primary, 61, 40);
    await primary.checkpoint();
    await runWorkload(primary, 62, 40);
    const at = primary.version - 15;
    const dir = `${tempDir()}/restored`;
    const result = await epochdb(['restore', dir, '--servers', nats().url, '--name', name, '--at', String(at)]);
    expect(result).toMatchObject({ code: 0, stdout: expect.stringContaining(`at version ${at}`), stderr: expect.stringContaining('restoring: ') });
    const restored = await open({ dir });
    try {
      expect(stateOf(restored)).toEqual(stateAt(primary, at));
    } finally {
      await restored.close();
    }
  });

  it('reports a version past the log, a missing server and bad arguments with their exit codes', async () => {
    const name = nextName();
    const primary = await openDb({ dir: tempDir(), replicate: { servers: nats().url, name, ack: 'replicated' } });
    await primary.put('a', 1);
    const ahead = await epochdb(['restore', `${tempDir()}/x`, '--servers', nats().url, '--name', name, '--at', '99', '--json']);
    expect(ahead).toMatchObject({ code: 1, stderr: expect.stringContaining('REPLICATION: restore(): version 99 is newer') });
    const away = await epochdb(['restore', `${tempDir()}/y`, '--servers', '127.0.0.1:1', '--name', name]);
    expect(away).toMatchObject({ code: 1, stderr: expect.stringContaining('IO_ERROR: cannot reach NATS at 127.0.0.1:1') });
    const usage = await epochdb(['restore', `${tempDir()}/z`, '--servers', nats().url, '--name', name, '--at', 'zero']);
    expect(usage).toMatchObject({ code: 2, stderr: expect.stringContaining('expected a positive integer version') });
    const json = await epochdb(['restore', `${tempDir()}/w`, '--servers', nats().url, '--name', name, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ version: 1, checkpointVersion: 0, records: 1, entries: 1 });
  });
});
