import { describe, expect, it } from 'vitest';
import { open, openReplica, restore } from 'epochdb';
import { useDatabases } from '../support/databases.js';

const { tempDir } = useDatabases();

describe('replication: bad input is a typed error naming what is wrong', () => {
  it.each([
    [{ servers: '127.0.0.1:4222', name: 'a b' }, "name must be 1-64 letters"],
    [{ servers: [], name: 'x' }, 'servers must be a NATS server address'],
    [{ servers: '127.0.0.1:4222', name: 'x', ack: 'always' }, "ack must be 'local' or 'replicated'"],
    [{ servers: '127.0.0.1:4222', name: 'x', timeoutMs: 0 }, 'timeoutMs must be a positive integer'],
    [{ servers: '127.0.0.1:4222', name: 'x', keepCheckpoints: 1.5 }, 'keepCheckpoints must be a positive integer'],
    [{ servers: '127.0.0.1:4222', name: 'x', other: 1 }, 'options.replicate.other is not an option'],
    ['nats://x', 'options.replicate must be an object'],
  ])('open({ replicate: %j })', async (replicate, message) => {
    await expect(open({ dir: tempDir(), replicate: replicate as never })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining(message) });
  });

  it('replicate needs a dir, openReplica and restore check their options, and an unreachable server is IO_ERROR', async () => {
    expect.assertions(5);
    await expect(open({ replicate: { servers: '127.0.0.1:4222', name: 'x' } })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('needs options.dir') });
    await expect(openReplica({ servers: 42 as never, name: 'x' })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(openReplica({ servers: '127.0.0.1:1', name: 'x', timeoutMs: 500 })).rejects.toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('cannot reach NATS') });
    await expect(restore({ servers: '127.0.0.1:1', name: 'x', dir: '' })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('dir must be') });
    await expect(restore({ servers: '127.0.0.1:1', name: 'x', dir: tempDir(), version: -1 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });
});
