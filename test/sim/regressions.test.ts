/**
 * Counterexamples found by the simulation, frozen as named scenarios (run
 * strictly: no known bug tolerated).
 */
import { describe, expect, it } from 'vitest';
import { EpochError, open } from 'epochdb';
import { SimFileSystem } from '../support/sim-fs.js';
import { runScenario } from './harness.js';

describe('simulation regressions', () => {
  // Found first (a bug of the simulated file system, not of EpochDB: it tore O_DSYNC writes at a
  // power loss). Kept so the simulator never again reports acknowledged durable writes as lost.
  it('regression: two puts group-committed with one O_DSYNC write survive a power loss right after', async () => {
    const report = await runScenario({ seed: 1825801871, sync: 'always', durableWrites: true, small: false }, [
      { t: 'crash', after: 1, powerLoss: true },
      { t: 'group', puts: [{ key: 'a', n: 0 }, { key: 'a', n: 0 }] },
      { t: 'tx', isolation: 'snapshot', read: 'a', writes: [] },
    ]);
    expect(report.crashes).toBe(1);
  });

  // A crash (any file-system error) during checkpoint()'s directory listing escapes as the raw
  // file-system error instead of an IoError: checkpoint() should reject with an EpochError.
  // (Seen with the checkpoint-from-WAL path in the working tree; replay:
  //  SIM_SEED=1595384516 SIM_PATH="16:0:0:2:0:4:6:8:4:6:6:6:6:6:6:6:9:5:5:5".)
  it('regression: checkpoint() cut short by a failing readdir rejects with a typed EpochError (IO_ERROR), not the raw fs error', async () => {
    await runScenario({ seed: 0, sync: 'always', durableWrites: false, small: false }, [
      { t: 'crash', after: 6, powerLoss: false },
      { t: 'put', key: 'a', n: 0 },
      { t: 'checkpoint' },
    ]);
  });

  it('regression: checkpoint() with readdir failing EIO rejects with IO_ERROR (minimal, no crash)', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    const db = await open({ dir: '/db', fileSystem: fs, maintenance: { intervalMs: 0 }, workers: 0 });
    await db.put('a', 1);
    fs.inject({ op: 'readdir', code: 'EIO' });
    const error = await db.checkpoint().then(
      () => undefined,
      (e: unknown) => e,
    );
    await db.close().catch(() => undefined);
    expect(error).toBeInstanceOf(EpochError);
    expect((error as EpochError).code).toBe('IO_ERROR');
  });
  // Found by the simulation (seed 960525387): a reopen with tiny segments made the first commit
  // start an automatic checkpoint (the WAL replayed at open counts toward it); the crash hit that
  // checkpoint's fdatasync while close() waited for it; close() then resolved as if everything were
  // flushed, though the last 'interval' write (version 23) never reached the disk. close() now
  // rejects IO_ERROR when the WAL fails while closing.
  it('regression: close() that hits a WAL failure (in a running automatic checkpoint) rejects instead of claiming a clean flush', async () => {
    await runScenario({"seed": 0, "sync": "always", "durableWrites": false, "small": true}, [{"t": "del", "key": "a"}, {"t": "put", "key": "a", "n": 0}, {"t": "group", "puts": [{"key": "a", "n": 64}, {"key": "a", "n": 64}, {"key": "a", "n": 64}]}, {"t": "put", "key": "d", "n": 64, "ttl": 10}, {"t": "put", "key": "a", "n": 0, "ttl": 10}, {"t": "batch", "ops": [{"op": "delete", "key": "a"}, {"op": "put", "key": "c", "n": 0, "ttl": 10}], "bad": false}, {"t": "tx", "isolation": "snapshot", "read": "d", "writes": [{"op": "put", "key": "d", "n": 0, "type": "t1"}, {"op": "put", "key": "a", "n": 0, "run": "r1", "ttl": 10}], "fail": false}, {"t": "put", "key": "a", "n": 64, "run": "r1", "type": "t1", "ttl": 10}, {"t": "put", "key": "a", "n": 0, "ttl": 10}, {"t": "put", "key": "a", "n": 64, "run": "r1", "ttl": 10}, {"t": "crash", "after": 13, "powerLoss": false}, {"t": "put", "key": "a", "n": 0, "run": "r1", "ttl": 10, "sync": "interval"}, {"t": "batch", "ops": [{"op": "put", "key": "e", "n": 0, "type": "t1", "ttl": 10}, {"op": "put", "key": "a", "n": 0, "type": "t1", "ttl": 10}, {"op": "put", "key": "d", "n": 0, "type": "t1", "ttl": 10}], "bad": false, "sync": "interval"}, {"t": "put", "key": "b", "n": 0, "type": "t1", "ttl": 10, "sync": "none"}, {"t": "put", "key": "a", "n": 0, "sync": "interval"}, {"t": "del", "key": "a", "sync": "interval"}, {"t": "tx", "isolation": "snapshot", "read": "e", "writes": [{"op": "put", "key": "a", "n": 0, "run": "r1", "ttl": 10}, {"op": "delete", "key": "e"}], "fail": false}, {"t": "put", "key": "a", "n": 0, "run": "r1"}, {"t": "batch", "ops": [{"op": "delete", "key": "b"}, {"op": "put", "key": "a", "n": 0, "run": "r1"}], "bad": false}, {"t": "batch", "ops": [{"op": "put", "key": "a", "n": 0, "run": "r1", "type": "t1", "ttl": 10}], "bad": false, "sync": "interval"}, {"t": "batch", "ops": [{"op": "delete", "key": "a"}], "bad": false, "sync": "none"}, {"t": "reopen", "checkpointOnClose": false}, {"t": "put", "key": "a", "n": 0, "sync": "interval"}, {"t": "crash", "after": 0, "powerLoss": true}, {"t": "reopen", "checkpointOnClose": false}]);
  });
});
