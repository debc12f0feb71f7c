/**
 * Deterministic simulation (issue 6): fast-check generates a config and a
 * list of commands — puts, deletes, batches (some failing on ifVersion),
 * transactions of both isolation levels (some throwing), group commits,
 * TTLs and clock jumps on a ManualClock, snapshots, checkpoints, flushed(),
 * crashes (power loss or process crash at a random file-system operation)
 * and clean close/reopen — and `runScenario` (harness.ts) runs them on a
 * seeded simulated file system against a reference model, checking the
 * durability contract after every reopen and the visible state after every
 * command.
 *
 * Replay a failure exactly with the printed command, e.g.
 *   SIM_SEED=123 SIM_PATH="4:1:0" npx vitest run test/sim/simulation.test.ts
 * Search deeper with SIM_RUNS=20000. Every counterexample found is frozen in
 * regressions.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KEYS, RUNS, TYPES, runScenario, type Cmd, type SimConfig, type SimReport, type WriteOp } from './harness.js';

const NUM_RUNS = Number(process.env.SIM_RUNS ?? 15000);

const key = fc.constantFrom(...KEYS);
const n = fc.nat(99);
const sync = fc.constantFrom(undefined, 'always', 'interval', 'none');
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 2 });
const run = maybe(fc.constantFrom(...RUNS));
const type = maybe(fc.constantFrom(...TYPES));
const ttl = fc.option(fc.constantFrom(10, 100, 5000), { nil: undefined, freq: 4 });

const writeOp: fc.Arbitrary<WriteOp> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('put' as const), key, n, run, type, ttl }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('delete' as const), key }), weight: 1 },
);

const command: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('put' as const), key, n, run, type, ttl, sync }), weight: 6 },
  { arbitrary: fc.record({ t: fc.constant('del' as const), key, sync }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('batch' as const), ops: fc.array(writeOp, { minLength: 1, maxLength: 4 }), bad: fc.boolean(), sync }), weight: 2 },
  {
    arbitrary: fc.record({
      t: fc.constant('tx' as const),
      isolation: fc.constantFrom('snapshot' as const, 'serializable' as const),
      read: key,
      writes: fc.array(writeOp, { maxLength: 3 }),
      fail: fc.boolean(),
      sync,
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ t: fc.constant('group' as const), puts: fc.array(fc.record({ key, n, sync }), { minLength: 2, maxLength: 5 }) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('clock' as const), ms: fc.constantFrom(1, 50, 1000, 10_000) }), weight: 1 },
  { arbitrary: fc.constant({ t: 'snapshot' as const }), weight: 1 },
  { arbitrary: fc.constant({ t: 'checkpoint' as const }), weight: 1 },
  { arbitrary: fc.constant({ t: 'flushed' as const }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('crash' as const), after: fc.nat(40), powerLoss: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('reopen' as const), checkpointOnClose: fc.boolean() }), weight: 1 },
);

const config: fc.Arbitrary<SimConfig> = fc.record({
  seed: fc.nat(),
  sync: fc.constantFrom('always' as const, 'interval' as const, 'none' as const),
  durableWrites: fc.boolean(),
  small: fc.boolean(),
});

describe('deterministic simulation', () => {
  it(`random workloads with crashes and reopens keep the durability contract (${NUM_RUNS} runs unless replaying)`, async () => {
    const totals: SimReport = { crashes: 0, reopens: 0, commits: 0, fsOps: 0, rolledBack: 0, forcedCrashes: 0 };
    const seed = process.env.SIM_SEED === undefined ? Date.now() ^ (Math.random() * 2 ** 31) : Number(process.env.SIM_SEED);
    const path = process.env.SIM_PATH;
    const details = await fc.check(
      fc.asyncProperty(config, fc.array(command, { minLength: 1, maxLength: 40, size: "medium" }), async (cfg, cmds) => {
        const r = await runScenario({ ...cfg }, cmds);
        for (const k of Object.keys(totals) as (keyof SimReport)[]) totals[k] += r[k];
      }),
      { numRuns: NUM_RUNS, seed, ...(path === undefined ? {} : { path, endOnFailure: true }) },
    );
    console.log(`simulation: ${details.numRuns} runs (seed ${seed}), ${totals.commits} commits, ${totals.crashes} crashes, ${totals.reopens} reopens, ${totals.rolledBack} crashes lost unacknowledged-or-undurable work, ${totals.fsOps} fs operations`);
    if (details.failed) {
      const replay = `SIM_SEED=${details.seed} SIM_PATH="${details.counterexamplePath ?? ''}" npx vitest run test/sim/simulation.test.ts`;
      console.error(`simulation failed; replay with:\n${replay}\ncounterexample: ${JSON.stringify(details.counterexample)}`);
      expect.fail(`${String((details.errorInstance as Error | undefined)?.message ?? details.error)}\nreplay: ${replay}\ncounterexample: ${JSON.stringify(details.counterexample)}`);
    }
    expect(totals.crashes, 'the generator produces crashes').toBeGreaterThan(0);
  }, 600_000);
});
