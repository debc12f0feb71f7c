// Crash-test writer: a child process that opens a database directory and
// writes until it is killed with SIGKILL. Spawned by test/crash/harness.ts.
//
// It imports the BUILT package (run `npx tsc -b` first): the parent test runs
// against the sources through vitest's alias, a plain `node` child cannot.
//
// Every line on stdout is one JSON object. process.stdout.write to a pipe writes
// at once only while the pipe has room; when the parent reads late (a loaded
// machine) the line is queued in this process, and a SIGKILL discards it. So an
// intent is in the pipe before its commit call (announce() waits for a queued
// one); other lines may be lost with the kill, which only makes the check weaker.
//   {t:'open', version, checkpointVersion, replayed, events}  after open()
//   {t:'i', id, kind, ops:[{key, del?, val?, ttl?}]}          intent, in the pipe before the commit call
//   {t:'a', id, v, exp?:{key: expiresAt}}                      acknowledgement: the commit resolved at version v
//   {t:'x', id}                                                the attempt did not commit (transaction conflict)
//   {t:'ckpt', ok, message?}                                   an explicit checkpoint finished (or failed)
//   {t:'stats', ms, checkpoints, checkpointErrors, ...}        db.stats() every 25 ms
//   {t:'fatal', name, message, stack}                          anything unexpected (then exit 2)
// Keys (owned by one lane each, except the accounts):
//   p/<lane>/<k>        single puts and deletes
//   b/<lane>/<s>/<i>    batch slot s: always written or deleted as a whole, i < 2 + s
//   t/<lane>/<k>        puts with a 1-hour TTL
//   s/<lane>/<k>        puts with a 1..20 ms TTL (expired by the time anyone looks)
//   acct/<a>            4 accounts; transactions move value between two, the total is 1000
import { ConflictError, open } from '../../packages/epochdb/dist/index.js';
import { prng } from '../support/prng.mjs';

const config = JSON.parse(process.argv[2]);
const { dir, sync, round, seed, lanes = 3 } = config;

const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
/** Said once on stderr when an intent had to wait for the pipe (harness.ts STDOUT_STALL). */
const STDOUT_STALL = 'writer: stdout pipe full, waiting before a commit\n';
let stalled = false;
/**
 * Prints an intent line. Returns undefined if the line went into the pipe at once; if it was
 * queued here (the pipe was full), a promise that resolves once it is in the pipe.
 */
const announce = (obj) => {
  let inPipe;
  const written = new Promise((resolve) => (inPipe = resolve));
  process.stdout.write(`${JSON.stringify(obj)}\n`, () => inPipe());
  if (process.stdout.writableLength === 0) return undefined;
  if (!stalled) process.stderr.write(STDOUT_STALL);
  stalled = true;
  return written;
};
const fatal = (error) => {
  out({ t: 'fatal', name: error?.name, message: String(error?.message ?? error), stack: String(error?.stack ?? '') });
  process.exit(2);
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

const random = prng(seed);
const int = (n) => Math.floor(random() * n);
const pad = () => 'x'.repeat(int(4) === 0 ? int(600) : int(60));
const SYNC_MODES = ['always', 'interval', 'none'];
/** Mostly the database default; sometimes a per-write override. */
const syncOption = () => (random() < 0.1 ? { sync: SYNC_MODES[int(3)] } : {});
const run = `run-${round}`;
const ACCOUNTS = 4;
const TOTAL = 1000;

// A small structure table, and values of many shapes (below): the table fills within a round, so a crash
// can fall before, between or after the records that carry new structures, and later values are self-describing.
const MAX_STRUCTURES = 48;
const db = await open({
  dir,
  sync,
  maxStructures: MAX_STRUCTURES,
  syncIntervalMs: 20,
  maintenance: { intervalMs: 10 },
  ...(config.checkpointWalBytes === undefined ? {} : { checkpointWalBytes: config.checkpointWalBytes }),
  ...(config.walSegmentBytes === undefined ? {} : { walSegmentBytes: config.walSegmentBytes }),
});
const recovery = db.recovery;
out({ t: 'open', version: db.version, checkpointVersion: recovery.checkpointVersion, replayed: recovery.replayedRecords, events: recovery.events });

/** One of 160 extra fields, by the write's id: 160 shapes per kind, more than the table takes. */
const shapeField = (id) => {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) | 0;
  return `s${(h >>> 0) % 160}`;
};
const value = (id, kind, lane, extra = {}) => ({ id, kind, run, lane, ...extra, [shapeField(id)]: { at: lane }, pad: pad() });
const tags = (kind) => ({ run, type: kind });

// The accounts are created once, atomically, by whichever run finds them missing.
if (db.get('acct/0') === undefined) {
  const id = `${round}.init`;
  const keys = Array.from({ length: ACCOUNTS }, (_, a) => `acct/${a}`);
  const ops = keys.map((key) => ({ op: 'put', key, value: value(id, 'tx', -1, { bal: TOTAL / ACCOUNTS, g: keys }), ...tags('tx') }));
  await announce({ t: 'i', id, kind: 'tx', ops: ops.map((o) => ({ key: o.key, val: o.value })) });
  out({ t: 'a', id, v: await db.batch(ops) });
}

async function singlePut(lane, id) {
  const key = `p/${lane}/${int(8)}`;
  const val = value(id, 'put', lane, { g: [key] });
  await announce({ t: 'i', id, kind: 'put', ops: [{ key, val }] });
  out({ t: 'a', id, v: await db.put(key, val, { ...tags('put'), ...syncOption() }) });
}

async function singleDelete(lane, id) {
  const key = `p/${lane}/${int(8)}`;
  await announce({ t: 'i', id, kind: 'del', ops: [{ key, del: true }] });
  out({ t: 'a', id, v: await db.delete(key, syncOption()) });
}

const slotKeys = (lane, slot) => Array.from({ length: 2 + slot }, (_, i) => `b/${lane}/${slot}/${i}`);

async function batchPut(lane, id) {
  const keys = slotKeys(lane, int(4));
  const ops = keys.map((key) => ({ op: 'put', key, value: value(id, 'batch', lane, { g: keys }), ...tags('batch') }));
  await announce({ t: 'i', id, kind: 'batch', ops: ops.map((o) => ({ key: o.key, val: o.value })) });
  out({ t: 'a', id, v: await db.batch(ops, syncOption()) });
}

async function batchClear(lane, id) {
  const keys = slotKeys(lane, int(4));
  await announce({ t: 'i', id, kind: 'clear', ops: keys.map((key) => ({ key, del: true })) });
  out({ t: 'a', id, v: await db.batch(keys.map((key) => ({ op: 'delete', key })), syncOption()) });
}

async function ttlPut(lane, id, long) {
  const key = long ? `t/${lane}/${int(4)}` : `s/${lane}/${int(4)}`;
  const ttl = long ? 3_600_000 : 1 + int(20);
  const kind = long ? 'ttl' : 'sttl';
  const val = value(id, kind, lane, { g: [key] });
  await announce({ t: 'i', id, kind, ops: [{ key, val, ttl }] });
  const v = await db.put(key, val, { ...tags(kind), ttl, ...syncOption() });
  const entry = db.getEntry(key);
  out({ t: 'a', id, v, ...(long && entry?.version === v ? { exp: { [key]: entry.expiresAt } } : {}) });
}

async function transfer(lane, id0) {
  for (let attempt = 0; ; attempt++) {
    const id = `${id0}~${attempt}`;
    const tx = db.begin();
    const a = int(ACCOUNTS);
    const b = (a + 1 + int(ACCOUNTS - 1)) % ACCOUNTS;
    const ka = `acct/${a}`;
    const kb = `acct/${b}`;
    const va = tx.get(ka);
    const vb = tx.get(kb);
    if (va === undefined || vb === undefined) throw new Error(`accounts missing in a transaction: ${ka}=${JSON.stringify(va)} ${kb}=${JSON.stringify(vb)}`);
    // Let other lanes commit in between: real conflicts, and commits spread over several WAL writes.
    if (random() < 0.5) await new Promise((resolve) => setImmediate(resolve));
    const amount = int(va.bal + 1);
    const g = [ka, kb];
    const newA = value(id, 'tx', lane, { bal: va.bal - amount, g });
    const newB = value(id, 'tx', lane, { bal: vb.bal + amount, g });
    tx.put(ka, newA, tags('tx'));
    tx.put(kb, newB, tags('tx'));
    await announce({ t: 'i', id, kind: 'tx', ops: [{ key: ka, val: newA }, { key: kb, val: newB }] });
    try {
      out({ t: 'a', id, v: await tx.commit() });
      return;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      out({ t: 'x', id });
    }
  }
}

// Every 10..40 ms all lanes pause together for a few ms. Real loads have gaps;
// and a checkpoint needs one: it waits for the WAL flush loop to go idle, which
// a writer that never pauses never lets happen (see regression.test.ts).
let pause;
const schedulePause = () =>
  setTimeout(() => {
    pause = new Promise((resolve) => setTimeout(resolve, 1 + int(4))).then(() => {
      pause = undefined;
      schedulePause();
    });
  }, 10 + int(30));
schedulePause();

async function lane(l) {
  for (let seq = 0; ; seq++) {
    if (pause !== undefined) await pause;
    const id = `${round}.${l}.${seq}`;
    const r = random();
    if (r < 0.25) await singlePut(l, id);
    else if (r < 0.32) await singleDelete(l, id);
    else if (r < 0.47) await batchPut(l, id);
    else if (r < 0.53) await batchClear(l, id);
    else if (r < 0.75) await transfer(l, id);
    else if (r < 0.87) await ttlPut(l, id, true);
    else await ttlPut(l, id, false);
    // Sometimes let the event loop (fsync timer, maintenance, checkpoint chunks) in.
    if (random() < 0.2) await new Promise((resolve) => setImmediate(resolve));
  }
}

// Progress of the persistence layer, for the parent's summary: checkpoints done, WAL size.
const started = Date.now();
const stats = () => {
  const s = db.stats();
  out({ t: 'stats', ms: Date.now() - started, checkpoints: s.checkpoints, checkpointErrors: s.checkpointErrors, lastCheckpointVersion: s.lastCheckpointVersion, walBytesSinceCheckpoint: s.walBytesSinceCheckpoint });
};
setInterval(stats, 25);

if (config.checkpointEveryMs !== undefined) {
  const tick = () => {
    // A failed explicit checkpoint is reported, not fatal: the parent counts
    // them; durability is what this test judges (see regression.test.ts).
    db.checkpoint().then(
      () => out({ t: 'ckpt', ok: true }),
      (error) => out({ t: 'ckpt', ok: false, message: String(error?.message ?? error) }),
    );
    setTimeout(tick, config.checkpointEveryMs / 2 + int(config.checkpointEveryMs));
  };
  setTimeout(tick, int(config.checkpointEveryMs));
}

await Promise.all(Array.from({ length: lanes }, (_, l) => lane(l)));
