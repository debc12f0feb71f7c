import { FifoQueue } from './fifo-queue.js';

/**
 * One transaction's turn at a time: a first attempt runs the synchronous
 * part of its callback, and the microtasks that follow it, alone. The turn
 * ends when the attempt's commit step is done or at the next turn of the
 * event loop (`setImmediate`), whichever comes first, so a callback that
 * awaits I/O (a timer, a socket, a file) gives the turn away at once and
 * overlaps freely with others, while callbacks that never leave the
 * microtask queue (CPU only, nothing to overlap on one thread) run one after
 * another and cannot collide. First come, first served.
 */
export class TurnGate {
  #busy = false;
  #entered = 0;
  readonly #onIdle: () => void;
  readonly #waiters = new FifoQueue<() => void>();

  /** `onIdle` is called whenever a turn ends with nobody waiting for the next. */
  constructor(onIdle: () => void = () => {}) {
    this.#onIdle = onIdle;
  }

  /** Turns taken so far (a counter: whether anyone came between two readings). */
  get entered(): number {
    return this.#entered;
  }

  /** Whether no turn is held. */
  get idle(): boolean {
    return !this.#busy;
  }

  /** Takes the turn: `undefined` if it was free (taken at once), else a promise that resolves once it is ours. */
  enter(): Promise<void> | undefined {
    this.#entered++;
    if (!this.#busy) {
      this.#busy = true;
      return undefined;
    }
    return new Promise<void>((grant) => this.#waiters.push(grant));
  }

  /** A turn just taken: {@link Turn.end} ends it, or the next event-loop turn does. */
  hold(): Turn {
    return new Turn(() => this.leave());
  }

  /** @internal Hands the turn to the next waiter. */
  leave(): void {
    const next = this.#waiters.shift();
    if (next !== undefined) {
      next();
      return;
    }
    this.#busy = false;
    this.#onIdle();
  }
}

/** Something held until {@link Turn.end} or the next event-loop turn, whichever is first: a turn of a {@link TurnGate}. */
export class Turn {
  readonly #onEnd: () => void;
  readonly #immediate: ReturnType<typeof setImmediate>;
  #ended = false;

  /** `onEnd` runs once, when the turn ends. */
  constructor(onEnd: () => void) {
    this.#onEnd = onEnd;
    this.#immediate = setImmediate(() => this.end());
  }

  /** Ends the turn (idempotent). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearImmediate(this.#immediate);
    this.#onEnd();
  }
}
