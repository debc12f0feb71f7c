import type { Version } from '@epochdb/core';
import { INDEX_SEPARATOR } from './read-view.js';
import type { TtlIndex } from './ttl-index.js';
import { GC_ENTRY_HEAP_BYTES, INDEX_ENTRY_HEAP_BYTES, KEY_HEAP_BYTES, type VersionChains } from './version-chains.js';
import type { VersionId, Versions } from './versions.js';

/** What {@link checkInvariants} looks at. */
export interface StoreState {
  readonly versions: Versions;
  readonly chains: VersionChains;
  readonly ttl: TtlIndex;
  readonly version: Version;
}

/**
 * Checks every structural invariant of a store (for tests): indexes agree
 * with the primary map, counters and the memory account match what is
 * stored, the TTL index covers exactly the newest versions with an expiry.
 * Throws on the first violation. Complexity: O(stored versions).
 */
export function checkInvariants({ versions, chains, ttl, version }: StoreState): void {
  let live = 0;
  let stored = 0;
  let recordBytes = 0;
  let heap = chains.pendingGc * GC_ENTRY_HEAP_BYTES;
  const fail = (message: string): never => {
    throw new Error(`store invariant violated: ${message}`);
  };
  // A partial head index (after a bulk load) holds a subset of the tree's keys; a complete one all of them.
  if (chains.heads.complete ? chains.heads.size !== chains.primary.size : chains.heads.size > chains.primary.size) {
    fail(`head index (${chains.heads.complete ? 'complete' : 'partial'}) holds ${chains.heads.size} keys, the tree ${chains.primary.size}`);
  }
  for (const [key, head] of chains.primary.entries()) {
    const held = chains.heads.peek(key);
    if (held === undefined ? chains.heads.complete : held !== head) fail(`head index has ${String(held)} for ${key}, the tree ${head}`);
    if (!versions.memory.exists(head)) fail(`${key} points to a freed version ${head}`);
    heap += KEY_HEAP_BYTES + key.length;
    if (!versions.isTombstone(head)) live++;
    let previous: VersionId = 0;
    for (let id = head; id !== 0; id = versions.prev(id)) {
      if (!versions.memory.exists(id)) fail(`the chain of ${key} reaches a freed version ${id}`);
      stored++;
      recordBytes += versions.recordBytes(id);
      if (previous !== 0 && versions.version(id) >= versions.version(previous)) fail(`versions of ${key} do not decrease`);
      if (versions.version(id) > version) fail(`${key} has version ${versions.version(id)} above ${version}`);
      for (const index of ['run', 'type'] as const) {
        const tag = versions.tag(id, index);
        if (tag !== undefined && !chains.indexTree(index).has(tag + INDEX_SEPARATOR + key)) fail(`${index} index lacks ${tag}/${key}`);
      }
      previous = id;
    }
    const expiresAt = versions.expiresAt(head);
    if (!versions.isTombstone(head) && expiresAt !== undefined && ttl.get(expiresAt, key) !== versions.version(head)) fail(`TTL index lacks ${key}`);
  }
  if (live !== chains.liveKeys) fail(`live key count ${chains.liveKeys}, actual ${live}`);
  if (stored !== chains.storedVersions) fail(`stored version count ${chains.storedVersions}, actual ${stored}`);
  const memory = versions.memory.stats();
  if (stored + chains.limboRecords !== memory.valueRecords) fail(`value memory holds ${memory.valueRecords} records, the chains ${stored} (and ${chains.limboRecords} kept for readers)`);
  if (chains.limboRecords === 0 && recordBytes !== memory.valueLiveBytes) fail(`value memory counts ${memory.valueLiveBytes} live bytes, the chains hold ${recordBytes}`);
  for (const index of ['run', 'type'] as const) {
    for (const [composite] of chains.indexTree(index).entries()) {
      const cut = composite.indexOf(INDEX_SEPARATOR);
      const tag = composite.slice(0, cut);
      const key = composite.slice(cut + 1);
      heap += INDEX_ENTRY_HEAP_BYTES + composite.length;
      let found = false;
      for (let id = chains.primary.get(key) ?? 0; id !== 0 && !found; id = versions.prev(id)) found = versions.tag(id, index) === tag;
      if (!found) fail(`${index} index has stale entry ${tag}/${key}`);
    }
  }
  if (heap !== chains.heapBytes) fail(`heap account ${chains.heapBytes} bytes, actual ${heap}`);
  for (const [key, at] of ttl.all()) {
    const head = chains.primary.get(key);
    if (head === undefined || versions.version(head) !== at || versions.isTombstone(head)) fail(`TTL index has stale entry for ${key} at version ${at}`);
  }
}
