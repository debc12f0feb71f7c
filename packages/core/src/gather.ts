/** Byte ranges of one shared buffer: `sizes[i]` bytes from offset `records[i]`. */
export interface GatherSource {
  readonly buffer: SharedArrayBuffer;
  readonly records: readonly number[];
  readonly sizes: readonly number[];
}

/**
 * Copies the byte ranges of `sources` into `target`, packed from offset 0 in
 * order, and returns the bytes written: the copying half of value-memory
 * cleaning, pure memory work that knows nothing of records, so a worker
 * thread can do it on `SharedArrayBuffer`s while the main thread goes on.
 */
export function gatherRanges(sources: readonly GatherSource[], target: SharedArrayBuffer): number {
  const to = new Uint8Array(target);
  let at = 0;
  for (const source of sources) {
    const from = new Uint8Array(source.buffer);
    for (let i = 0; i < source.records.length; i++) {
      const offset = source.records[i]!;
      const size = source.sizes[i]!;
      if (offset + size > from.byteLength || at + size > to.byteLength) throw new RangeError(`gatherRanges: ${size} bytes at ${offset} do not fit`);
      to.set(from.subarray(offset, offset + size), at);
      at += size;
    }
  }
  return at;
}
