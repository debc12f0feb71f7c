/**
 * Soak test for EpochDB (issue 6): N concurrent async clients run mixed
 * transactions, TTL writes, tagged puts and snapshot scans against a
 * persistent database for a given duration, check invariants continuously,
 * then close, reopen and check that nothing acknowledged was lost.
 *
 * Run (heap figures are taken after a full GC, so expose it):
 *
 *   npx tsc -b && node --expose-gc --import tsx scripts/soak.ts --seconds 600
 *   npx -y pnpm@10 soak -- --seconds 20          # without --expose-gc the script
 *                                                 # enables gc itself via v8.setFlagsFromString
 *
 * Options: --seconds 60  --clients 16  --accounts 1000  --keys 2000 (tagged key space)
 *          --sessions 20000 (session key space)  --dir <path> (default: a temp dir,
 *          removed at the end unless --keep)  --sync always|interval|none
 *          --report-every 10  --json (one JSON document on stdout; report lines go to stderr)
 *
 * Clients (all on one event loop, interleaving at every await):
 *  - transfers between random accounts in transactions, 'snapshot' and
 *    'serializable' mixed, sometimes awaiting inside the callback; every
 *    acknowledged transfer is added to a model of the expected balances;
 *  - TTL writes to `session:*` (ttl 200..3000 ms) so the TTL cleaner always has work;
 *  - tagged puts / deletes (run + type) to a bounded `tag:*` key space; the
 *    model keeps, per key, the highest acknowledged version and what it wrote;
 *  - audits: a snapshot (held across awaits) or a read-only serializable
 *    transaction sums every `acct:*` balance and must see the conserved total.
 *
 * Exit status: 0 when every invariant passed, 1 otherwise, 2 on bad arguments.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { open, type Database, type OpenOptions, type SyncMode, type Transaction } from 'epochdb';

// ---------------------------------------------------------------- arguments

function usage(message?: string): never {
  if (message) process.stderr.write(`soak: ${message}\n`);
  process.stderr.write(
    'usage: node --expose-gc --import tsx scripts/soak.ts [--seconds 60] [--clients 16] [--accounts 1000]\n' +
      '         [--keys 2000] [--sessions 20000] [--dir DIR] [--keep] [--sync always|interval|none]\n' +
      '         [--report-every 10] [--json]\n',
  );
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      seconds: { type: 'string', default: '60' },
      clients: { type: 'string', default: '16' },
      accounts: { type: 'string', default: '1000' },
      keys: { type: 'string', default: '2000' },
      sessions: { type: 'string', default: '20000' },
      dir: { type: 'string' },
      keep: { type: 'boolean', default: false },
      sync: { type: 'string', default: 'always' },
      'report-every': { type: 'string', default: '10' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (err) {
  usage((err as Error).message);
}
if (parsed.help) usage();

function num(name: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) usage(`--${name} must be a number >= ${min} (got ${JSON.stringify(raw)})`);
  return n;
}
const SECONDS = num('seconds', parsed.seconds!, 1);
const CLIENTS = Math.floor(num('clients', parsed.clients!, 1));
const ACCOUNTS = Math.floor(num('accounts', parsed.accounts!, 2));
const TAG_KEYS = Math.floor(num('keys', parsed.keys!, 1));
const SESSION_KEYS = Math.floor(num('sessions', parsed.sessions!, 1));
const REPORT_EVERY = num('report-every', parsed['report-every']!, 0.5);
const JSON_OUT = parsed.json!;
const KEEP = parsed.keep!;
if (!['always', 'interval', 'none'].includes(parsed.sync!)) usage(`--sync must be always, interval or none (got ${parsed.sync})`);
const SYNC = parsed.sync as SyncMode;

const INITIAL_BALANCE = 1000;
const TOTAL = ACCOUNTS * INITIAL_BALANCE;
const TTL_MIN = 200;
const TTL_MAX = 3000;
const TYPES = ['order', 'user', 'event'] as const;
const RETRIES = 5;

// ---------------------------------------------------------------- gc

type GcFn = () => void;
let gc: GcFn | undefined = (globalThis as { gc?: GcFn }).gc;
let gcSource = gc ? '--expose-gc' : 'none';
if (!gc) {
  try {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as GcFn;
    gcSource = 'v8.setFlagsFromString';
  } catch {
    gc = undefined;
  }
}

// ---------------------------------------------------------------- output

/** Human-readable lines: stdout, or stderr when stdout carries --json. */
const out = (line = ''): void => {
  clearProgress();
  (JSON_OUT ? process.stderr : process.stdout).write(line + '\n');
};
let progressShown = false;
function clearProgress(): void {
  if (progressShown && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  progressShown = false;
}
function progress(line: string): void {
  if (process.stderr.isTTY) {
    process.stderr.write('\r\x1b[K' + line);
    progressShown = true;
  } else {
    process.stderr.write(line + '\n');
  }
}
const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
const pad = (s: string | number, n: number): string => String(s).padStart(n);
const fmtMs = (ms: number | undefined): string => (ms === undefined ? '-' : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));

// ---------------------------------------------------------------- latency

/** Log-bucketed histogram (2% resolution) for run-long percentiles without keeping samples. */
class Histogram {
  static readonly BASE = 1.02;
  static readonly MIN = 0.001; // ms
  readonly counts = new Map<number, number>();
  n = 0;
  max = 0;
  add(ms: number): void {
    const i = ms <= Histogram.MIN ? 0 : Math.ceil(Math.log(ms / Histogram.MIN) / Math.log(Histogram.BASE));
    this.counts.set(i, (this.counts.get(i) ?? 0) + 1);
    this.n++;
    if (ms > this.max) this.max = ms;
  }
  quantile(q: number): number | undefined {
    if (this.n === 0) return undefined;
    const rank = Math.ceil(q * this.n);
    let seen = 0;
    for (const i of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(i)!;
      if (seen >= rank) return Math.min(this.max, Histogram.MIN * Histogram.BASE ** i);
    }
    return this.max;
  }
}

/** Exact percentiles over one report interval (samples dropped afterwards). */
class Window {
  samples: number[] = [];
  add(ms: number): void {
    this.samples.push(ms);
  }
  take(): { p50?: number | undefined; p99?: number | undefined; max?: number | undefined; n: number } {
    const s = this.samples.sort((a, b) => a - b);
    this.samples = [];
    if (s.length === 0) return { n: 0 };
    const at = (q: number): number => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
    return { p50: at(0.5), p99: at(0.99), max: s[s.length - 1]!, n: s.length };
  }
}

// ---------------------------------------------------------------- invariants

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}
const failures = new Map<string, { count: number; first: string[] }>();
function fail(invariant: string, message: string): void {
  let f = failures.get(invariant);
  if (!f) failures.set(invariant, (f = { count: 0, first: [] }));
  f.count++;
  if (f.first.length < 5) {
    f.first.push(message);
    clearProgress();
    process.stderr.write(`soak: FAIL ${invariant}: ${message}\n`);
  }
}
const failCount = (invariant: string): number => failures.get(invariant)?.count ?? 0;
const failDetail = (invariant: string): string => failures.get(invariant)?.first.join(' | ') ?? '';

function codeOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
function describe(err: unknown): string {
  if (err instanceof Error) return `${codeOf(err) ?? err.name}: ${err.message}${err.stack ? ` @ ${err.stack.split('\n').slice(1, 3).join(' ').trim()}` : ''}`;
  return String(err);
}

// ---------------------------------------------------------------- model

const acctKey = (i: number): string => `acct:${String(i).padStart(6, '0')}`;
const tagKey = (i: number): string => `tag:${String(i).padStart(6, '0')}`;
const sessionKey = (i: number): string => `session:${String(i).padStart(6, '0')}`;
const rand = (n: number): number => Math.floor(Math.random() * n);

/** Expected balances: initial + every acknowledged transfer (transfers commute, so order does not matter). */
const expectedBalance = new Float64Array(ACCOUNTS).fill(INITIAL_BALANCE);

interface TagModel {
  version: number;
  deleted: boolean;
  value?: unknown;
  run?: string;
  type?: string;
}
/** Per tagged key: the highest acknowledged version and what it wrote. */
const tagModel = new Map<string, TagModel>();

interface SessionModel {
  version: number;
  value: unknown;
  /** Expiry lies in [earliestExpiry, latestExpiry] (commit happens between the call and the ack). */
  earliestExpiry: number;
  latestExpiry: number;
}
const sessionModel = new Map<string, SessionModel>();
let maxAckVersion = 0;

// ---------------------------------------------------------------- counters

const totals = {
  transfers: 0,
  declined: 0,
  txCalls: 0,
  txAttempts: 0,
  txConflictFailures: 0,
  audits: 0,
  snapshotAudits: 0,
  txAudits: 0,
  puts: 0,
  deletes: 0,
  sessionPuts: 0,
  unexpectedErrors: 0,
};
let interval = { ...totals };
const txHist = new Histogram();
const putHist = new Histogram();
const txWin = new Window();
const putWin = new Window();
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function unexpected(where: string, err: unknown): void {
  totals.unexpectedErrors++;
  fail('no unexpected errors', `${where}: ${describe(err)}`);
}

// ---------------------------------------------------------------- clients

let db: Database;
let stopping = false;
let runTimer = 0;

const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function transfer(): Promise<void> {
  const a = rand(ACCOUNTS);
  let b = rand(ACCOUNTS - 1);
  if (b >= a) b++;
  const amount = 1 + rand(50);
  const isolation = Math.random() < 0.5 ? 'snapshot' : 'serializable';
  const awaitInside = Math.random() < 0.3;
  const t0 = performance.now();
  totals.txCalls++;
  try {
    const moved = await db.transaction(
      async (tx: Transaction) => {
        totals.txAttempts++;
        const from = tx.get(acctKey(a)) as number;
        const to = tx.get(acctKey(b)) as number;
        if (typeof from !== 'number' || typeof to !== 'number') throw new Error(`account missing inside transaction: ${from} ${to}`);
        if (awaitInside) await yieldTurn();
        if (from < amount) return false;
        tx.put(acctKey(a), from - amount, { type: 'account' });
        tx.put(acctKey(b), to + amount, { type: 'account' });
        return true;
      },
      { isolation, retries: RETRIES },
    );
    const ms = performance.now() - t0;
    txHist.add(ms);
    txWin.add(ms);
    if (moved) {
      expectedBalance[a]! -= amount;
      expectedBalance[b]! += amount;
      totals.transfers++;
    } else {
      totals.declined++;
    }
  } catch (err) {
    if (codeOf(err) === 'CONFLICT') totals.txConflictFailures++;
    else unexpected(`transfer ${acctKey(a)} -> ${acctKey(b)} (${isolation})`, err);
  }
}

let putSeq = 0;
/** Writes to each tagged key not yet settled: a later one may already be visible but not acknowledged. */
const inFlight = new Map<string, number>();
let ryowChecked = 0;
async function taggedWrite(client: number): Promise<void> {
  const key = tagKey(rand(TAG_KEYS));
  const t0 = performance.now();
  inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
  const settled = (): void => {
    const n = inFlight.get(key)! - 1;
    if (n === 0) inFlight.delete(key);
    else inFlight.set(key, n);
  };
  try {
    if (Math.random() < 0.05) {
      const version = await db.delete(key);
      record(version, { version, deleted: true });
      totals.deletes++;
    } else {
      const run = `client-${client}`;
      const type = TYPES[rand(TYPES.length)]!;
      const value = { seq: ++putSeq, client, at: Date.now(), pad: 'x'.repeat(rand(200)) };
      const version = await db.put(key, value, { run, type });
      record(version, { version, deleted: false, value, run, type });
      totals.puts++;
    }
    const ms = performance.now() - t0;
    putHist.add(ms);
    putWin.add(ms);
  } catch (err) {
    settled();
    unexpected(`tagged write ${key}`, err);
  }

  function record(version: number, m: TagModel): void {
    settled();
    if (version > maxAckVersion) maxAckVersion = version;
    const prev = tagModel.get(key);
    if (!prev || prev.version < version) tagModel.set(key, m);
    // Read-your-writes: once acknowledged, the key is at the newest acknowledged
    // version or a newer one (checked only when no other write to it is pending:
    // a pending delete is visible before it is acknowledged and hides the version).
    if (inFlight.has(key)) return;
    ryowChecked++;
    const now = db.getEntry(key);
    const newest = tagModel.get(key)!;
    if (newest.deleted ? now !== undefined && now.version <= newest.version : now === undefined || now.version < newest.version) {
      fail('read your acknowledged writes', `${key}: acknowledged v${newest.version}${newest.deleted ? ' (delete)' : ''}, read ${now ? `v${now.version}` : 'nothing'}`);
    }
  }
}

async function sessionWrite(client: number): Promise<void> {
  const key = sessionKey(rand(SESSION_KEYS));
  const ttl = TTL_MIN + rand(TTL_MAX - TTL_MIN);
  const value = { user: `u${rand(1e6)}`, client, ttl };
  const tCall = Date.now();
  const t0 = performance.now();
  try {
    const version = await db.put(key, value, { ttl, type: 'session', run: `client-${client}` });
    const ms = performance.now() - t0;
    putHist.add(ms);
    putWin.add(ms);
    if (version > maxAckVersion) maxAckVersion = version;
    const prev = sessionModel.get(key);
    if (!prev || prev.version < version) sessionModel.set(key, { version, value, earliestExpiry: tCall + ttl, latestExpiry: Date.now() + ttl });
    totals.sessionPuts++;
  } catch (err) {
    unexpected(`session put ${key}`, err);
  }
}

function sumAccounts(entries: Iterable<{ key: string; value: unknown }>): { sum: number; count: number; bad?: string } {
  let sum = 0;
  let count = 0;
  for (const e of entries) {
    if (typeof e.value !== 'number') return { sum, count, bad: `${e.key} = ${JSON.stringify(e.value)}` };
    sum += e.value;
    count++;
  }
  return { sum, count };
}

async function audit(): Promise<void> {
  totals.audits++;
  try {
    if (Math.random() < 0.5) {
      totals.snapshotAudits++;
      const snap = db.snapshot();
      try {
        const first = sumAccounts(snap.scan({ prefix: 'acct:' }));
        checkSum('snapshot', first);
        await sleep(rand(30)); // hold it across awaits: pins history while writes go on
        const again = sumAccounts(snap.scan({ prefix: 'acct:' }));
        if (again.sum !== first.sum || again.count !== first.count) {
          fail('snapshot consistency', `snapshot v${snap.version} read ${first.sum}/${first.count}, then ${again.sum}/${again.count}`);
        }
        // Point reads through the same snapshot agree with its scan.
        let viaGets = 0;
        for (let i = 0; i < ACCOUNTS; i++) viaGets += snap.get(acctKey(i)) as number;
        if (viaGets !== first.sum) fail('snapshot consistency', `snapshot v${snap.version}: scan sum ${first.sum}, get sum ${viaGets}`);
      } finally {
        snap.release();
      }
    } else {
      totals.txAudits++;
      const result = await db.transaction(
        async (tx: Transaction) => {
          const r = sumAccounts(tx.scan({ prefix: 'acct:' }));
          if (Math.random() < 0.5) await yieldTurn();
          return r;
        },
        { isolation: 'serializable', retries: RETRIES },
      );
      checkSum('read-only transaction', result);
    }
  } catch (err) {
    if (codeOf(err) !== 'CONFLICT') unexpected('audit', err);
  }

  function checkSum(what: string, r: { sum: number; count: number; bad?: string }): void {
    if (r.bad) fail('snapshot consistency', `${what}: not a number: ${r.bad}`);
    else if (r.sum !== TOTAL || r.count !== ACCOUNTS) fail('snapshot consistency', `${what}: sum ${r.sum} over ${r.count} accounts, expected ${TOTAL} over ${ACCOUNTS}`);
  }
}

async function client(id: number): Promise<void> {
  while (!stopping) {
    const r = Math.random();
    if (r < 0.4) await transfer();
    else if (r < 0.7) await taggedWrite(id);
    else if (r < 0.95) await sessionWrite(id);
    else await audit();
  }
}

// ---------------------------------------------------------------- reporting

interface Row {
  elapsed: number;
  commitsPerSec: number;
  transfersPerSec: number;
  putsPerSec: number;
  conflictRate: number;
  txP50: number | undefined;
  txP99: number | undefined;
  putP50: number | undefined;
  putP99: number | undefined;
  loopDelayP99: number;
  loopDelayMax: number;
  heapUsed: number;
  heapAfterGc: number | undefined;
  rss: number;
  keys: number;
  storedVersions: number;
  ttlEntries: number;
  pendingGc: number;
  openSnapshots: number;
  checkpoints: number;
  reclaimedExpired: number;
  collectedVersions: number;
  walBytesSinceCheckpoint: number;
}
const rows: Row[] = [];
interface MemSample {
  /** Seconds into the run (the scheduled report time, for the quarter comparison). */
  elapsed: number;
  heapAfterGc: number;
  rss: number;
}
const memSamples: MemSample[] = [];

function heapNow(): { heap: number; rss: number } {
  if (gc) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

function commitsOf(t: typeof totals): number {
  return t.transfers + t.puts + t.deletes + t.sessionPuts;
}

let lastReportAt = 0;
function report(elapsed: number, scheduled = elapsed): void {
  const dt = elapsed - lastReportAt || 1e-9;
  lastReportAt = elapsed;
  const d = Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, v - interval[k as keyof typeof totals]])) as typeof totals;
  interval = { ...totals };
  const tx = txWin.take();
  const put = putWin.take();
  const mem = heapNow();
  memSamples.push({ elapsed: scheduled, heapAfterGc: mem.heap, rss: mem.rss });
  const s = db.stats();
  const row: Row = {
    elapsed,
    commitsPerSec: commitsOf(d) / dt,
    transfersPerSec: d.transfers / dt,
    putsPerSec: (d.puts + d.deletes + d.sessionPuts) / dt,
    conflictRate: d.txAttempts ? Math.max(0, d.txAttempts - (d.transfers + d.declined)) / d.txAttempts : 0,
    txP50: tx.p50,
    txP99: tx.p99,
    putP50: put.p50,
    putP99: put.p99,
    loopDelayP99: loopDelay.percentile(99) / 1e6,
    loopDelayMax: loopDelay.max / 1e6,
    heapUsed: mem.heap,
    heapAfterGc: gc ? mem.heap : undefined,
    rss: mem.rss,
    keys: s.keys,
    storedVersions: s.storedVersions,
    ttlEntries: s.ttlEntries,
    pendingGc: s.pendingGc,
    openSnapshots: s.openSnapshots,
    checkpoints: s.checkpoints,
    reclaimedExpired: s.reclaimedExpired,
    collectedVersions: s.collectedVersions,
    walBytesSinceCheckpoint: s.walBytesSinceCheckpoint,
  };
  loopDelay.reset();
  rows.push(row);
  if (s.maintenanceErrors > 0) fail('no background errors', `maintenanceErrors ${s.maintenanceErrors}: ${s.lastMaintenanceError}`);
  if (s.checkpointErrors > 0) fail('no background errors', `checkpointErrors ${s.checkpointErrors}: ${s.lastCheckpointError}`);
  out(formatRow(row));
}

const HEADER =
  '  elapsed  commits/s  xfers/s  conflict  tx p50/p99 ms   put p50/p99 ms  loop p99  heap MiB   rss MiB      keys  versions  ttl-live  ckpts  reclaimed';
function formatRow(r: Row): string {
  return [
    pad(`${r.elapsed.toFixed(0)}s`, 9),
    pad(r.commitsPerSec.toFixed(0), 10),
    pad(r.transfersPerSec.toFixed(0), 8),
    pad(`${(r.conflictRate * 100).toFixed(2)}%`, 9),
    pad(`${fmtMs(r.txP50)}/${fmtMs(r.txP99)}`, 15),
    pad(`${fmtMs(r.putP50)}/${fmtMs(r.putP99)}`, 16),
    pad(fmtMs(r.loopDelayP99), 9),
    pad(mib(r.heapUsed), 9),
    pad(mib(r.rss), 9),
    pad(r.keys, 9),
    pad(r.storedVersions, 9),
    pad(r.ttlEntries, 9),
    pad(r.checkpoints, 6),
    pad(r.reclaimedExpired, 10),
  ].join(' ');
}

// ---------------------------------------------------------------- final checks

async function reopenChecks(options: OpenOptions, checks: Check[]): Promise<void> {
  const t0 = performance.now();
  const db2 = await open(options);
  const reopenMs = performance.now() - t0;
  try {
    checks.push({ name: 'reopen: version >= last acknowledged', ok: db2.version >= maxAckVersion, detail: `version ${db2.version}, highest acknowledged ${maxAckVersion}, reopened in ${reopenMs.toFixed(0)} ms (checkpoint v${db2.recovery?.checkpointVersion}, ${db2.recovery?.replayedRecords} WAL records replayed)` });

    // Total conserved, and every account at its acknowledged balance.
    const r = sumAccounts(db2.scan({ prefix: 'acct:' }));
    checks.push({ name: 'reopen: total conserved', ok: !r.bad && r.sum === TOTAL && r.count === ACCOUNTS, detail: r.bad ?? `sum ${r.sum} over ${r.count} accounts (expected ${TOTAL} over ${ACCOUNTS})` });
    let wrong = 0;
    const wrongEx: string[] = [];
    for (let i = 0; i < ACCOUNTS; i++) {
      const v = db2.get(acctKey(i));
      if (v !== expectedBalance[i]) {
        wrong++;
        if (wrongEx.length < 3) wrongEx.push(`${acctKey(i)}=${v} expected ${expectedBalance[i]}`);
      }
    }
    checks.push({ name: 'reopen: every acknowledged transfer present', ok: wrong === 0, detail: wrong ? `${wrong} accounts differ: ${wrongEx.join(', ')}` : `${ACCOUNTS} balances match ${totals.transfers} acknowledged transfers` });

    // Tagged keys: the highest acknowledged write of each key, with its value, run and type.
    let lost = 0;
    const lostEx: string[] = [];
    const liveByType = new Map<string, number>();
    const liveByRun = new Map<string, number>();
    for (const [key, m] of tagModel) {
      const e = db2.getEntry(key);
      let problem: string | undefined;
      if (m.deleted) {
        if (e !== undefined) problem = `deleted at v${m.version}, found v${e.version}`;
      } else {
        liveByType.set(m.type!, (liveByType.get(m.type!) ?? 0) + 1);
        liveByRun.set(m.run!, (liveByRun.get(m.run!) ?? 0) + 1);
        if (!e) problem = `v${m.version} missing`;
        else if (e.version !== m.version) problem = `acknowledged v${m.version}, found v${e.version}`;
        else if (!isDeepStrictEqual(e.value, m.value) || e.run !== m.run || e.type !== m.type) problem = `v${m.version} value/run/type differ`;
      }
      if (problem) {
        lost++;
        if (lostEx.length < 3) lostEx.push(`${key}: ${problem}`);
      }
    }
    checks.push({ name: 'reopen: no lost acknowledged write (tagged keys)', ok: lost === 0, detail: lost ? `${lost} keys wrong: ${lostEx.join('; ')}` : `${tagModel.size} keys at their highest acknowledged version (${totals.puts} puts, ${totals.deletes} deletes)` });
    const extra = [...db2.scan({ prefix: 'tag:' })].filter((e) => tagModel.get(e.key)?.deleted !== false).length;
    let indexBad = extra ? [`${extra} tag: keys present that the model does not have`] : [];
    for (const type of TYPES) {
      const n = [...db2.byType(type, { prefix: 'tag:' })].length;
      if (n !== (liveByType.get(type) ?? 0)) indexBad.push(`byType(${type}) ${n}, expected ${liveByType.get(type) ?? 0}`);
    }
    for (let c = 0; c < CLIENTS; c++) {
      const run = `client-${c}`;
      const n = [...db2.byRun(run, { prefix: 'tag:' })].length;
      if (n !== (liveByRun.get(run) ?? 0)) indexBad.push(`byRun(${run}) ${n}, expected ${liveByRun.get(run) ?? 0}`);
    }
    indexBad = indexBad.slice(0, 4);
    checks.push({ name: 'reopen: run/type indexes match', ok: indexBad.length === 0, detail: indexBad.join('; ') || `${TYPES.length} types, ${CLIENTS} runs` });

    // TTL: expired sessions invisible on every read path; unexpired ones present.
    // Time moves on while this loop runs: judge each key against the clock right before reading it.
    let visibleExpired = 0;
    let missingLive = 0;
    const expiredEx: string[] = [];
    const liveEx: string[] = [];
    let expiredCount = 0;
    let liveCount = 0;
    for (const [key, m] of sessionModel) {
      const t = Date.now();
      if (m.latestExpiry < t) {
        expiredCount++;
        if (db2.has(key) || db2.get(key) !== undefined || db2.getEntry(key) !== undefined) {
          visibleExpired++;
          if (expiredEx.length < 3) expiredEx.push(`${key} expired by ${m.latestExpiry} still visible at ${t}`);
        }
      } else if (m.earliestExpiry > t + 20) {
        liveCount++;
        const e = db2.getEntry(key);
        if (!e || e.version !== m.version || !isDeepStrictEqual(e.value, m.value)) {
          missingLive++;
          if (liveEx.length < 3) liveEx.push(`${key} v${m.version} (expires ${m.earliestExpiry}, now ${Date.now()}) ${e ? `found v${e.version}` : 'missing'}`);
        }
      }
    }
    // A scan judges expiry against the time it started (documented), so compare with that.
    let scanExpired = 0;
    let scanStart = Date.now();
    for (const e of db2.scan({ prefix: 'session:' })) if (e.expiresAt === undefined || e.expiresAt <= scanStart) scanExpired++;
    scanStart = Date.now();
    for (const e of db2.byType('session')) if (e.expiresAt === undefined || e.expiresAt <= scanStart) scanExpired++;
    checks.push({ name: 'reopen: no expired TTL key visible', ok: visibleExpired === 0 && scanExpired === 0, detail: `${expiredCount} expired sessions checked by get/has/getEntry, scan + byType saw ${scanExpired} expired${expiredEx.length ? `; ${expiredEx.join('; ')}` : ''}` });
    checks.push({ name: 'reopen: unexpired TTL writes present', ok: missingLive === 0, detail: `${liveCount} unexpired sessions, ${missingLive} missing or wrong${liveEx.length ? `; ${liveEx.join('; ')}` : ''}` });

    // The cleaner reclaims every expired session after reopen: keys settle at accounts + live tags.
    const lastExpiry = Math.max(0, ...[...sessionModel.values()].map((m) => m.latestExpiry));
    const liveTags = [...tagModel.values()].filter((m) => !m.deleted).length;
    const expectedKeys = ACCOUNTS + liveTags;
    const deadline = Math.max(lastExpiry, Date.now()) + 10_000;
    let s = db2.stats();
    while ((s.keys !== expectedKeys || s.ttlEntries !== 0) && Date.now() < deadline) {
      await sleep(100);
      s = db2.stats();
    }
    checks.push({ name: 'reopen: TTL cleaner reclaims all expired', ok: s.keys === expectedKeys && s.ttlEntries === 0, detail: `keys ${s.keys} (expected ${expectedKeys}), ttlEntries ${s.ttlEntries}, reclaimed ${s.reclaimedExpired} after reopen` });
  } finally {
    await db2.close();
  }
}

function memoryVerdict(): Check {
  const q = (lo: number, hi: number): MemSample[] => memSamples.filter((m) => m.elapsed > lo * SECONDS && m.elapsed <= hi * SECONDS + 1e-6);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const q2 = q(0.25, 0.5);
  const q4 = q(0.75, 1);
  if (q2.length === 0 || q4.length === 0) return { name: 'memory levels off', ok: false, detail: `too few samples (${memSamples.length}); run longer` };
  const h2 = mean(q2.map((m) => m.heapAfterGc));
  const h4 = mean(q4.map((m) => m.heapAfterGc));
  const r2 = mean(q2.map((m) => m.rss));
  const r4 = mean(q4.map((m) => m.rss));
  const growth = h4 / h2 - 1;
  return {
    name: 'memory levels off',
    ok: growth <= 0.2,
    detail: `heap${gc ? ' after GC' : ' (no GC available: noisy)'}: 2nd quarter ${mib(h2)} MiB, last quarter ${mib(h4)} MiB (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%, limit +20%); rss ${mib(r2)} -> ${mib(r4)} MiB`,
  };
}

// ---------------------------------------------------------------- main

const dir = parsed.dir ?? (await mkdtemp(join(tmpdir(), 'epochdb-soak-')));
const removeDir = !parsed.dir && !KEEP;
const openOptions: OpenOptions = {
  dir,
  sync: SYNC,
  checkpointWalBytes: 8 << 20,
  maintenance: { intervalMs: 250, sliceMs: 2 },
};

out(`EpochDB soak: ${SECONDS}s, ${CLIENTS} clients, ${ACCOUNTS} accounts, ${TAG_KEYS} tagged keys, ${SESSION_KEYS} session keys, sync '${SYNC}', dir ${dir}${removeDir ? ' (temporary)' : ''}`);
out(`node ${process.version}, gc: ${gcSource} (heap figures are heapUsed right after a full GC), checkpointWalBytes 8 MiB, maintenance every 250 ms`);

db = await open(openOptions);
if (db.stats().keys > 0) {
  await db.close();
  usage(`--dir ${dir} is not empty: the soak test needs a fresh directory`);
}
{
  const ops = [];
  for (let i = 0; i < ACCOUNTS; i++) ops.push({ op: 'put' as const, key: acctKey(i), value: INITIAL_BALANCE, type: 'account' });
  await db.batch(ops);
}

const startMem = heapNow();
memSamples.push({ elapsed: 0, heapAfterGc: startMem.heap, rss: startMem.rss });
out(`initial: ${ACCOUNTS} accounts, total ${TOTAL}; heap ${mib(startMem.heap)} MiB, rss ${mib(startMem.rss)} MiB`);
out();
out(HEADER);

const start = performance.now();
const elapsedS = (): number => (performance.now() - start) / 1000;
const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));

const progressTimer = setInterval(() => {
  if (!process.stderr.isTTY) return;
  const e = elapsedS();
  progress(`soak ${e.toFixed(0)}/${SECONDS}s  commits ${commitsOf(totals)}  transfers ${totals.transfers}  conflicts ${totals.txAttempts - totals.transfers - totals.declined}  failures ${[...failures.values()].reduce((a, f) => a + f.count, 0)}`);
}, 1000);
let nextReport = REPORT_EVERY;
for (;;) {
  const target = Math.min(nextReport, SECONDS);
  const waitMs = target * 1000 - (performance.now() - start);
  if (waitMs > 0) await sleep(waitMs);
  const e = elapsedS();
  report(e, target);
  if (!process.stderr.isTTY) progress(`soak ${e.toFixed(0)}/${SECONDS}s  commits ${commitsOf(totals)}  failures ${[...failures.values()].reduce((a, f) => a + f.count, 0)}`);
  if (target >= SECONDS) break;
  nextReport += REPORT_EVERY;
}
runTimer = elapsedS();
stopping = true;
await Promise.all(clients);
clearInterval(progressTimer);
clearProgress();

// ---- checks on the live database, then close, reopen, check again
const checks: Check[] = [];
{
  const r = sumAccounts(db.scan({ prefix: 'acct:' }));
  let wrong = 0;
  for (let i = 0; i < ACCOUNTS; i++) if (db.get(acctKey(i)) !== expectedBalance[i]) wrong++;
  checks.push({ name: 'before close: total conserved, balances match model', ok: r.sum === TOTAL && wrong === 0, detail: `sum ${r.sum}, ${wrong} accounts differ from the model` });
}
const finalStats = db.stats();
const closeT0 = performance.now();
await db.close();
const closeMs = performance.now() - closeT0;
await reopenChecks(openOptions, checks);

const ran = runTimer;
const overallConflict = totals.txAttempts ? (totals.txAttempts - totals.transfers - totals.declined) / totals.txAttempts : 0;
checks.unshift(
  { name: 'snapshot consistency (every audit saw the total)', ok: failCount('snapshot consistency') === 0, detail: failCount('snapshot consistency') ? failDetail('snapshot consistency') : `${totals.audits} audits (${totals.snapshotAudits} snapshots, ${totals.txAudits} read-only transactions)` },
  { name: 'no unexpected errors (only CONFLICT after retries)', ok: failCount('no unexpected errors') === 0, detail: failCount('no unexpected errors') ? `${failCount('no unexpected errors')}: ${failDetail('no unexpected errors')}` : `${totals.txConflictFailures} transactions gave up with CONFLICT after ${RETRIES} retries` },
  { name: 'read your acknowledged writes', ok: failCount('read your acknowledged writes') === 0, detail: failDetail('read your acknowledged writes') || `${ryowChecked} of ${totals.puts + totals.deletes} tagged writes checked right after their ack (the rest had another write to the key pending)` },
  { name: 'no background errors (maintenance, checkpoints)', ok: failCount('no background errors') === 0 && finalStats.maintenanceErrors === 0 && finalStats.checkpointErrors === 0, detail: failDetail('no background errors') || `${finalStats.maintenancePasses} maintenance passes, ${finalStats.checkpoints} checkpoints` },
);
checks.push(memoryVerdict());

// ---- summary
out();
out('Summary over time');
out(HEADER);
for (const r of rows) out(formatRow(r));
out();
out(`ran ${ran.toFixed(1)} s: ${commitsOf(totals)} acknowledged commits (${(commitsOf(totals) / ran).toFixed(0)}/s): ${totals.transfers} transfers (${(totals.transfers / ran).toFixed(0)}/s), ${totals.declined} declined, ${totals.puts} tagged puts, ${totals.deletes} deletes, ${totals.sessionPuts} TTL puts; ${totals.audits} audits`);
out(`transactions: ${totals.txCalls} calls, ${totals.txAttempts} attempts, conflict rate ${(overallConflict * 100).toFixed(2)}% of attempts, ${totals.txConflictFailures} gave up (CONFLICT after ${RETRIES} retries)`);
out(`latency (ms): transactions p50 ${fmtMs(txHist.quantile(0.5))} p99 ${fmtMs(txHist.quantile(0.99))} max ${fmtMs(txHist.max)}; puts p50 ${fmtMs(putHist.quantile(0.5))} p99 ${fmtMs(putHist.quantile(0.99))} max ${fmtMs(putHist.max)}`);
out(`db at the end: version ${finalStats.version}, keys ${finalStats.keys}, storedVersions ${finalStats.storedVersions}, ttlEntries ${finalStats.ttlEntries}, checkpoints ${finalStats.checkpoints}, reclaimedExpired ${finalStats.reclaimedExpired}, collectedVersions ${finalStats.collectedVersions}, walSyncs ${finalStats.walSyncs}; close took ${closeMs.toFixed(0)} ms`);
if (finalStats.checkpoints === 0) out('note: no automatic checkpoint happened during the run (8 MiB of WAL not reached): run longer to exercise them');
out();
const width = Math.max(...checks.map((c) => c.name.length));
for (const c of checks) out(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail}`);
const ok = checks.every((c) => c.ok);
out();
out(ok ? 'soak: PASS' : `soak: FAIL (${checks.filter((c) => !c.ok).length} of ${checks.length} invariants)`);

if (JSON_OUT) {
  process.stdout.write(
    JSON.stringify(
      {
        config: { seconds: SECONDS, clients: CLIENTS, accounts: ACCOUNTS, keys: TAG_KEYS, sessions: SESSION_KEYS, sync: SYNC, reportEvery: REPORT_EVERY, dir, gc: gcSource, node: process.version },
        ranSeconds: ran,
        totals,
        conflictRate: overallConflict,
        latencyMs: {
          tx: { p50: txHist.quantile(0.5), p99: txHist.quantile(0.99), max: txHist.max },
          put: { p50: putHist.quantile(0.5), p99: putHist.quantile(0.99), max: putHist.max },
        },
        intervals: rows,
        memory: memSamples,
        finalStats,
        checks,
        ok,
      },
      null,
      2,
    ) + '\n',
  );
}
if (removeDir) await rm(dir, { recursive: true, force: true });
else out(`kept ${dir}`);
process.exitCode = ok ? 0 : 1;
