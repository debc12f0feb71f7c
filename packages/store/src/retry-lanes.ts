import { compareStrings } from './btree.js';
import { FifoQueue } from './fifo-queue.js';

/**
 * How long a lane claim lasts at most (real time; checked every quarter of
 * it, so a claim ends between 1 and 1.25 times this). A claim covers one run of
 * a transaction's callback; one that outlives this is withdrawn, so a
 * callback that never settles, or one that awaits another transaction
 * waiting for its keys, cannot hold the lane forever (the transaction keeps
 * running, without the lane's guarantee).
 */
export const LANE_HOLD_MS = 1000;

/** A waiter for a key or for the whole-store gate. */
interface Waiter {
  readonly claim: LaneClaim;
  readonly grant: () => void;
}

/** One key's lane: its holder and the claims queued behind it, first come first served. */
interface Lane {
  holder: LaneClaim;
  readonly waiters: FifoQueue<Waiter>;
}

/**
 * What a transaction that lost a conflict holds while its next attempt runs:
 * keys of its write set (its read set too under `'serializable'`), or the
 * whole store when it lost on a scanned range. Released once, by
 * {@link LaneClaim.release} or once held for {@link LANE_HOLD_MS}.
 */
export class LaneClaim {
  /** The claimed keys in sorted order (the order they are taken in, so claims never deadlock). */
  readonly keys: readonly string[];
  /** Whether the claim takes the whole store (no other claim runs beside it). */
  readonly whole: boolean;
  readonly #lanes: RetryLanes;
  /** Keys taken so far (a prefix of {@link keys}). */
  taken = 0;
  /** When it got everything it claimed (`performance.now()`), for the hold limit. */
  heldSince = 0;
  #released = false;

  /** @internal Use {@link RetryLanes.acquire}. */
  constructor(lanes: RetryLanes, keys: readonly string[], whole: boolean) {
    this.#lanes = lanes;
    this.keys = keys;
    this.whole = whole;
  }

  /** Whether the claim has been released (by its owner or by the hold limit). */
  get released(): boolean {
    return this.#released;
  }

  /** Gives every key (and its place in the gate) to the next waiters. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#lanes.releaseClaim(this);
  }
}

/**
 * The retry lanes: per-key locks taken only by transactions that already
 * lost a conflict, in sorted key order, each key's queue first come first
 * served. Transactions on their first attempt take nothing and interleave
 * freely; they are only refused at commit when they would write a key a
 * claim holds (see {@link RetryLanes.blocker}), so a claim's attempt cannot
 * lose to another `transaction()` call. A whole-store claim (for a
 * serializable transaction that lost on a scanned range) is a writer on a
 * readers-writer gate every key claim enters as a reader.
 *
 * Complexity: acquire and release O(k log k) for k keys plus the queue work.
 */
export class RetryLanes {
  readonly #lanes = new Map<string, Lane>();
  /** Key claims inside the gate. */
  #shared = 0;
  /** The whole-store claim inside the gate. */
  #whole: LaneClaim | undefined;
  readonly #gateQueue = new FifoQueue<Waiter>();
  /** Claims inside the gate or waiting for it. */
  #active = 0;
  /** Claims holding everything they claimed, oldest first (for the hold limit). */
  readonly #held = new Set<LaneClaim>();
  /** Resolves the next time no claim is held or waiting (see {@link whenIdle}). */
  #idle: { promise: Promise<void>; resolve: () => void } | undefined;
  /** Checks the hold limit while claims are held (one timer for all, not one per claim). */
  #sweeper: ReturnType<typeof setInterval> | undefined;

  /** Whether no claim is held or waiting (then nothing can refuse a commit). Complexity: O(1). */
  get idle(): boolean {
    return this.#active === 0;
  }

  /** `undefined` when {@link idle}, else a promise that resolves once no claim is held or waiting. */
  whenIdle(): Promise<void> | undefined {
    if (this.#active === 0) return undefined;
    if (this.#idle === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#idle = { promise, resolve };
    }
    return this.#idle.promise;
  }

  /** Claims currently held or queued. */
  get claims(): number {
    return this.#active;
  }

  /**
   * Takes `keys` (deduplicated, sorted) or the whole store; resolves when all
   * are held. Release the claim after the attempt's commit step.
   */
  async acquire(keys: Iterable<string>, whole: boolean): Promise<LaneClaim> {
    const claim = new LaneClaim(this, whole ? [] : [...new Set(keys)].sort(compareStrings), whole);
    this.#active++;
    await this.#enterGate(claim);
    for (const key of claim.keys) {
      const lane = this.#lanes.get(key);
      if (lane === undefined) {
        this.#lanes.set(key, { holder: claim, waiters: new FifoQueue() });
        claim.taken++;
      } else {
        await new Promise<void>((grant) => lane.waiters.push({ claim, grant }));
      }
    }
    claim.heldSince = performance.now();
    this.#held.add(claim);
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => this.#sweep(), LANE_HOLD_MS / 4);
      this.#sweeper.unref?.();
    }
    return claim;
  }

  /**
   * The first of `writes` a claim other than `own` holds (any of them while
   * another claim holds the whole store), or `undefined`: a commit of these
   * writes would make that claim's attempt lose, so it is refused instead.
   * Complexity: O(writes) map lookups, O(1) when idle.
   */
  blocker(writes: Iterable<string>, own: LaneClaim | undefined): string | undefined {
    if (this.#active === 0) return undefined;
    const wholeOther = this.#whole !== undefined && this.#whole !== own;
    for (const key of writes) {
      if (wholeOther) return key;
      const holder = this.#lanes.get(key)?.holder;
      if (holder !== undefined && holder !== own) return key;
    }
    return undefined;
  }

  /** @internal Called once by {@link LaneClaim.release}. */
  releaseClaim(claim: LaneClaim): void {
    this.#active--;
    this.#held.delete(claim);
    for (let i = 0; i < claim.taken; i++) {
      const key = claim.keys[i]!;
      const lane = this.#lanes.get(key)!;
      const next = lane.waiters.shift();
      if (next === undefined) {
        this.#lanes.delete(key);
        continue;
      }
      lane.holder = next.claim;
      next.claim.taken++;
      next.grant();
    }
    // A claim is released only after it was acquired, so it is inside the gate.
    if (claim.whole) this.#whole = undefined;
    else this.#shared--;
    this.#pumpGate();
    if (this.#active === 0 && this.#idle !== undefined) {
      this.#idle.resolve();
      this.#idle = undefined;
    }
  }

  /** Withdraws the claims held past {@link LANE_HOLD_MS}; stops the timer once none is held. */
  #sweep(): void {
    const limit = performance.now() - LANE_HOLD_MS;
    for (const claim of this.#held) {
      if (claim.heldSince > limit) break;
      claim.release();
    }
    if (this.#held.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  #enterGate(claim: LaneClaim): Promise<void> | undefined {
    const free = this.#whole === undefined && this.#gateQueue.length === 0 && (!claim.whole || this.#shared === 0);
    if (free) {
      this.#admit(claim);
      return undefined;
    }
    return new Promise<void>((grant) => this.#gateQueue.push({ claim, grant }));
  }

  #admit(claim: LaneClaim): void {
    if (claim.whole) this.#whole = claim;
    else this.#shared++;
  }

  /** Lets the queued claims in, in order: readers together, a writer alone. */
  #pumpGate(): void {
    while (this.#gateQueue.length > 0 && this.#whole === undefined) {
      const head = this.#gateQueue.peek()!;
      if (head.claim.whole && this.#shared > 0) return;
      this.#gateQueue.shift();
      this.#admit(head.claim);
      head.grant();
      if (head.claim.whole) return;
    }
  }
}
