import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tape from 'tape';
import { afterAll, describe, expect, it } from 'vitest';
import { EpochLevel, type EpochLevelOptions } from 'epochdb/level';

// abstract-level's own conformance suite (abstract-level/test, written for tape), run
// unmodified against EpochLevel in a tape harness of its own; every assertion it makes is
// collected and the run must end with none failed. It runs every test module twice: on the
// database and on a sublevel of it.

const require = createRequire(import.meta.url);
const suite = require('abstract-level/test') as (options: { test: unknown; factory: (options?: object) => unknown }) => void;

const root = mkdtempSync(join(tmpdir(), 'epochdb-level-suite-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface TapRow {
  readonly type: string;
  readonly ok?: boolean;
  readonly name?: string;
  readonly id?: number;
  readonly test?: number;
  readonly skip?: boolean | string;
  readonly todo?: boolean | string;
  readonly operator?: string;
  readonly actual?: unknown;
  readonly expected?: unknown;
}

interface SuiteRun {
  readonly tests: number;
  readonly asserts: number;
  readonly passed: number;
  readonly skipped: number;
  readonly failures: string[];
}

async function runSuite(openOptions: EpochLevelOptions<string, string>['epochdb']): Promise<SuiteRun> {
  const harness = tape.createHarness();
  const names = new Map<number, string>();
  const rows: TapRow[] = [];
  const stream = harness.createStream({ objectMode: true });
  stream.on('data', (row: TapRow) => {
    if (row.type === 'test' && row.id !== undefined) names.set(row.id, row.name ?? '');
    rows.push(row);
  });
  const finished = new Promise<void>((resolve) => harness.onFinish(() => resolve()));
  let location = 0;
  suite({ test: harness, factory: (options = {}) => new EpochLevel(join(root, String(location++)), { ...options, epochdb: openOptions }) });
  await finished;
  const asserts = rows.filter((row) => row.type === 'assert');
  const failures = asserts
    .filter((row) => row.ok !== true && !row.todo)
    .map((row) => `${names.get(row.test ?? -1) ?? '?'}: ${row.name ?? ''} (${row.operator ?? ''}: ${JSON.stringify(row.actual)} vs ${JSON.stringify(row.expected)})`);
  return {
    tests: names.size,
    asserts: asserts.length,
    passed: asserts.filter((row) => row.ok === true && !row.skip).length,
    skipped: asserts.filter((row) => Boolean(row.skip)).length,
    failures,
  };
}

describe('abstract-level conformance suite', () => {
  it('passes against EpochLevel on a persistent directory, and on a sublevel of it', { timeout: 600_000 }, async () => {
    const run = await runSuite({ workers: 0, sync: 'none', maintenance: { intervalMs: 0 } });
    console.log(`abstract-level suite: ${run.tests} tests, ${run.asserts} assertions, ${run.passed} passed, ${run.skipped} skipped, ${run.failures.length} failed`);
    expect(run.failures).toEqual([]);
    // The counts of abstract-level 3.1.1 (the lockfile's): a change means tests were added or skipped.
    expect(run.tests).toBe(1473);
    expect(run.asserts).toBe(5132);
    expect(run.passed).toBe(run.asserts);
    expect(run.skipped).toBe(0);
  });
});
