import { ConflictError, type SyncMode } from '@epochdb/core';
import type { Isolation } from './isolation.js';
import { RetryLanes, type LaneClaim } from './retry-lanes.js';
import type { Transaction } from './transaction.js';
import { TurnGate, type Turn } from './turn-gate.js';

/** How many times `transaction()` re-runs a callback after a conflict unless told otherwise. */
export const DEFAULT_RETRIES = 3;
/** The first backoff's upper bound (ms); it doubles per attempt that lost inside its lane, up to {@link BACKOFF_MAX_MS}. */
export const BACKOFF_BASE_MS = 1;
/** The largest backoff bound (ms). */
export const BACKOFF_MAX_MS = 64;
/** The weight of one callback in the moving share of quick ones. */
const QUICK_SHARE_WEIGHT = 1 / 8;

/** What the next attempt claims: the keys every lost attempt wrote (and read, under `'serializable'`), or the whole store. */
interface ClaimPlan {
  readonly keys: Set<string>;
  whole: boolean;
}

/**
 * Runs `transaction()` callbacks with the retry policy:
 *
 * 1. The first attempt runs freely: uncontended transactions interleave
 *    across `await`s; a callback that returns a value (not a promise)
 *    commits in the same synchronous step. Once a first attempt has lost a
 *    conflict, if most recent callbacks settled in the event-loop turn they
 *    began in (they awaited no I/O), first attempts take turns of a
 *    {@link TurnGate} until a whole event-loop turn passes in which none
 *    took one and no lane (below) is held: a callback's synchronous part and the
 *    microtasks after it then run alone, up to its commit step or the next
 *    event-loop turn, whichever is first (while lanes are held, a first
 *    attempt waits for them to drain before it takes its turn). So
 *    contended callbacks that only compute (nothing to overlap on one
 *    thread) run one after another and stop colliding, while callbacks that
 *    await I/O give the turn away at their first real wait and still
 *    overlap.
 * 2. An attempt that loses a conflict takes the keys it wrote (plus the keys
 *    it read under `'serializable'`; the whole store if it lost on a scanned
 *    range) in sorted order through the {@link RetryLanes}, then runs again on
 *    a fresh snapshot. While it holds them, any other `transaction()` commit
 *    writing one of them is refused with a `ConflictError` (nothing applied)
 *    and joins the lane behind it: the held attempt cannot lose to another
 *    `transaction()` call.
 * 3. An attempt that still loses while it holds its keys lost to a write
 *    outside the lanes (a plain `put`/`batch`/`delete`, a `begin()`/`commit()`
 *    transaction, the TTL cleaner) or to keys its earlier runs did not touch:
 *    it claims the union again and, if nothing new was added, first sleeps a
 *    random time below {@link BACKOFF_BASE_MS}·2^(attempt−1) ms (at most
 *    {@link BACKOFF_MAX_MS}).
 *
 * `retries` bounds the re-runs throughout; past it the last `ConflictError`
 * is thrown. Isolation is untouched: every attempt is an ordinary
 * transaction validated by the commit path; the lanes only decide who waits.
 */
export class TransactionRunner {
  /** The lanes retrying transactions hold their keys in. */
  readonly lanes = new RetryLanes();
  /** The turns first attempts take while {@link #turnTaking}; the gate going idle ends turn taking. */
  readonly #turns = new TurnGate(() => this.#maybeStopTurns());
  /** Whether first attempts take turns: from a first attempt's lost conflict until a whole event-loop turn passes with no turn taken and no lane held. */
  #turnTaking = false;
  #stopCheck = false;
  /** A moving share (0..1) of first attempts whose callback settled in the loop turn it began in (it awaited no I/O). */
  #quickShare = 1;
  #loopTurns = 0;
  #loopTurnPending = false;
  readonly #open: (isolation: Isolation, sync: SyncMode | undefined) => Transaction;
  readonly #random: () => number;

  /** `open` begins one attempt's transaction; `random` draws the backoff jitter. */
  constructor(open: (isolation: Isolation, sync: SyncMode | undefined) => Transaction, random: () => number = Math.random) {
    this.#open = open;
    this.#random = random;
  }

  /** The gate went idle: stop taking turns if it stays idle, with no lane held, through the next event-loop turn. */
  #maybeStopTurns(): void {
    if (this.#stopCheck) return;
    this.#stopCheck = true;
    const seen = this.#turns.entered;
    setImmediate(() => {
      this.#stopCheck = false;
      if (this.#turns.entered === seen && this.#turns.idle && this.lanes.idle) this.#turnTaking = false;
      else if (this.#turns.idle) this.#maybeStopTurns();
    });
  }

  /**
   * The event-loop turn now (a counter the check phase advances): a callback
   * that settles in the turn it began in awaited only microtasks, no timer,
   * socket or file. One `setImmediate` per turn, shared by all callbacks.
   */
  #loopTurn(): number {
    if (!this.#loopTurnPending) {
      this.#loopTurnPending = true;
      setImmediate(() => {
        this.#loopTurnPending = false;
        this.#loopTurns++;
      });
    }
    return this.#loopTurns;
  }

  /** Keeps the share of recent first attempts whose callback settled in the loop turn it began in; turn taking stops once most do not. */
  #countCallback(quick: boolean): void {
    this.#quickShare += ((quick ? 1 : 0) - this.#quickShare) * QUICK_SHARE_WEIGHT;
    if (this.#quickShare < 0.5) this.#turnTaking = false;
  }

  /**
   * Runs `fn` in a transaction and commits it, re-running it after a
   * conflict up to `retries` times as the class comment describes. If `fn`
   * throws, its transaction is aborted and the error propagates unretried.
   */
  async run<T>(fn: (tx: Transaction) => Promise<T> | T, isolation: Isolation, sync: SyncMode | undefined, retries: number): Promise<T> {
    let claim: LaneClaim | undefined;
    let plan: ClaimPlan | undefined;
    let turn: Turn | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        if (attempt === 0 && this.#turnTaking) {
          // While lanes are held a turn would only be refused by them: wait until they drain (`retries: 0`
          // never waits for a lane: it runs in its turn and, if a claim holds its keys, is refused).
          const drained = retries === 0 ? undefined : this.lanes.whenIdle();
          if (drained !== undefined) await drained;
          const waiting = this.#turns.enter();
          if (waiting !== undefined) await waiting;
          turn = this.#turns.hold();
        }
        const tx = this.#open(isolation, sync);
        let result: T;
        try {
          const returned = fn(tx);
          // A plain value commits in this very step.
          if (isPromiseLike(returned)) {
            const began = this.#loopTurn();
            result = await returned;
            if (attempt === 0) this.#countCallback(this.#loopTurns === began);
          } else {
            result = returned;
          }
        } catch (error) {
          tx.abort();
          throw error;
        }
        if (!tx.active) return result;
        let conflict: ConflictError;
        const blocked = tx.ownWrites.size === 0 ? undefined : this.lanes.blocker(tx.ownWrites.keys(), claim);
        if (blocked === undefined) {
          const committing = tx.commit();
          // The commit step ran synchronously inside commit(); what is left only waits for durability,
          // so the next turn and the next claim in the lane may start now (their snapshots see this commit).
          turn?.end();
          claim?.release();
          claim = undefined;
          try {
            await committing;
            return result;
          } catch (error) {
            if (!(error instanceof ConflictError)) throw error;
            conflict = error;
          }
        } else {
          tx.abort();
          conflict = new ConflictError(
            `transaction conflict: key ${JSON.stringify(blocked)} is claimed by a transaction retrying after a conflict (its retry lane); nothing was applied`,
            blocked,
          );
        }
        // Turns help only callbacks that do not wait for I/O (those overlap anyway, turn or not).
        if (attempt === 0 && this.#quickShare >= 0.5) this.#turnTaking = true;
        turn?.end();
        claim?.release();
        claim = undefined;
        if (attempt >= retries) throw conflict;
        plan ??= { keys: new Set(), whole: false };
        const grew = widen(plan, tx, isolation, conflict.key);
        if (attempt > 0 && !grew) {
          await sleep(this.#random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1)));
        }
        claim = await this.lanes.acquire(plan.keys, plan.whole);
      }
    } finally {
      turn?.end();
      claim?.release();
    }
  }
}

/** Adds what a lost attempt touched to the plan; whether anything was new. */
function widen(plan: ClaimPlan, tx: Transaction, isolation: Isolation, conflictKey: string): boolean {
  const size = plan.keys.size;
  const whole = plan.whole;
  for (const key of tx.ownWrites.keys()) plan.keys.add(key);
  const reads = tx.readSet;
  if (reads.keys !== undefined) for (const key of reads.keys) plan.keys.add(key);
  plan.keys.add(conflictKey);
  if (isolation === 'serializable' && reads.scanned) plan.whole = true;
  return plan.keys.size > size || plan.whole !== whole;
}

function isPromiseLike<T>(value: Promise<T> | T): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
