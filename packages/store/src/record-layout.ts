import type { Version } from '@epochdb/core';

/*
 * The record layout of value memory (see docs/memory.md and ValueMemory): the
 * one place that knows where each field of a record lives.
 */

/** One segment of value memory, with typed views over its buffer. */
export interface Segment {
  readonly index: number;
  readonly buffer: SharedArrayBuffer;
  readonly bytes: number;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  /** Bytes appended (live and dead). */
  used: number;
  /** Bytes of live records. */
  live: number;
  liveRecords: number;
}

/** Flag: a deletion. */
export const TOMBSTONE = 1;
/** Flag: a deletion made by the TTL cleaner. */
export const EXPIRY = 2;
/** Flag: the value holds `Date`, `Map`, ...: every read decodes a fresh copy. */
export const COPY_ON_READ = 4;
/** Flag: whether the value is copied on read is known (a value loaded from disk learns it on first decode). */
export const KIND_KNOWN = 8;
/** Flag: the record carries an expiry. */
export const HAS_EXPIRY = 16;
/** Flag: the record carries run/type tag ids. */
export const HAS_TAGS = 32;
/** u32 slots of the header fields. */
export const PREV = 4;
export const OWN_ID = 5;

/** Bytes of a record header. */
export const HEADER_BYTES = 24;

/** Header bytes of a record with `flags` (the fixed part and the optional fields). */
export function headerBytes(flags: number): number {
  return HEADER_BYTES + ((flags & HAS_EXPIRY) === 0 ? 0 : 8) + ((flags & HAS_TAGS) === 0 ? 0 : 8);
}

/** Where the tag ids of a record with `flags` start, from its offset. */
export function tagsAt(flags: number): number {
  return HEADER_BYTES + ((flags & HAS_EXPIRY) === 0 ? 0 : 8);
}

/** Bytes a record with a value of `length` bytes takes, with an expiry and/or tags when it has them. */
export function recordSize(length: number, options: { readonly expiry?: boolean; readonly tags?: boolean } | number = 0): number {
  const flags = typeof options === 'number' ? options : (options.expiry === true ? HAS_EXPIRY : 0) | (options.tags === true ? HAS_TAGS : 0);
  return alignUp(headerBytes(flags) + length);
}

export function sizeAt(segment: Segment, offset: number): number {
  return alignUp(headerBytes(segment.u32[(offset >>> 2) + 1]!) + segment.u32[offset >>> 2]!);
}

export function alignUp(bytes: number): number {
  return Math.ceil(bytes / 8) * 8;
}


export function writeHeader(segment: Segment, offset: number, length: number, flags: number, version: Version, expiresAt: number | undefined, prev: number, runId: number, typeId: number, id: number): void {
  const w = offset >>> 2;
  segment.u32[w] = length;
  segment.u32[w + 1] = flags;
  segment.f64[(offset >>> 3) + 1] = version;
  segment.u32[w + PREV] = prev;
  segment.u32[w + OWN_ID] = id;
  if ((flags & HAS_EXPIRY) !== 0) segment.f64[(offset >>> 3) + 3] = expiresAt!;
  if ((flags & HAS_TAGS) !== 0) {
    const t = (offset + tagsAt(flags)) >>> 2;
    segment.u32[t] = runId;
    segment.u32[t + 1] = typeId;
  }
}
