// Crash-test harness: runs test/crash/writer.mjs in a child process, kills it
// with SIGKILL at a random moment, and checks what a reopen recovers against
// everything the child announced (intents) and acknowledged (acks).
//
// Each chain works on one directory: kill, verify a copy of the crashed
// directory (so the next child recovers the very same crashed files, not
// files this process already repaired), start the next child on the original
// directory (recovery after recovery), and so on. At the end the original is
// opened here, verified, written to, closed cleanly, reopened and verified again.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { open, type Database, type Entry, type RecoveryEvent, type SyncMode } from 'epochdb';
import { prng } from '../support/prng.js';

const WRITER = fileURLToPath(new URL('./writer.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../../packages/epochdb/dist/index.js', import.meta.url));
const ACCOUNTS = 4;
const TOTAL = 1000;
/** Short-TTL writes live at most 20 ms; wait this long after the kill before looking. */
const SHORT_TTL_MAX_MS = 25;
/** A child that has not been killed after this long is killed anyway (and the round fails). */
const CHILD_DEADLINE_MS = 20_000;
/** What the child says on stderr when an intent had to wait for its full stdout pipe (writer.mjs). */
const STDOUT_STALL = 'writer: stdout pipe full, waiting before a commit';
/** With `readLate`, a child that wrote this much WAL without waiting for its pipe ran ahead of its intents. */
const READ_LATE_WAL_BYTES = 1 << 20;

export interface ChainConfig {
  readonly mode: SyncMode;
  readonly label: string;
  readonly kills: number;
  readonly seed: number;
  readonly checkpointWalBytes?: number;
  readonly walSegmentBytes?: number;
  /** Have the child call db.checkpoint() about this often. */
  readonly checkpointEveryMs?: number;
  /** Kill this many ms after the child opened the database, [min, max) (half of the rounds). */
  readonly killMs: readonly [number, number];
  /** Kill once the child has printed this many acknowledgements, [min, max) (the other half). */
  readonly killAcks: readonly [number, number];
  /** For the harness self-check only: damage the copy of the crashed directory before it is verified. */
  readonly tamper?: (copy: string) => Promise<void>;
  /**
   * For the harness self-check only: leave the child's stdout unread, so its pipe fills up, and
   * kill it once it waits for the pipe (or has written {@link READ_LATE_WAL_BYTES} of WAL
   * without waiting); only then read what the pipe holds. Replaces the kill strategy.
   */
  readonly readLate?: boolean;
}

export interface ChainSummary {
  readonly label: string;
  readonly kills: number;
  readonly intents: number;
  readonly acks: number;
  readonly conflicts: number;
  readonly explicitCheckpoints: number;
  readonly failedExplicitCheckpoints: number;
  /** Checkpoints the children completed (automatic and explicit), from db.stats(). */
  readonly childCheckpoints: number;
  /** Automatic checkpoints that failed in the children (db.stats().checkpointErrors). */
  readonly childCheckpointErrors: number;
  /** Kills that left a checkpoint half-written (a *.ckpt.tmp file in the directory). */
  readonly killsMidCheckpoint: number;
  /** Rounds in which the parent read so late that an intent had to wait for the child's stdout pipe. */
  readonly stdoutStalls: number;
  readonly tornTails: number;
  readonly recoveredVersions: number[];
  readonly checkpointVersions: number[];
}

interface Write {
  readonly key: string;
  readonly del?: boolean;
  readonly val?: Record<string, unknown>;
  readonly ttl?: number;
}

interface Op {
  readonly id: string;
  readonly round: number;
  readonly kind: string;
  readonly writes: readonly Write[];
  /** Arrival order of the intent line (per key, this is the order the writes were issued in). */
  readonly seq: number;
  acked?: number;
  exp?: Record<string, number>;
  aborted: boolean;
}


const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const show = (value: unknown): string => {
  const text = JSON.stringify(value, (k, v: unknown) => (k === 'pad' && typeof v === 'string' ? `<${v.length} chars>` : v));
  return text === undefined ? 'undefined' : text;
};

/** Everything the children announced and acknowledged, over all rounds of a chain. */
class Model {
  readonly ops = new Map<string, Op>();
  readonly history = new Map<string, Op[]>();
  readonly ackVersions = new Map<number, string>();
  lastAckedVersion = 0;
  lastAckedId: string | undefined;
  #seq = 0;
  intents = 0;
  acks = 0;
  conflicts = 0;

  intent(id: string, round: number, kind: string, writes: readonly Write[]): Op {
    const op: Op = { id, round, kind, writes, seq: this.#seq++, aborted: false };
    this.ops.set(id, op);
    this.intents++;
    for (const w of writes) {
      let list = this.history.get(w.key);
      if (list === undefined) this.history.set(w.key, (list = []));
      list.push(op);
    }
    return op;
  }

  /** Records an acknowledgement; returns a complaint if it breaks version order. */
  ack(id: string, version: number, exp: Record<string, number> | undefined): string | undefined {
    const op = this.ops.get(id);
    if (op === undefined) return `ack for ${id} (v${version}) without an intent`;
    op.acked = version;
    if (exp !== undefined) op.exp = exp;
    this.acks++;
    const other = this.ackVersions.get(version);
    this.ackVersions.set(version, id);
    if (other !== undefined) return `version ${version} acknowledged twice: ${other} and ${id}`;
    if (version > this.lastAckedVersion) {
      this.lastAckedVersion = version;
      this.lastAckedId = id;
    }
    return undefined;
  }

  /** The acknowledged op with the highest version among those that wrote `key`. */
  lastAck(key: string): Op | undefined {
    let best: Op | undefined;
    for (const op of this.history.get(key) ?? []) if (op.acked !== undefined && (best === undefined || op.acked > best.acked!)) best = op;
    return best;
  }
}

interface VerifyResult {
  readonly version: number;
  readonly violations: string[];
  readonly tornTails: number;
  readonly checkpointVersion: number;
}

/** Checks a reopened database against the model; returns the violations found (empty: all good). */
async function verify(db: Database, model: Model, probeId: string, recordProbe: boolean): Promise<VerifyResult> {
  const violations: string[] = [];
  const fail = (message: string): void => void violations.push(message);
  const recovery = db.recovery!;
  let tornTails = 0;
  for (const event of recovery.events as readonly RecoveryEvent[]) {
    if (event.type === 'truncated') tornTails++;
    else fail(`unexpected recovery event after a process kill: ${show(event)}`);
  }

  // (3) Versions continue.
  const version = db.version;
  if (version < model.lastAckedVersion) fail(`db.version is ${version} after reopen, but version ${model.lastAckedVersion} (${model.lastAckedId}) was acknowledged`);

  // Everything visible, by key.
  const scanned = new Map<string, Entry>();
  for (const entry of db.scan()) scanned.set(entry.key, entry);
  const owners = new Map<number, string>();

  for (const [key, entry] of scanned) {
    const val = entry.value as Record<string, unknown> | undefined;
    const id = typeof val?.['id'] === 'string' ? (val['id'] as string) : undefined;
    const op = id === undefined ? undefined : model.ops.get(id);
    if (op === undefined) {
      fail(`${key}: phantom value ${show(val)} at v${entry.version}: no write ever announced it`);
      continue;
    }
    if (op.aborted) fail(`${key}: holds ${id}, a transaction attempt that failed with a conflict`);
    const write = op.writes.find((w) => w.key === key);
    if (write === undefined || write.del === true) {
      fail(`${key}: holds ${id}, which did not put this key`);
      continue;
    }
    if (!isDeepStrictEqual(entry.value, write.val)) fail(`${key}: value ${show(entry.value)} differs from what ${id} wrote: ${show(write.val)}`);
    if (op.acked !== undefined && entry.version !== op.acked) fail(`${key}: ${id} was acknowledged at v${op.acked} but recovered at v${entry.version}`);
    if (entry.version > version) fail(`${key}: version ${entry.version} above db.version ${version}`);
    const owner = owners.get(entry.version);
    if (owner !== undefined && owner !== id) fail(`v${entry.version} holds writes of two commits: ${owner} and ${id}`);
    owners.set(entry.version, id!);
    if (entry.run !== val!['run'] || entry.type !== val!['kind']) fail(`${key}: tags run=${entry.run} type=${entry.type}, ${id} wrote run=${String(val!['run'])} type=${String(val!['kind'])}`);
    if (write.ttl === undefined ? entry.expiresAt !== undefined : entry.expiresAt === undefined) fail(`${key}: expiresAt ${entry.expiresAt} but ${id} wrote ttl ${write.ttl}`);
    const exp = op.exp?.[key];
    if (exp !== undefined && entry.expiresAt !== exp) fail(`${key}: expiresAt ${entry.expiresAt}, acknowledged with ${exp}`);
    // (2) Atomicity: every key the same commit wrote is there, at this version or a later one.
    for (const sibling of (val!['g'] as string[] | undefined) ?? []) {
      const other = scanned.get(sibling);
      if (other === undefined) fail(`partial commit ${id} (v${entry.version}, ${op.kind}): ${key} is present but ${sibling} is missing`);
      else if (other.version < entry.version) fail(`partial commit ${id} (v${entry.version}, ${op.kind}): ${key} is present but ${sibling} is at older v${other.version}`);
      else if (other.version === entry.version && (other.value as Record<string, unknown>)['id'] !== id) fail(`v${entry.version}: ${key} holds ${id} but ${sibling} holds ${show(other.value)}`);
    }
  }

  // (1) Every acknowledged write is there, or was superseded by a later (possibly unacknowledged) write.
  for (const [key, ops] of model.history) {
    const last = model.lastAck(key);
    const entry = scanned.get(key);
    if (key.startsWith('s/')) {
      // Written with a TTL of at most 20 ms, at least 25 ms ago.
      if (entry !== undefined || db.get(key) !== undefined) fail(`${key}: short-TTL entry still visible: ${show(entry)}`);
      continue;
    }
    if (last === undefined) continue;
    const lastWrite = last.writes.find((w) => w.key === key)!;
    if (entry !== undefined) {
      if (entry.version < last.acked!) fail(`${key}: recovered v${entry.version} (${show(entry.value)}) is older than the acknowledged ${last.kind} ${last.id} at v${last.acked}`);
      continue;
    }
    if (lastWrite.del === true) continue;
    const laterDelete = ops.some((op) => op.seq > last.seq && !op.aborted && op.writes.some((w) => w.key === key && w.del === true));
    if (!laterDelete) fail(`${key}: MISSING. ${last.kind} ${last.id} was acknowledged at v${last.acked} with ${show(lastWrite.val)}; no later delete was attempted`);
  }

  // (2) Batch slots: all keys from one batch, or none.
  const slots = new Set([...model.history.keys()].filter((k) => k.startsWith('b/')).map((k) => k.slice(0, k.lastIndexOf('/'))));
  for (const slot of slots) {
    const n = 2 + Number(slot.slice(slot.lastIndexOf('/') + 1));
    const entries = Array.from({ length: n }, (_, i) => scanned.get(`${slot}/${i}`));
    const present = entries.filter((e) => e !== undefined);
    if (present.length === 0) continue;
    const ids = new Set(present.map((e) => (e.value as Record<string, unknown>)['id']));
    const versions = new Set(present.map((e) => e.version));
    if (present.length !== n || ids.size !== 1 || versions.size !== 1) {
      fail(`partial batch in slot ${slot}: ${entries.map((e, i) => `${i}=${e === undefined ? 'absent' : `${String((e.value as Record<string, unknown>)['id'])}@v${e.version}`}`).join(' ')}`);
    }
  }

  // (2) The conserved total.
  const accounts = Array.from({ length: ACCOUNTS }, (_, a) => scanned.get(`acct/${a}`));
  if (accounts.some((e) => e !== undefined)) {
    const balances = accounts.map((e) => (e?.value as { bal?: number } | undefined)?.bal);
    const total = balances.reduce<number>((sum, b) => sum + (b ?? Number.NaN), 0);
    if (total !== TOTAL) fail(`accounts hold ${show(balances)}, total ${total}, expected ${TOTAL}`);
  }

  // Secondary indexes rebuilt by recovery agree with the entries.
  for (const index of ['run', 'type'] as const) {
    const byTag = new Map<string, string[]>();
    for (const entry of scanned.values()) {
      const tag = entry[index];
      if (tag === undefined) continue;
      let keys = byTag.get(tag);
      if (keys === undefined) byTag.set(tag, (keys = []));
      keys.push(entry.key);
    }
    for (const [tag, keys] of byTag) {
      const indexed = [...(index === 'run' ? db.byRun(tag) : db.byType(tag))].map((e) => e.key);
      if (!isDeepStrictEqual(indexed, keys)) fail(`by${index === 'run' ? 'Run' : 'Type'}(${tag}) lists ${indexed.length} keys, the entries say ${keys.length}: ${show(indexed.filter((k) => !keys.includes(k)))} / ${show(keys.filter((k) => !indexed.includes(k)))}`);
    }
  }

  // (3) A new write gets the next version, above every acknowledged one. It
  // joins the model only when it is made on the directory the chain goes on with.
  const probeKey = `probe/${probeId}`;
  const probeVal = { id: probeId, kind: 'probe', run: 'probe' };
  try {
    const probeVersion = await db.put(probeKey, probeVal, { run: 'probe', type: 'probe' });
    if (probeVersion !== version + 1 || probeVersion <= model.lastAckedVersion) {
      fail(`a new write after reopen got v${probeVersion}; db.version was ${version}, last acknowledged v${model.lastAckedVersion}`);
    }
    if (recordProbe) {
      model.intent(probeId, -1, 'probe', [{ key: probeKey, val: probeVal }]);
      model.ack(probeId, probeVersion, undefined);
    }
  } catch (error) {
    fail(`a new write after reopen failed: ${(error as Error).message}`);
  }
  return { version, violations, tornTails, checkpointVersion: recovery.checkpointVersion };
}

type Strategy = { readonly kind: 'acks'; readonly n: number } | { readonly kind: 'ms'; readonly ms: number } | { readonly kind: 'read-late' };

interface ChildRun {
  readonly openVersion: number | undefined;
  readonly openEvents: readonly RecoveryEvent[];
  readonly acks: number;
  readonly checkpoints: number;
  readonly failedCheckpoints: number;
  readonly childCheckpoints: number;
  readonly childCheckpointErrors: number;
  readonly killedAt: number;
  /** When the child was seen dead (its pipes closed): it commits nothing after this. */
  readonly closedAt: number;
  /** The child said an intent had to wait for its full stdout pipe. */
  readonly stdoutStalled: boolean;
  readonly complaints: string[];
}

/** Bytes of WAL segments in `dir` (0 for files that vanish while looking: rotation and pruning go on). */
async function walBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [])) {
    if (/^wal-\d+\.log$/.test(name)) total += await stat(join(dir, name)).then((s) => s.size, () => 0);
  }
  return total;
}

/** Starts a writer on `dir`, feeds its lines into the model, and SIGKILLs it as `strategy` says. */
function runChild(args: Record<string, unknown>, model: Model, round: number, strategy: Strategy, where: string): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    let stderr = '';
    let killedAt = 0;
    let fatal: string | undefined;
    let openVersion: number | undefined;
    let openEvents: readonly RecoveryEvent[] = [];
    let acks = 0;
    let checkpoints = 0;
    let failedCheckpoints = 0;
    let childCheckpoints = 0;
    let childCheckpointErrors = 0;
    const complaints: string[] = [];
    const timers: NodeJS.Timeout[] = [];
    const kill = (): void => {
      if (killedAt !== 0) return;
      killedAt = Date.now();
      child.kill('SIGKILL');
      // What the pipe holds was written before the kill: read it all.
      if (strategy.kind === 'read-late') child.stdout.resume();
    };
    timers.push(
      setTimeout(() => {
        fatal ??= `the child was still running after ${CHILD_DEADLINE_MS} ms (it never reached the kill condition ${show(strategy)})`;
        kill();
      }, CHILD_DEADLINE_MS),
    );
    const handle = (line: string): void => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        complaints.push(`unparseable line from the child: ${line.slice(0, 200)}`);
        return;
      }
      switch (msg['t']) {
        case 'open':
          openVersion = msg['version'] as number;
          openEvents = msg['events'] as RecoveryEvent[];
          if (strategy.kind === 'ms') timers.push(setTimeout(kill, strategy.ms));
          break;
        case 'i':
          model.intent(msg['id'] as string, round, msg['kind'] as string, msg['ops'] as Write[]);
          break;
        case 'a': {
          const version = msg['v'] as number;
          if (openVersion !== undefined && version <= openVersion) complaints.push(`${String(msg['id'])} acknowledged at v${version}, not above the version ${openVersion} the child opened at`);
          const complaint = model.ack(msg['id'] as string, version, msg['exp'] as Record<string, number> | undefined);
          if (complaint !== undefined) complaints.push(complaint);
          acks++;
          if (strategy.kind === 'acks' && acks >= strategy.n) kill();
          break;
        }
        case 'x': {
          const op = model.ops.get(msg['id'] as string);
          if (op !== undefined) op.aborted = true;
          model.conflicts++;
          break;
        }
        case 'ckpt':
          if (msg['ok'] === true) checkpoints++;
          else failedCheckpoints++;
          break;
        case 'stats':
          childCheckpoints = msg['checkpoints'] as number;
          childCheckpointErrors = msg['checkpointErrors'] as number;
          break;
        case 'fatal':
          fatal = `${String(msg['name'])}: ${String(msg['message'])}\n${String(msg['stack'])}`;
          break;
        default:
          complaints.push(`unknown line from the child: ${line.slice(0, 200)}`);
      }
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.length > 0) handle(line);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (strategy.kind === 'read-late' && stderr.includes(STDOUT_STALL)) kill();
    });
    if (strategy.kind === 'read-late') {
      child.stdout.pause();
      const poll = (): void => {
        if (killedAt !== 0) return;
        void walBytes(args['dir'] as string).then((bytes) => {
          if (bytes >= READ_LATE_WAL_BYTES) kill();
          else timers.push(setTimeout(poll, 20));
        });
      };
      poll();
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const timer of timers) clearTimeout(timer);
      // A line cut short by the kill was never complete: ignore it.
      if (fatal === undefined && signal === 'SIGKILL' && killedAt !== 0) {
        const stdoutStalled = stderr.includes(STDOUT_STALL);
        resolve({ openVersion, openEvents, acks, checkpoints, failedCheckpoints, childCheckpoints, childCheckpointErrors, killedAt, closedAt: Date.now(), stdoutStalled, complaints });
        return;
      }
      reject(new Error(`${where}: the writer child failed (exit code ${code}, signal ${signal}) before or instead of being killed:\n${fatal ?? ''}\n${stderr}`));
    });
  });
}

/** Copies `dir`, opens the copy here, verifies it; the copy is removed afterwards. */
async function verifyCopy(dir: string, copy: string, model: Model, probeId: string, tamper?: (copy: string) => Promise<void>): Promise<VerifyResult> {
  await cp(dir, copy, { recursive: true });
  await tamper?.(copy);
  try {
    const db = await open({ dir: copy, maintenance: { intervalMs: 0 }, checkpointOnClose: false });
    try {
      return await verify(db, model, probeId, false);
    } finally {
      await db.close();
    }
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}

/** Runs one chain of kill / verify / continue rounds on a fresh directory. Throws with the details on the first failed round. */
export async function runChain(config: ChainConfig): Promise<ChainSummary> {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npx tsc -b\` first (the child processes import the built package)`);
  const random = prng(config.seed);
  const root = await mkdtemp(join(tmpdir(), `epochdb-crash-${config.mode}-`));
  const dir = join(root, 'db');
  const model = new Model();
  const recoveredVersions: number[] = [];
  const checkpointVersions: number[] = [];
  let tornTails = 0;
  let explicitCheckpoints = 0;
  let failedExplicitCheckpoints = 0;
  let childCheckpoints = 0;
  let childCheckpointErrors = 0;
  let killsMidCheckpoint = 0;
  let stdoutStalls = 0;
  let expectedOpenVersion = 0;
  let failed = false;
  const context = (round: number | string, extra = ''): string =>
    `[mode=${config.mode} chain=${config.label} seed=${config.seed} round=${round}${extra}]`;
  const check = (round: number | string, extra: string, violations: readonly string[]): void => {
    if (violations.length === 0) return;
    const shown = violations.slice(0, 25).map((v) => `  - ${v}`);
    if (violations.length > shown.length) shown.push(`  ... and ${violations.length - shown.length} more`);
    failed = true;
    const keep = process.env['CRASH_KEEP'] ? `directory kept: ${dir}` : 'CRASH_KEEP=1 keeps the directory, CRASH_SEED replays the plan';
    throw new Error(`${context(round, extra)} ${violations.length} violation(s), last acknowledged v${model.lastAckedVersion} (${model.lastAckedId}); ${keep}:\n${shown.join('\n')}`);
  };
  try {
    for (let round = 0; round < config.kills; round++) {
      const within = ([min, max]: readonly [number, number]): number => min + Math.floor(random() * (max - min));
      const planned: Strategy = random() < 0.5 ? { kind: 'acks', n: within(config.killAcks) } : { kind: 'ms', ms: within(config.killMs) };
      const strategy: Strategy = config.readLate === true ? { kind: 'read-late' } : planned;
      const how = ` kill=${strategy.kind === 'acks' ? `after ${strategy.n} acks` : strategy.kind === 'ms' ? `after ${strategy.ms} ms` : 'once the child waits for its unread stdout'}`;
      const args = {
        dir,
        sync: config.mode,
        round,
        seed: Math.floor(random() * 2 ** 31),
        checkpointWalBytes: config.checkpointWalBytes,
        walSegmentBytes: config.walSegmentBytes,
        checkpointEveryMs: config.checkpointEveryMs,
      };
      const child = await runChild(args, model, round, strategy, context(round, how));
      explicitCheckpoints += child.checkpoints;
      failedExplicitCheckpoints += child.failedCheckpoints;
      childCheckpoints += child.childCheckpoints;
      childCheckpointErrors += child.childCheckpointErrors;
      if (child.stdoutStalled) stdoutStalls++;
      if ((await readdir(dir)).some((name) => name.endsWith('.ckpt.tmp'))) killsMidCheckpoint++;
      const complaints = [...child.complaints];
      if (child.openVersion !== expectedOpenVersion) {
        complaints.push(`the child opened at v${String(child.openVersion)}, but the previous recovery of the same files gave v${expectedOpenVersion}`);
      }
      check(round, `${how} (child)`, complaints);
      // Short-TTL entries written just before the kill must have expired by the time we look.
      const wait = child.closedAt + SHORT_TTL_MAX_MS - Date.now();
      if (wait > 0) await sleep(wait);
      const result = await verifyCopy(dir, join(root, `copy-${round}`), model, `${round}.probe`, config.tamper);
      tornTails += result.tornTails;
      recoveredVersions.push(result.version);
      checkpointVersions.push(result.checkpointVersion);
      check(round, `${how}, ${child.acks} acks`, result.violations);
      expectedOpenVersion = result.version;
    }

    // The original directory: recover it here, write, close cleanly, reopen.
    const db = await open({ dir, maintenance: { intervalMs: 0 } });
    let result: VerifyResult;
    try {
      result = await verify(db, model, 'final.probe', true);
      tornTails += result.tornTails;
      if (result.version !== expectedOpenVersion) result.violations.push(`final reopen recovered v${result.version}, the copy of the same files v${expectedOpenVersion}`);
    } finally {
      await db.close();
    }
    check('final', '', result.violations);
    const again = await open({ dir, maintenance: { intervalMs: 0 } });
    try {
      const afterClose = await verify(again, model, 'final.probe2', true);
      if (afterClose.version !== result.version + 1) afterClose.violations.push(`after a clean close at v${result.version + 1}, reopen gave v${afterClose.version}`);
      if (afterClose.tornTails !== 0) afterClose.violations.push(`${afterClose.tornTails} torn tail(s) after a clean close`);
      check('final (after clean close)', '', afterClose.violations);
    } finally {
      await again.close();
    }
    return {
      label: config.label,
      kills: config.kills,
      intents: model.intents,
      acks: model.acks,
      conflicts: model.conflicts,
      explicitCheckpoints,
      failedExplicitCheckpoints,
      childCheckpoints,
      childCheckpointErrors,
      killsMidCheckpoint,
      stdoutStalls,
      tornTails,
      recoveredVersions,
      checkpointVersions,
    };
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    if (!(failed && process.env['CRASH_KEEP'])) await rm(root, { recursive: true, force: true });
  }
}

/** The chains every sync mode runs: plain WAL replay, checkpoints under the kill, and WAL rotation with checkpoints. */
export const CHAINS: readonly Omit<ChainConfig, 'mode' | 'seed'>[] = [
  { label: 'wal-replay', kills: 4, killMs: [5, 400], killAcks: [1, 800] },
  // Children live long enough for several checkpoints (automatic, and explicit ones that may overlap them) to complete, and one to be cut short.
  { label: 'checkpoints', kills: 4, checkpointWalBytes: 8192, checkpointEveryMs: 80, killMs: [100, 900], killAcks: [200, 3000] },
  { label: 'rotation+checkpoints', kills: 4, checkpointWalBytes: 8192, walSegmentBytes: 4096, killMs: [100, 900], killAcks: [200, 3000] },
];

/** The base seed: CRASH_SEED from the environment to replay a failure, otherwise a fresh one (printed). */
export function baseSeed(): number {
  const fromEnv = process.env['CRASH_SEED'];
  return fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
}

/** The crash suite of one sync mode: every chain of {@link CHAINS}, each a test. */
export function crashSuite(mode: SyncMode, it: (name: string, fn: () => Promise<void>, timeout: number) => void): void {
  const seed = baseSeed();
  CHAINS.forEach((chain, i) => {
    it(`sync '${mode}', ${chain.label}: ${chain.kills} SIGKILLs, each followed by reopen and more writes`, async () => {
      const summary = await runChain({ ...chain, mode, seed: seed + i });
      console.log(
        `crash ${mode}/${summary.label} (seed ${seed + i}): ${summary.kills} kills, ${summary.intents} writes announced, ${summary.acks} acknowledged, ` +
          `${summary.conflicts} tx conflicts, checkpoints completed ${summary.childCheckpoints} (explicit ${summary.explicitCheckpoints}; failed: explicit ${summary.failedExplicitCheckpoints}, automatic ${summary.childCheckpointErrors}), ` +
          `kills mid-checkpoint ${summary.killsMidCheckpoint}, rounds with a full stdout pipe ${summary.stdoutStalls}, torn tails truncated: ${summary.tornTails}, ` +
          `recovered versions ${summary.recoveredVersions.join(',')} (checkpoints at ${summary.checkpointVersions.join(',')})`,
      );
      if (summary.acks < summary.kills) throw new Error(`only ${summary.acks} acknowledged writes in ${summary.kills} rounds: the test did not exercise anything`);
    }, 60_000);
  });
}
