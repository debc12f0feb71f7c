// The retry lanes on their own: per-key claims in sorted order, first come first served, a
// whole-store claim as a writer on a readers-writer gate, and the refusal check commits use.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RetryLanes, type LaneClaim } from '../../packages/store/src/retry-lanes.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('RetryLanes', () => {
  it('grants one key first come first served, and is idle once everything is released', async () => {
    const lanes = new RetryLanes();
    expect(lanes.idle).toBe(true);
    const order: number[] = [];
    const first = await lanes.acquire(['a'], false);
    const waiting = [1, 2, 3].map((n) => lanes.acquire(['a'], false).then((claim) => (order.push(n), claim)));
    await tick();
    expect(order).toEqual([]);
    expect(lanes.claims).toBe(4);
    first.release();
    const second = await waiting[0]!;
    expect(order).toEqual([1]);
    second.release();
    (await waiting[1]!).release();
    (await waiting[2]!).release();
    expect(order).toEqual([1, 2, 3]);
    expect(lanes.idle).toBe(true);
  });

  it('whenIdle resolves once the last claim held or queued is released', async () => {
    const lanes = new RetryLanes();
    expect(lanes.whenIdle()).toBeUndefined();
    const first = await lanes.acquire(['a'], false);
    const queued = lanes.acquire(['a'], false);
    let idle = false;
    const drained = lanes.whenIdle()!.then(() => (idle = true));
    first.release();
    const second = await queued;
    await tick();
    expect(idle).toBe(false);
    second.release();
    await drained;
    expect(idle).toBe(true);
    expect(lanes.whenIdle()).toBeUndefined();
  });

  it('blocker names a key another claim holds, never one of its own; a whole claim blocks every write', async () => {
    const lanes = new RetryLanes();
    expect(lanes.blocker(['a', 'b'], undefined)).toBeUndefined();
    const claim = await lanes.acquire(['b', 'a', 'b'], false);
    expect(claim.keys).toEqual(['a', 'b']); // deduplicated, sorted
    expect(lanes.blocker(['x', 'b'], undefined)).toBe('b');
    expect(lanes.blocker(['x', 'b'], claim)).toBeUndefined();
    expect(lanes.blocker(['x', 'y'], undefined)).toBeUndefined();
    claim.release();
    claim.release(); // idempotent
    expect(lanes.idle).toBe(true);
    const whole = await lanes.acquire([], true);
    expect(lanes.blocker(['anything'], undefined)).toBe('anything');
    expect(lanes.blocker(['anything'], whole)).toBeUndefined();
    whole.release();
    expect(lanes.blocker(['anything'], undefined)).toBeUndefined();
  });

  it('a whole claim waits for the key claims inside, and key claims after it wait for it', async () => {
    const lanes = new RetryLanes();
    const events: string[] = [];
    const keyClaim = await lanes.acquire(['a'], false);
    const whole = lanes.acquire([], true).then((c) => (events.push('whole'), c));
    const later = lanes.acquire(['z'], false).then((c) => (events.push('later'), c));
    await tick();
    expect(events).toEqual([]);
    keyClaim.release();
    const w = await whole;
    await tick();
    expect(events).toEqual(['whole']);
    w.release();
    (await later).release();
    expect(events).toEqual(['whole', 'later']);
    expect(lanes.idle).toBe(true);
  });

  it('property: random claims taken concurrently never share a key, never deadlock, and all get through', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ keys: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 1, maxLength: 4 }), whole: fc.boolean(), holdTicks: fc.nat(2) }), {
          minLength: 1,
          maxLength: 20,
        }),
        async (requests) => {
          const lanes = new RetryLanes();
          const held = new Map<string, number>();
          let wholeHeld = 0;
          let keysHeld = 0;
          let done = 0;
          await Promise.all(
            requests.map(async ({ keys, whole: w, holdTicks }, n) => {
              const whole = w && n % 3 === 0; // some whole claims, mostly key claims
              const claim: LaneClaim = await lanes.acquire(keys, whole);
              if (whole) {
                expect(keysHeld).toBe(0);
                expect(wholeHeld).toBe(0);
                wholeHeld++;
              } else {
                expect(wholeHeld).toBe(0);
                keysHeld++;
                for (const key of claim.keys) {
                  expect(held.has(key)).toBe(false);
                  held.set(key, n);
                }
              }
              for (let t = 0; t < holdTicks; t++) await tick();
              if (whole) wholeHeld--;
              else {
                keysHeld--;
                for (const key of claim.keys) held.delete(key);
              }
              claim.release();
              done++;
            }),
          );
          expect(done).toBe(requests.length);
          expect(lanes.idle).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});
