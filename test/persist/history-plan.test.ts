import { describe, expect, it } from 'vitest';
import { checkpointName, DirectoryListing, segmentName } from '@epochdb/persist';
import { historyBase, historyKeep } from '../../packages/persist/src/history-plan.js';

// The pure plans behind retainVersions across restarts: which checkpoint an open loads, what pruning keeps.

const listing = (checkpoints: number[], segments: number[]): DirectoryListing => new DirectoryListing([...checkpoints.map(checkpointName), ...segments.map(segmentName), 'EPOCHDB']);

describe('history plans', () => {
  it('historyBase: the newest checkpoint the WAL goes on from that covers the window, else the oldest, else none', () => {
    // WAL from 61 on (segments 61, 81, 101), checkpoints 60, 80, 100; the newest version is at least 100.
    expect(historyBase(listing([60, 80, 100], [61, 81, 101]), 10)).toEqual({ name: checkpointName(80), version: 80 });
    expect(historyBase(listing([60, 80, 100], [61, 81, 101]), 30)).toEqual({ name: checkpointName(60), version: 60 });
    // Not enough kept for the window: as much as there is.
    expect(historyBase(listing([60, 80, 100], [61, 81, 101]), 500)).toEqual({ name: checkpointName(60), version: 60 });
    // A checkpoint the WAL does not go on from (40: WAL starts at 61) is no base.
    expect(historyBase(listing([40, 100], [61, 101]), 30)).toBeUndefined();
    // The WAL still starts at version 1: replay it all from an empty store.
    expect(historyBase(listing([50, 100], [1, 51, 101]), 80)).toBe('empty');
    // Nothing to gain: no history asked for, no checkpoint, or the newest is the base.
    expect(historyBase(listing([60, 100], [61, 101]), 0)).toBeUndefined();
    expect(historyBase(listing([], [1]), 10)).toBeUndefined();
    expect(historyBase(listing([100], [101]), 10)).toBeUndefined();
  });

  it('historyKeep: the newest checkpoint at or below newest - N and the WAL after it; N = 0 keeps nothing more', () => {
    expect(historyKeep([60, 80, 100], 100, 0, 61)).toEqual({ walAfter: 100, checkpoint: 0 });
    expect(historyKeep([60, 80, 100], 100, 20, 61)).toEqual({ walAfter: 80, checkpoint: 80 });
    expect(historyKeep([60, 80, 100], 100, 25, 61)).toEqual({ walAfter: 60, checkpoint: 60 });
    // No checkpoint old enough: all of the WAL while it starts at 1, else the oldest checkpoint it goes on from.
    expect(historyKeep([60, 80, 100], 100, 50, 1)).toEqual({ walAfter: 0, checkpoint: 0 });
    expect(historyKeep([40, 60, 80, 100], 100, 50, 61)).toEqual({ walAfter: 60, checkpoint: 60 });
    expect(historyKeep([100], 100, 50, 101)).toEqual({ walAfter: 100, checkpoint: 100 });
  });
});
