import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shouldTrimQueue } from '@epochdb/core';

// One rule for every array used as a queue (the store's GC queue, change streams, collection indexes).
describe('shouldTrimQueue', () => {
  it('trims only past 1024 consumed items and more than half of the array consumed', () => {
    expect(shouldTrimQueue(1024, 1024)).toBe(false);
    expect(shouldTrimQueue(1025, 1025)).toBe(true);
    expect(shouldTrimQueue(1025, 2050)).toBe(false);
    expect(shouldTrimQueue(1025, 2049)).toBe(true);
    expect(shouldTrimQueue(0, 0)).toBe(false);
  });

  it('property: a queue trimmed by it copies each item O(1) times and keeps its consumed prefix bounded', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(300), fc.nat(300)), { maxLength: 200 }), (steps) => {
        let queue: number[] = [];
        let head = 0;
        let pushed = 0;
        let copied = 0;
        for (const [push, take] of steps) {
          for (let i = 0; i < push; i++) queue.push(pushed++);
          head = Math.min(queue.length, head + take);
          if (shouldTrimQueue(head, queue.length)) {
            copied += queue.length - head;
            queue = queue.slice(head);
            head = 0;
          }
          expect(head <= 1024 || head * 2 <= queue.length).toBe(true);
        }
        expect(copied).toBeLessThanOrEqual(pushed);
      }),
    );
  });
});
