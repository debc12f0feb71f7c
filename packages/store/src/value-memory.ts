import { DEFAULT_VALUE_SEGMENT_BYTES, type GatherSource, type Version } from '@epochdb/core';
import { SegmentBuffers } from './segment-buffers.js';
import { HAS_EXPIRY, HAS_TAGS, OWN_ID, PREV, TOMBSTONE, alignUp, headerBytes, recordSize, sizeAt, tagsAt, writeHeader, type Segment } from './record-layout.js';

export { COPY_ON_READ, EXPIRY, HEADER_BYTES, KIND_KNOWN, TOMBSTONE, recordSize } from './record-layout.js';

/** Values up to this many bytes are copied by a loop: a native copy of so few bytes costs more than the bytes. */
const SMALL_COPY_BYTES = 128;

/**
 * Value memory: every version of every key as one compact record in large
 * `SharedArrayBuffer` segments outside the V8 heap (see docs/memory.md).
 *
 * A version is named by a small integer, its **id**. The B-trees and the
 * version chains hold ids, never addresses: an id's record can move (the
 * cleaner copies live records out of sparse segments) and only the id table
 * changes. Records are appended to the head segment and never change in place,
 * except for the header fields the owner of the index maintains (`prev`,
 * flags). Freed records leave dead space that the cleaner reclaims; a segment
 * with no live record left is let go at once.
 *
 * Record layout (8-byte aligned, little-endian; {@link HEADER_BYTES} of fixed
 * header, then the optional fields its flags announce):
 *
 *     0  u32  value length in bytes
 *     4  u32  flags (TOMBSTONE, EXPIRY, COPY_ON_READ, KIND_KNOWN, HAS_EXPIRY, HAS_TAGS)
 *     8  f64  version
 *    16  u32  id of the next older version (0: none)
 *    20  u32  this record's own id (so a segment can be walked)
 *   [24  f64  expiresAt (epoch ms)]                  if HAS_EXPIRY
 *   [..  u32  run tag id, u32 type tag id (0: none)] if HAS_TAGS
 *    ..  ...  the value's msgpack bytes
 *
 * Only the main thread writes headers and the id table; a worker may copy
 * records of sealed segments into a segment of its own (see
 * {@link ValueMemory.planCompaction}), which the main thread then installs.
 */
export class ValueMemory {
  readonly segmentBytes: number;
  /** Segments by index; `undefined`: let go (the index is free for reuse). */
  readonly #segments: (Segment | undefined)[] = [];
  readonly #freeSegments: number[] = [];
  /** Spare and new segment buffers; the ones a compaction plan reads from stay pinned until it ends. */
  readonly #buffers: SegmentBuffers;
  #head: Segment | undefined;
  /** id → address (segment index · 2^32 + byte offset); {@link FREE}: freed. */
  #table = new Float64Array(1024);
  /** Ids never used: `#nextId` and up. Freed ids are reused from {@link #freeIds}. */
  #nextId = 1;
  readonly #freeIds: number[] = [];
  #liveRecords = 0;
  #liveBytes = 0;
  #usedBytes = 0;
  #allocatedBytes = 0;
  #recordsMoved = 0;
  #segmentsCleaned = 0;
  /** Scratch result of {@link #place}: the segment and offset its value goes at. */
  #placed!: Segment;
  #placedAt = 0;
  /** Scratch result of {@link #at}. */
  #offset = 0;
  /** Called with every id freed or moved under a reader's cached decode (see `ValueCache`). */
  onFree: ((id: number) => void) | undefined;

  /** Buffers allocated by {@link reserve} for appends to come, used before any other. */
  readonly #ready: SharedArrayBuffer[] = [];

  constructor(segmentBytes = DEFAULT_VALUE_SEGMENT_BYTES, allocate: (bytes: number) => SharedArrayBuffer = (bytes) => new SharedArrayBuffer(bytes)) {
    this.#buffers = new SegmentBuffers(allocate);
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 4096 || segmentBytes % 8 !== 0) {
      throw new RangeError(`segmentBytes must be a multiple of 8 of at least 4096, got ${segmentBytes}`);
    }
    this.segmentBytes = segmentBytes;
  }

  // ------------------------------------------------------------ writing

  /**
   * Appends a record and returns its id. `encoded` is copied; a tombstone has
   * an empty value. Complexity: O(value bytes).
   */
  append(version: Version, flags: number, expiresAt: number | undefined, prev: number, runId: number, typeId: number, encoded: Uint8Array | undefined): number {
    const length = encoded === undefined ? 0 : encoded.byteLength;
    const id = this.#place(version, flags, expiresAt, prev, runId, typeId, length);
    if (encoded !== undefined && length > 0) this.#placed.u8.set(encoded, this.#placedAt);
    return id;
  }

  /**
   * Appends a value record whose bytes are `source[start, end)` (a loaded
   * checkpoint chunk's value block) and returns its id: the bytes are copied
   * straight from the block, with no view made per value. Complexity: O(value bytes).
   */
  appendFrom(version: Version, flags: number, expiresAt: number | undefined, runId: number, typeId: number, source: Uint8Array, start: number, end: number): number {
    const length = end - start;
    const id = this.#place(version, flags, expiresAt, 0, runId, typeId, length);
    const u8 = this.#placed.u8;
    const to = this.#placedAt;
    // Small values by loop: a native copy costs more than its bytes.
    if (length <= SMALL_COPY_BYTES) for (let i = 0; i < length; i++) u8[to + i] = source[start + i]!;
    else u8.set(source.subarray(start, end), to);
    return id;
  }

  /**
   * Makes room for a record of `length` value bytes, writes its header and
   * accounts for it; the value goes at {@link #placedAt} of {@link #placed}.
   */
  #place(version: Version, flags: number, expiresAt: number | undefined, prev: number, runId: number, typeId: number, length: number): number {
    const full = flags | (expiresAt === undefined ? 0 : HAS_EXPIRY) | (runId === 0 && typeId === 0 ? 0 : HAS_TAGS);
    const size = recordSize(length, full);
    const segment = this.#room(size);
    const offset = segment.used;
    const id = this.#takeId();
    writeHeader(segment, offset, length, full, version, expiresAt, prev, runId, typeId, id);
    segment.used += size;
    segment.live += size;
    segment.liveRecords++;
    this.#usedBytes += size;
    this.#liveBytes += size;
    this.#liveRecords++;
    this.#table[id] = segment.index * SEGMENT_STRIDE + offset;
    this.#placed = segment;
    this.#placedAt = offset + headerBytes(full);
    return id;
  }

  /**
   * Lets every segment go at once (the store closed: nothing can read a
   * record again): the byte and record gauges go to 0, the cleaner's
   * counters stay; any later use of an id is a bug.
   */
  releaseAll(): void {
    this.#allocatedBytes = 0;
    this.#usedBytes = 0;
    this.#liveBytes = 0;
    this.#liveRecords = 0;
    this.#segments.length = 0;
    this.#head = undefined;
    this.#ready.length = 0;
    this.#buffers.dropAll();
    this.#table = new Float64Array(0);
    this.#freeIds.length = 0;
  }

  /** Frees the record of `id`; its space is dead until its segment is cleaned or let go. */
  free(id: number): void {
    const address = this.#table[id]!;
    const segment = this.#segments[segmentOf(address)]!;
    const offset = address - segment.index * SEGMENT_STRIDE;
    const size = sizeAt(segment, offset);
    segment.live -= size;
    segment.liveRecords--;
    this.#liveBytes -= size;
    this.#liveRecords--;
    this.#table[id] = FREE;
    this.#freeIds.push(id);
    this.onFree?.(id);
    if (segment.liveRecords === 0 && segment !== this.#head) this.#release(segment);
  }

  /** Sets the id of the next older version of `id` (0: none). */
  setPrev(id: number, prev: number): void {
    const segment = this.#at(id);
    const offset = this.#offset;
    segment.u32[(offset >>> 2) + PREV] = prev;
  }

  /** Sets flag bits of `id`. */
  addFlags(id: number, flags: number): void {
    const segment = this.#at(id);
    const offset = this.#offset;
    segment.u32[(offset >>> 2) + 1]! |= flags;
  }

  // ------------------------------------------------------------ reading

  /** Whether `id` names a record (not freed). */
  exists(id: number): boolean {
    return id > 0 && id < this.#nextId && this.#table[id] !== FREE;
  }

  version(id: number): Version {
    const segment = this.#at(id);
    const offset = this.#offset;
    return segment.f64[(offset >>> 3) + 1]!;
  }

  flags(id: number): number {
    const segment = this.#at(id);
    const offset = this.#offset;
    return segment.u32[(offset >>> 2) + 1]!;
  }

  isTombstone(id: number): boolean {
    return (this.flags(id) & TOMBSTONE) !== 0;
  }

  /** Expiry in epoch ms, or `undefined`. */
  expiresAt(id: number): number | undefined {
    const segment = this.#at(id);
    const offset = this.#offset;
    return (segment.u32[(offset >>> 2) + 1]! & HAS_EXPIRY) === 0 ? undefined : segment.f64[(offset >>> 3) + 3]!;
  }

  prev(id: number): number {
    const segment = this.#at(id);
    const offset = this.#offset;
    return segment.u32[(offset >>> 2) + PREV]!;
  }

  runId(id: number): number {
    const segment = this.#at(id);
    const offset = this.#offset;
    const flags = segment.u32[(offset >>> 2) + 1]!;
    return (flags & HAS_TAGS) === 0 ? 0 : segment.u32[(offset + tagsAt(flags)) >>> 2]!;
  }

  typeId(id: number): number {
    const segment = this.#at(id);
    const offset = this.#offset;
    const flags = segment.u32[(offset >>> 2) + 1]!;
    return (flags & HAS_TAGS) === 0 ? 0 : segment.u32[((offset + tagsAt(flags)) >>> 2) + 1]!;
  }

  /** Bytes the record of `id` takes in its segment (header, value, padding). */
  recordBytes(id: number): number {
    const segment = this.#at(id);
    const offset = this.#offset;
    return sizeAt(segment, offset);
  }

  /**
   * A view of the value bytes of `id`. Valid only until the next write to value
   * memory (the cleaner may move the record): copy what must be kept.
   */
  valueView(id: number): Uint8Array {
    const segment = this.#at(id);
    const offset = this.#offset;
    const length = segment.u32[offset >>> 2]!;
    const start = offset + headerBytes(segment.u32[(offset >>> 2) + 1]!);
    return segment.u8.subarray(start, start + length);
  }

  /** Where the last {@link locateValue}'s bytes start in the segment it returned. */
  valueStart = 0;
  /** Where they end (exclusive). */
  valueEnd = 0;

  /**
   * The segment bytes holding the value of `id`, its range left in
   * {@link valueStart} and {@link valueEnd}: a read without the allocation of
   * a view (the decoder reads the range of the segment's own array). Valid
   * until the next write to value memory.
   */
  locateValue(id: number): Uint8Array {
    const segment = this.#at(id);
    const offset = this.#offset;
    const start = offset + headerBytes(segment.u32[(offset >>> 2) + 1]!);
    this.valueStart = start;
    this.valueEnd = start + segment.u32[offset >>> 2]!;
    return segment.u8;
  }

  /** An own copy of the value bytes of `id`. */
  valueCopy(id: number): Uint8Array {
    return this.valueView(id).slice();
  }

  // ------------------------------------------------------------ cleaning

  /**
   * Live record bytes / bytes appended to segments not yet reclaimed: how
   * well value memory is used (1 right after a load; dead records lower it
   * until the cleaner runs).
   */
  get utilization(): number {
    return this.#usedBytes === 0 ? 1 : this.#liveBytes / this.#usedBytes;
  }

  /**
   * Which sealed segments the cleaner should compact, sparsest first (by
   * RAMCloud's cost-benefit score, without age: `(1 - u) / (1 + u)` for live
   * fraction `u`), until their live bytes fill about one segment. Empty when
   * utilisation is at or above `targetUtilization`. A pure plan: the copy can
   * run anywhere (a worker), and {@link installCompaction} takes the result.
   */
  planCompaction(targetUtilization: number, maxBytes = this.segmentBytes, maxSegments = 8): CompactionPlan | undefined {
    if (this.utilization >= targetUtilization) return undefined;
    const candidates: Segment[] = [];
    for (const segment of this.#segments) {
      if (segment === undefined || segment === this.#head || segment.used === 0) continue;
      if (segment.live / segment.used >= targetUtilization) continue;
      candidates.push(segment);
    }
    if (candidates.length === 0) return undefined;
    candidates.sort((a, b) => a.live / a.used - b.live / b.used);
    const chosen: Segment[] = [];
    let live = 0;
    for (const segment of candidates) {
      if (chosen.length >= maxSegments || (chosen.length > 0 && live + segment.live > maxBytes)) break;
      chosen.push(segment);
      live += segment.live;
    }
    const sources = chosen.map((segment) => {
      const records = this.#liveOffsets(segment);
      return { index: segment.index, buffer: segment.buffer, records, sizes: records.map((offset) => sizeAt(segment, offset)) };
    });
    for (const source of sources) this.#buffers.pin(source.buffer);
    return { sources, targetBytes: alignUp(live) };
  }

  /** A buffer of at least `bytes` for a compaction's copy (handed to whoever copies): a spare one if there is one. */
  allocateTarget(bytes: number): SharedArrayBuffer {
    return this.#buffers.take(bytes);
  }

  /** Takes back a target that was never installed (a failed copy), and ends its plan. */
  returnTarget(buffer: SharedArrayBuffer): void {
    this.#buffers.endPlan();
    this.#buffers.release(buffer);
  }

  /** Ends a plan without installing it (its target could not be allocated): its sources may be reused again. */
  endPlan(): void {
    this.#buffers.endPlan();
  }

  /**
   * Installs a compaction: `target` holds copies of the plan's records packed
   * from offset 0 in plan order (what `gatherRanges` in core makes). A record
   * freed or moved since the plan was made is skipped (its copy is dead space);
   * for the rest the header fields the main thread may have changed since the
   * copy (prev, flags) are carried over and the id points to the copy. The
   * source segments are let go. Returns how many records moved.
   */
  installCompaction(plan: CompactionPlan, target: SharedArrayBuffer): number {
    const segment = this.#newSegment(target);
    let offset = 0;
    let moved = 0;
    for (const source of plan.sources) {
      const from = this.#segments[source.index];
      for (const recordOffset of source.records) {
        const size = sizeAt(segment, offset);
        const id = segment.u32[(offset >>> 2) + OWN_ID]!;
        if (from !== undefined && from.buffer === source.buffer && this.#table[id] === source.index * SEGMENT_STRIDE + recordOffset) {
          // Carry over what may have changed since the copy: flags and the older-version link.
          segment.u32[(offset >>> 2) + 1] = from.u32[(recordOffset >>> 2) + 1]!;
          segment.u32[(offset >>> 2) + PREV] = from.u32[(recordOffset >>> 2) + PREV]!;
          this.#table[id] = segment.index * SEGMENT_STRIDE + offset;
          from.live -= size;
          from.liveRecords--;
          segment.live += size;
          segment.liveRecords++;
          moved++;
        }
        segment.used = offset + size;
        offset += size;
      }
    }
    this.#usedBytes += segment.used;
    for (const source of plan.sources) {
      const from = this.#segments[source.index];
      if (from !== undefined && from.buffer === source.buffer && from.liveRecords === 0) this.#release(from);
    }
    if (segment.liveRecords === 0) this.#release(segment);
    this.#buffers.endPlan();
    this.#recordsMoved += moved;
    this.#segmentsCleaned += plan.sources.length;
    return moved;
  }

  /** Counters of value memory. */
  stats(): ValueMemoryStats {
    let segments = 0;
    for (const segment of this.#segments) if (segment !== undefined) segments++;
    return {
      valueSegments: segments,
      valueMemoryBytes: this.#allocatedBytes,
      valueUsedBytes: this.#usedBytes,
      valueLiveBytes: this.#liveBytes,
      valueRecords: this.#liveRecords,
      valueUtilization: this.utilization,
      idTableBytes: this.#table.byteLength,
      recordsMoved: this.#recordsMoved,
      segmentsCleaned: this.#segmentsCleaned,
    };
  }

  /** Bytes appended to segments and not yet reclaimed (live and dead records): what the memory budget counts. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  // ------------------------------------------------------------ private

  /** The segment holding `id`'s record; its offset is left in {@link #offset} (no tuple allocated per field read). */
  #at(id: number): Segment {
    const address = this.#table[id]!;
    const index = segmentOf(address);
    this.#offset = address - index * SEGMENT_STRIDE;
    return this.#segments[index]!;
  }

  #takeId(): number {
    const reused = this.#freeIds.pop();
    if (reused !== undefined) return reused;
    const id = this.#nextId++;
    if (id >= this.#table.length) {
      const grown = new Float64Array(this.#table.length * 2);
      grown.set(this.#table);
      this.#table = grown;
    }
    return id;
  }

  /** The head segment, sealed and replaced when `size` does not fit. */
  /**
   * Makes sure records of these sizes, appended in this order, find room
   * without allocating: the buffers they need are allocated now, so running
   * out of memory fails here, before a commit changes anything. Throws what
   * allocation throws.
   */
  reserve(sizes: readonly number[]): void {
    const head = this.#head;
    let free = head === undefined ? 0 : head.bytes - head.used;
    // Which ready buffers the appends will have taken: #room takes the first unused one that fits.
    const taken: boolean[] = [];
    for (const size of sizes) {
      if (size <= free) {
        free -= size;
        continue;
      }
      let next = this.#ready.findIndex((buffer, i) => taken[i] !== true && buffer.byteLength >= size);
      if (next < 0) {
        if (this.#segments.length - this.#freeSegments.length + this.#ready.length >= MAX_SEGMENTS) throw new RangeError('value memory is out of segment indexes');
        next = this.#ready.push(this.#buffers.take(Math.max(this.#grownSize(), alignUp(size)))) - 1;
      }
      taken[next] = true;
      free = this.#ready[next]!.byteLength - size;
    }
  }

  /** The size of the next segment: from 64 KiB to segmentBytes, a quarter of what is allocated at a time. */
  #grownSize(): number {
    return Math.min(this.segmentBytes, Math.max(MIN_SEGMENT_BYTES, 2 ** Math.ceil(Math.log2(Math.max(1, this.#allocatedBytes / 4)))));
  }

  #room(size: number): Segment {
    const head = this.#head;
    if (head !== undefined && head.used + size <= head.bytes) return head;
    const sealed = head;
    const ready = this.#ready.findIndex((buffer) => buffer.byteLength >= size);
    if (ready >= 0) {
      const next = this.#newSegment(this.#ready.splice(ready, 1)[0]!);
      this.#head = next;
      if (sealed !== undefined && sealed.liveRecords === 0) this.#release(sealed);
      return next;
    }
    // Segments grow with the store, from 64 KiB to segmentBytes, a quarter of what is allocated at a time: a small store
    // stays small, a big one has few, large segments, and the head's unused tail stays under a fifth of value memory.
    const next = this.#newSegment(this.#buffers.take(Math.max(this.#grownSize(), alignUp(size))));
    this.#head = next;
    if (sealed !== undefined && sealed.liveRecords === 0) this.#release(sealed);
    return next;
  }

  #newSegment(buffer: SharedArrayBuffer): Segment {
    const index = this.#freeSegments.pop() ?? this.#segments.length;
    if (index >= MAX_SEGMENTS) throw new RangeError('value memory is out of segment indexes');
    const segment: Segment = { index, buffer, bytes: buffer.byteLength, u8: new Uint8Array(buffer), u32: new Uint32Array(buffer), f64: new Float64Array(buffer), used: 0, live: 0, liveRecords: 0 };
    this.#segments[index] = segment;
    this.#allocatedBytes += buffer.byteLength;
    return segment;
  }

  #release(segment: Segment): void {
    this.#segments[segment.index] = undefined;
    this.#freeSegments.push(segment.index);
    this.#allocatedBytes -= segment.bytes;
    this.#usedBytes -= segment.used;
    this.#buffers.release(segment.buffer);
  }

  /** Offsets of the live records of `segment`, in address order. Complexity: O(records in it). */
  #liveOffsets(segment: Segment): number[] {
    const offsets: number[] = [];
    const base = segment.index * SEGMENT_STRIDE;
    for (let offset = 0; offset < segment.used; offset += sizeAt(segment, offset)) {
      const id = segment.u32[(offset >>> 2) + OWN_ID]!;
      if (this.#table[id] === base + offset) offsets.push(offset);
    }
    return offsets;
  }
}

/** What the cleaner copies: live records of sparse segments, and the size of the segment to copy them into. */
export interface CompactionPlan {
  readonly sources: readonly (GatherSource & { readonly index: number })[];
  readonly targetBytes: number;
}

/** Counters of value memory, part of the store's stats. */
export interface ValueMemoryStats {
  /** Segments allocated. */
  readonly valueSegments: number;
  /** Bytes of all segments (off the V8 heap; `process.memoryUsage().arrayBuffers` counts them). */
  readonly valueMemoryBytes: number;
  /** Bytes appended to segments and not yet reclaimed, live or dead. */
  readonly valueUsedBytes: number;
  /** Bytes of live records. */
  readonly valueLiveBytes: number;
  /** Live records (every stored version). */
  readonly valueRecords: number;
  /** `valueLiveBytes / valueUsedBytes`. */
  readonly valueUtilization: number;
  /** Bytes of the id table (8 per id ever in use at once). */
  readonly idTableBytes: number;
  /** Records the cleaner moved so far. */
  readonly recordsMoved: number;
  /** Segments the cleaner compacted so far. */
  readonly segmentsCleaned: number;
}

/** Addresses are `segment index · 2^32 + offset`, exact in a double. */
const SEGMENT_STRIDE = 2 ** 32;
const MAX_SEGMENTS = 2 ** 20;
/** The first segments' size: a store of a few keys takes 64 KiB, not a full segment. */
const MIN_SEGMENT_BYTES = 64 * 1024;
/** The id table's mark for a freed id (0 is a real address: segment 0, offset 0). */
const FREE = -1;

function segmentOf(address: number): number {
  return Math.floor(address / SEGMENT_STRIDE);
}
