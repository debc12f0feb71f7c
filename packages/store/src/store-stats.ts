import type { Version } from '@epochdb/core';
import type { Leases } from './leases.js';
import type { StoreStats } from './store-options.js';
import type { TtlIndex } from './ttl-index.js';
import type { VersionChains } from './version-chains.js';
import type { Versions } from './versions.js';

/** The store's counters (`MvccStore.stats()`), read from its parts; `figures` are the ones the store itself keeps. */
export function storeStats(
  parts: { readonly versions: Versions; readonly chains: VersionChains; readonly ttl: TtlIndex; readonly leases: Leases },
  figures: { readonly version: Version; readonly oldestVersion: Version; readonly reclaimedExpired: number; readonly heapBytes: number; readonly maxMemoryBytes: number },
): StoreStats {
  const { versions, chains, ttl, leases } = parts;
  const memory = versions.memory.stats();
  return Object.freeze({
    version: figures.version,
    oldestVersion: figures.oldestVersion,
    keys: chains.liveKeys,
    storedVersions: chains.storedVersions,
    openSnapshots: leases.openSnapshots,
    openTransactions: leases.openTransactions,
    ttlEntries: ttl.size,
    reclaimedExpired: figures.reclaimedExpired,
    collectedVersions: chains.collectedVersions,
    pendingGc: chains.pendingGc,
    memoryBytes: memory.valueLiveBytes + figures.heapBytes,
    heapBytes: figures.heapBytes,
    maxMemoryBytes: figures.maxMemoryBytes,
    leasesExpired: leases.expired,
    structures: versions.codec.size,
    headIndexKeys: chains.heads.size,
    ...memory,
    ...versions.cache.stats(),
  });
}
