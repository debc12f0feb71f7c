// Contended transfers through db.transaction() with default options, next to the serial baseline
// measured in the same run: the same transfers run one at a time behind a mutex (no conflicts).
// Each case is a closed loop of C clients (50 or 1,000), each starting its next transfer when the
// last one settled, for --seconds per mode, in --slices alternating slices of the two modes; a transfer moves 1 between two distinct random accounts out of
// A (2, 5, 50, 5,000). Two kinds of callback: `cpu` yields once (`await null`), `io` awaits a 1 ms
// timer between its reads and its writes (a transaction that waits for I/O).
// Reported: committed transfers/s, p50/p99 latency of one transfer (call to settle, ms), callback
// runs per commit, and the ratio to the serial baseline. Every case checks that the total is
// conserved and that no transfer failed. --rounds repeats the whole grid; figures are the median.
//
// Usage: pnpm bench:tx [--seconds 2] [--slices 2] [--rounds 3] [--kinds cpu,io] [--accounts 2,5,50,5000] [--clients 50,1000] [--json]
// Targets (issue 22): >= 0.8x the serial baseline at the hottest contention (2 accounts),
// >= 3x where transactions await I/O and rarely collide (io, 5,000 accounts).
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { open } from 'epochdb';
import { renderMarkdown } from './lib/report.mjs';
import { latencySummary } from './lib/stats.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    slices: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    kinds: { type: 'string', default: 'cpu,io' },
    accounts: { type: 'string', default: '2,5,50,5000' },
    clients: { type: 'string', default: '50,1000' },
    json: { type: 'boolean', default: false },
    'tx-only': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const SLICES = Number(values.slices);
const ROUNDS = Number(values.rounds);
const KINDS = values.kinds.split(',');
const ACCOUNTS = values.accounts.split(',').map(Number);
const CLIENTS = values.clients.split(',').map(Number);
const BALANCE = 1_000_000;
const IO_MS = 1;

/** A deterministic generator, one per client, so both modes draw the same pairs. */
function prng(seed) {
  let s = seed >>> 0 || 1;
  return () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
}

/** A FIFO async mutex: the serial baseline's one-at-a-time. */
function mutex() {
  let tail = Promise.resolve();
  return (fn) => {
    const run = tail.then(fn);
    tail = run.then(() => undefined, () => undefined);
    return run;
  };
}

/** A database with the accounts, and the transfer both modes run (`serial` behind the mutex). */
async function setup({ kind, accounts }, mode) {
  const db = await open();
  const keys = Array.from({ length: accounts }, (_, i) => `acct:${String(i).padStart(5, '0')}`);
  await db.batch(keys.map((key) => ({ op: 'put', key, value: BALANCE })));
  const locked = mode === 'serial' ? mutex() : (fn) => fn();
  const stats = { runs: 0, committed: 0, failed: 0, seconds: 0, latencies: [] };
  const transfer = (a, b) =>
    db.transaction(async (tx) => {
      stats.runs++;
      const x = tx.get(a);
      const y = tx.get(b);
      if (kind === 'io') await sleep(IO_MS);
      else await null;
      tx.put(a, x - 1);
      tx.put(b, y + 1);
    });
  return { db, keys, stats, mode, run: (a, b) => locked(() => transfer(a, b)) };
}

/** One closed-loop slice of `seconds` on `side`: every client runs transfers back to back until the deadline. */
async function slice(side, { kind, accounts, clients }, seconds, salt) {
  const { keys, stats } = side;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const client = async (id) => {
    const random = prng(id * 7919 + accounts * 31 + salt);
    while (performance.now() < deadline) {
      const i = Math.floor(random() * accounts);
      const j = (i + 1 + Math.floor(random() * (accounts - 1))) % accounts;
      const t0 = performance.now();
      try {
        await side.run(keys[i], keys[j]);
        stats.committed++;
        stats.latencies.push(performance.now() - t0);
      } catch (error) {
        stats.failed++;
        if (stats.failed === 1) console.error(`${kind}/${accounts}/${clients}/${side.mode}: ${error.code ?? error.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, id) => client(id)));
  stats.seconds += (performance.now() - started) / 1000;
}

/**
 * Both modes of one case in alternating slices (tx, serial, serial, tx, ...), so a
 * neighbour's load on the shared machine falls on both alike.
 */
async function runCase(g) {
  const sides = { tx: await setup(g, 'tx') };
  if (!values['tx-only']) sides.serial = await setup(g, 'serial');
  const modes = Object.keys(sides);
  for (let s = 0; s < SLICES; s++) {
    for (const mode of s % 2 === 0 ? modes : [...modes].reverse()) await slice(sides[mode], g, SECONDS / SLICES, s);
  }
  const out = {};
  for (const mode of modes) {
    const { db, keys, stats } = sides[mode];
    let total = 0;
    for (const key of keys) total += db.get(key);
    await db.close();
    if (total !== g.accounts * BALANCE) throw new Error(`${g.kind}/${g.accounts}/${g.clients}/${mode}: total ${total}, expected ${g.accounts * BALANCE}`);
    const { p50, p99 } = latencySummary(stats.latencies);
    out[mode] = { perSec: stats.committed / stats.seconds, p50, p99, runsPerCommit: stats.runs / Math.max(1, stats.committed), failed: stats.failed, committed: stats.committed };
  }
  // --tx-only (for profiling): the baseline is not run; its figures are reported as NaN.
  out.serial ??= { perSec: NaN, p50: NaN, p99: NaN, failed: 0 };
  return out;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const grid = [];
for (const kind of KINDS) for (const accounts of ACCOUNTS) for (const clients of CLIENTS) grid.push({ kind, accounts, clients });

const rounds = [];
for (let round = 0; round < ROUNDS; round++) {
  const results = [];
  for (const g of grid) {
    const { tx, serial } = await runCase(g);
    results.push({ ...g, tx, serial, ratio: tx.perSec / serial.perSec });
  }
  rounds.push(results);
  const ratios = results.map((r) => `${r.kind}/${r.accounts}/${r.clients}: ${r.ratio.toFixed(2)}x`).join('  ');
  console.error(`round ${round + 1}: ${ratios}`);
}

const fmt = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const rows = grid.map((g, i) => {
  const all = rounds.map((r) => r[i]);
  const m = (f) => median(all.map(f));
  return {
    ...g,
    txPerSec: m((r) => r.tx.perSec),
    txP50: m((r) => r.tx.p50),
    txP99: m((r) => r.tx.p99),
    runsPerCommit: m((r) => r.tx.runsPerCommit),
    serialPerSec: m((r) => r.serial.perSec),
    serialP50: m((r) => r.serial.p50),
    serialP99: m((r) => r.serial.p99),
    ratio: m((r) => r.ratio),
    ratios: all.map((r) => r.ratio),
    failed: all.reduce((n, r) => n + r.tx.failed + r.serial.failed, 0),
  };
});

if (values.json) {
  console.log(JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, node: process.version, rows }, null, 2));
} else {
  console.log(`Contended transfers, default transaction() options, ${SECONDS} s per mode and case in ${SLICES} alternating slices, median of ${ROUNDS} rounds (Node ${process.version})\n`);
  console.log(
    renderMarkdown({
      headers: ['callback', 'accounts', 'clients', 'tx transfers/s', 'tx p50 ms', 'tx p99 ms', 'runs/commit', 'serial transfers/s', 'serial p50 ms', 'serial p99 ms', 'ratio (rounds)', 'failed'],
      rows: rows.map((r) => [
        r.kind,
        fmt(r.accounts),
        fmt(r.clients),
        fmt(r.txPerSec),
        fmt(r.txP50, 2),
        fmt(r.txP99, 2),
        fmt(r.runsPerCommit, 2),
        fmt(r.serialPerSec),
        fmt(r.serialP50, 2),
        fmt(r.serialP99, 2),
        `${r.ratio.toFixed(2)}x (${r.ratios.map((x) => x.toFixed(2)).join(', ')})`,
        String(r.failed),
      ]),
    }),
  );
  const hottest = rows.filter((r) => r.accounts === Math.min(...ACCOUNTS));
  const rare = rows.filter((r) => r.kind === 'io' && r.accounts === Math.max(...ACCOUNTS));
  console.log('\nTargets:');
  for (const r of hottest) console.log(`- hottest (${r.kind}, ${r.accounts} accounts, ${r.clients} clients) >= 0.8x serial: ${r.ratio.toFixed(2)}x ${r.ratio >= 0.8 ? 'met' : 'NOT met'}`);
  for (const r of rare) console.log(`- awaits I/O, rare collisions (${r.accounts} accounts, ${r.clients} clients) >= 3x serial: ${r.ratio.toFixed(2)}x ${r.ratio >= 3 ? 'met' : 'NOT met'}`);
}
