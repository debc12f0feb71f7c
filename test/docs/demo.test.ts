import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// The demo (`pnpm demo`) is the first thing a newcomer runs: it must tell a true story.
// Run as a user runs it (tsx against the built package), its numbers are checked against each other.

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('scripts/demo.ts', () => {
  it('accounts for every transfer it announces, explains the session that survives, summarises stats, and shows the CLI on its directory', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], { cwd: root, timeout: 60_000 });
    const announced = /(\d+) cashiers make (\d+) transfers/.exec(stdout);
    const outcome = /(\d+) transfers committed, (\d+) declined for lack of funds, in (\d+) attempts: (\d+) re-runs after conflicts/.exec(stdout);
    expect(announced).not.toBeNull();
    expect(outcome).not.toBeNull();
    const [planned, committed, declined, attempts, reruns] = [announced![2], outcome![1], outcome![2], outcome![3], outcome![4]].map(Number) as [number, number, number, number, number];
    expect(committed + declined).toBe(planned);
    expect(attempts).toBe(committed + declined + reruns);
    expect(stdout).toContain('total now: 500   total in the snapshot taken before: 500');
    // The session that outlives the others is explained, not left as a puzzle.
    expect(stdout).toMatch(/45 minutes later: session:ada \(/);
    expect(stdout).toContain('session:ada is still live: it was refreshed with a 60-minute TTL');
    // stats() is summarised, not dumped as an object of raw fields.
    expect(stdout).not.toContain('lastMaintenanceError');
    expect(stdout).toMatch(/\(\d+ counters in all/);
    // A persistent directory and one CLI command on it.
    expect(stdout).toMatch(/files on disk: EPOCHDB, checkpoint-\d{16}\.ckpt/);
    const cli = /\$ npx epochdb stats (\S+)\n((?: {2}.*\n)+)/.exec(stdout);
    expect(cli).not.toBeNull();
    expect(cli![2]).toMatch(/^ {2}directory +\S+\n {2}version +\d+\n/);
  });
});
