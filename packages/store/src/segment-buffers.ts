/** Buffers of released segments kept for reuse. */
const MAX_SPARES = 4;

/**
 * Where value memory's segment buffers come from, and where released ones go.
 * V8 does not count `SharedArrayBuffer`s towards its GC triggers, so a dropped
 * one lingers (touched pages and all) until some unrelated GC: released
 * buffers are kept as spares for the next segment or compaction target, which
 * bounds value memory by its peak. A buffer a compaction plan reads from is
 * pinned while the copy may run on a worker: released meanwhile, it waits
 * until the plan ends instead of being handed to a new owner the worker would
 * copy from.
 */
export class SegmentBuffers {
  readonly #allocate: (bytes: number) => SharedArrayBuffer;
  readonly #spares: SharedArrayBuffer[] = [];
  readonly #planned = new Set<SharedArrayBuffer>();
  #deferred: SharedArrayBuffer[] = [];

  /** @param allocate makes a new buffer (tests inject a failing one). */
  constructor(allocate: (bytes: number) => SharedArrayBuffer) {
    this.#allocate = allocate;
  }

  /** A buffer of at least `bytes`: a spare of at most twice that, or a new one of exactly `bytes`. */
  take(bytes: number): SharedArrayBuffer {
    for (let i = 0; i < this.#spares.length; i++) {
      const spare = this.#spares[i]!;
      if (spare.byteLength >= bytes && spare.byteLength <= bytes * 2) {
        this.#spares.splice(i, 1);
        return spare;
      }
    }
    return this.#allocate(bytes);
  }

  /** Takes back a buffer nobody uses any more (kept as a spare unless a plan pins it, or enough are kept). */
  release(buffer: SharedArrayBuffer): void {
    if (this.#planned.has(buffer)) this.#deferred.push(buffer);
    else this.#keep(buffer);
  }

  /** Pins the buffers a compaction plan reads from until {@link endPlan}. */
  pin(buffer: SharedArrayBuffer): void {
    this.#planned.add(buffer);
  }

  /** The plan's sources may be reused again: the ones released meanwhile become spares. */
  endPlan(): void {
    this.#planned.clear();
    const deferred = this.#deferred;
    this.#deferred = [];
    for (const buffer of deferred) this.#keep(buffer);
  }

  /** Keeps nothing any more (the store closed). */
  dropAll(): void {
    this.#spares.length = 0;
    this.#planned.clear();
    this.#deferred = [];
  }

  #keep(buffer: SharedArrayBuffer): void {
    if (this.#spares.length < MAX_SPARES) this.#spares.push(buffer);
  }
}
