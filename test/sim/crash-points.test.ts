/**
 * Crash points enumerated deterministically: a fixed small workload (puts in
 * every sync mode, a TTL put, a batch, a serializable transaction, a group
 * commit, flushed(), checkpoints, a delete, a clock jump) runs once per
 * file-system operation index K, with the machine crashing at operation K
 * (K = 0 .. the workload's last operation), by power loss (six different
 * tearings per point) and by process crash, under four configurations. After
 * each crash the database is reopened on the crashed image and checked with
 * the simulation's rules (harness.ts): a prefix of the history holding at
 * least everything durable (or, for a process crash, acknowledged), nothing
 * partial, versions continuing. Also: a crash at every operation of the very
 * first open() leaves a directory that opens as an empty database.
 */
import { describe, expect, it } from 'vitest';
import { open } from 'epochdb';
import { SimFileSystem } from '../support/sim-fs.js';
import { runScenario, type Cmd, type SimConfig } from './harness.js';

const WORKLOAD: Cmd[] = [
  { t: 'put', key: 'a', n: 1, sync: 'always' },
  { t: 'put', key: 'b', n: 2, type: 't1', ttl: 5000, sync: 'none' },
  { t: 'batch', ops: [{ op: 'put', key: 'c', n: 3, run: 'r1' }, { op: 'delete', key: 'a' }], sync: 'interval' },
  { t: 'tx', isolation: 'serializable', read: 'b', writes: [{ op: 'put', key: 'd', n: 4, type: 't2' }, { op: 'put', key: 'e', n: 5 }] },
  { t: 'group', puts: [{ key: 'a', n: 6, sync: 'none' }, { key: 'b', n: 7, sync: 'always' }, { key: 'c', n: 8, sync: 'interval' }] },
  { t: 'flushed' },
  { t: 'put', key: 'e', n: 9, run: 'r2', sync: 'none' },
  { t: 'checkpoint' },
  { t: 'del', key: 'b', sync: 'none' },
  { t: 'clock', ms: 6000 },
  { t: 'batch', ops: [{ op: 'put', key: 'a', n: 10, ttl: 100 }, { op: 'put', key: 'd', n: 11 }] },
  { t: 'checkpoint' },
  { t: 'put', key: 'c', n: 12, sync: 'none' },
];

const CONFIGS: SimConfig[] = [
  { seed: 0, sync: 'always', durableWrites: true, small: false },
  { seed: 0, sync: 'always', durableWrites: false, small: true },
  { seed: 0, sync: 'none', durableWrites: true, small: true },
  { seed: 0, sync: 'interval', durableWrites: false, small: false },
];

describe('crash at every file-system operation of a fixed workload', () => {
  let total = 0;
  for (const config of CONFIGS) {
    it(`sync '${config.sync}', ${config.durableWrites ? 'O_DSYNC writes' : 'write + fdatasync'}, ${config.small ? 'tiny segments and automatic checkpoints' : 'large segments'}`, async () => {
      let points = 0;
      for (const variant of [
        { powerLoss: true, seed: 1 },
        { powerLoss: true, seed: 2 },
        { powerLoss: true, seed: 3 },
        { powerLoss: true, seed: 4 },
        { powerLoss: true, seed: 5 },
        { powerLoss: true, seed: 6 },
        { powerLoss: false, seed: 1 },
      ]) {
        for (let k = 0; ; k++) {
          expect(k, 'the workload ends').toBeLessThan(5000);
          const report = await runScenario({ ...config, seed: variant.seed * 100_003 + k }, [{ t: 'crash', after: k, powerLoss: variant.powerLoss }, ...WORKLOAD]);
          expect(report.crashes).toBe(1);
          if (report.forcedCrashes === 1) break; // K is past the workload's last operation
          points++;
        }
      }
      total += points;
      console.log(`crash points checked (${config.sync}, durableWrites ${config.durableWrites}, small ${config.small}): ${points}; total so far ${total}`);
      expect(points).toBeGreaterThan(100);
    }, 120_000);
  }

  it('a crash at every operation of the first open() leaves a directory that opens empty', async () => {
    let points = 0;
    for (const powerLoss of [true, false]) {
      for (let k = 0; ; k++) {
        const fs = new SimFileSystem({ seed: k });
        fs.armCrash(k);
        let db;
        try {
          db = await open({ dir: '/db', fileSystem: fs, maintenance: { intervalMs: 0 }, workers: 0 });
        } catch {
          // crashed inside open()
        }
        if (db !== undefined && !fs.crashed) {
          fs.disarmCrash();
          await db.close();
          break;
        }
        expect(fs.crashed).toBe(true);
        if (db !== undefined) await db.close().catch(() => undefined); // open() returned, background work then crashed
        const image = fs.crash({ powerLoss });
        // The crashed process's lock names our own live pid: make it a dead one.
        if (image.peek('/db/LOCK') !== undefined) image.plant('/db/LOCK', Buffer.from(JSON.stringify({ pid: 4_194_301, host: (await import('node:os')).hostname(), since: 'x' })));
        const again = await open({ dir: '/db', fileSystem: image, maintenance: { intervalMs: 0 }, workers: 0 });
        expect(again.version).toBe(0);
        expect([...again.scan()]).toEqual([]);
        expect(await again.put('k', 1)).toBe(1);
        await again.close();
        const third = await open({ dir: '/db', fileSystem: image, maintenance: { intervalMs: 0 }, workers: 0 });
        expect(third.get('k')).toBe(1);
        await third.close();
        points++;
      }
    }
    console.log(`crash points in the first open(): ${points}`);
    expect(points).toBeGreaterThan(10);
  });
});
