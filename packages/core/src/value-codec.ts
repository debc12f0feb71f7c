import { Packr, RESET_BUFFER_MODE, REUSE_BUFFER_MODE, Unpackr } from 'msgpackr';
import { InvalidValueError } from './errors.js';
import { inspect, inspectPlain, UNFREEZABLE, UNSURE, withNegativeZeroMarkers, type Inspection, type PreparedValue } from './codec.js';

/** The field names of one shared structure (a msgpackr record definition), in order. */
export type StructureKeys = readonly string[];

/**
 * Structures a commit introduced, as a commit record carries them: the
 * definitions of ids `from`, `from + 1`, ... of the shared structure table.
 */
export interface StructureDefs {
  readonly from: number;
  readonly keys: readonly StructureKeys[];
}

/**
 * Shared structures a table mints by default (`open({ maxStructures })`);
 * past the limit, values carry their own definitions (self-describing), never
 * a wrong id.
 */
export const DEFAULT_MAX_STRUCTURES = 4096;
/** The most msgpackr can address (two-byte ids past the first 32). */
export const MAX_SHARED_STRUCTURES = 8160;

/** Shared and own structure ids msgpackr can address together. */
const MAX_STRUCTURE_IDS = 8192;

/** Inline (own) record definitions a value may use once the shared table is full. */
const MAX_OWN_STRUCTURES = 64;

/** A value decoded for a reader. */
export interface DecodedValue {
  readonly value: unknown;
  /** Whether {@link value} is deep-frozen (and so may be shared between readers). */
  readonly frozen: boolean;
}

/**
 * A value names a structure the table does not hold, or definitions do not fit
 * the table (a gap, a clash, too many): an `INVALID_VALUE` that a reader of a
 * live directory may see for a moment (the definitions were in WAL a newer
 * checkpoint replaced) and should read again before calling it damage.
 */
export class StructureTableError extends InvalidValueError {}

/** The name of the value in an error message, made only when there is an error. */
function nameOf(what: string | (() => string)): string {
  return typeof what === 'string' ? what : what();
}

/** Thrown (inside msgpackr) when a value names a structure id the table does not hold. */
class UnknownStructure extends Error {}

type MsgpackrStructures = string[][] & { sharedLength?: number };
/** msgpackr's internal merge of a loaded structure table (sets ids' high bytes); lmdb-js uses it the same way. */
interface MergingPackr {
  structures: MsgpackrStructures;
  lastNamedStructuresLength?: number;
  _mergeStructures(loaded: string[][]): MsgpackrStructures;
}

/** Bytes of a slab encodings are copied into; a value over a quarter of it gets a buffer of its own. */
const SLAB_BYTES = 64 * 1024;
/** Initial size of the buffer values are copied into to be decoded (grows for larger values). */
const SCRATCH_BYTES = 64 * 1024;
/** Values up to this size are copied byte by byte (measured: faster than `Buffer#copy` below it). */
const SMALL_COPY_BYTES = 128;
/** `Buffer.prototype.copy` works on any Uint8Array source, without making a view of it. */
const COPY = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;

const CODEC_OPTIONS = { useRecords: true, mapsAsObjects: false, int64AsType: 'bigint', moreTypes: true } as const;

/**
 * The codec of one database's values: msgpackr records whose definitions live
 * in one shared, append-only structure table (ids never change), so a value
 * carries only a structure id and decodes with a compiled reader in one pass
 * that also freezes it (msgpackr's `freezeData`).
 *
 * Durability of the table is the caller's: a structure a value uses must be
 * durable no later than that value. {@link takePending} hands out the
 * structures not yet in any commit record; the commit path puts them into the
 * record of the commit it is making (before that commit's values, since the
 * record is written whole), and checkpoints carry the whole {@link table}.
 * Replay defines them again with {@link define}.
 *
 * A value naming an id the table does not hold is an {@link InvalidValueError}
 * (the store reports it as corruption), never the bare integer msgpackr would
 * return. A full table makes values self-describing.
 */
export class ValueCodec {
  #packr: Packr & MergingPackr;
  /** Decodes values that hold `Date`, `Map`, ...: unfrozen, with structure arrays of its own (msgpackr caches compiled readers on them, frozen or not). */
  #thawed: (Unpackr & MergingPackr) | undefined;
  readonly #maxStructures: number;
  /** Our own copy of the table (plain arrays), the source of truth. */
  readonly #table: string[][] = [];
  /** Structures `[0, #logged)` are in a commit record handed out by {@link takePending} (or came from disk). */
  #logged = 0;
  /** msgpackr asks for the table while packing only after a failed save: then it gets the table; while decoding, an unknown id. */
  #packing = false;
  /** The range {@link readRange} decodes (one object, reused: msgpackr reads it before it returns). */
  readonly #range = { start: 0, end: 0 };
  /** Where {@link prepare} keeps encodings: views of one slab, a new one when it is full (the old one lives while views of it do). */
  #slab = new Uint8Array(SLAB_BYTES);
  #slabUsed = 0;
  /** Where {@link readRange} copies a value to decode it. */
  #scratch: Buffer = Buffer.allocUnsafeSlow(SCRATCH_BYTES);

  /**
   * @param options.maxStructures how many structures this codec mints (a
   *   table read back may hold more, written with a higher limit: those all
   *   still decode).
   */
  constructor(options: { maxStructures?: number; table?: readonly StructureKeys[] } = {}) {
    this.#maxStructures = Math.min(options.maxStructures ?? DEFAULT_MAX_STRUCTURES, MAX_SHARED_STRUCTURES);
    for (const keys of options.table ?? []) this.#table.push([...keys]);
    if (this.#table.length > MAX_SHARED_STRUCTURES) throw new StructureTableError(`structure table: ${this.#table.length} structures exceed the most msgpackr addresses (${MAX_SHARED_STRUCTURES})`);
    this.#logged = this.#table.length;
    this.#packr = this.#makePackr();
    this.#load();
  }

  /** Shared structures the table holds. */
  get size(): number {
    return this.#table.length;
  }

  /** Most shared structures the table may hold. */
  get maxStructures(): number {
    return this.#maxStructures;
  }

  /** A copy of the whole table (what a checkpoint carries). */
  table(): StructureKeys[] {
    return this.#table.map((keys) => [...keys]);
  }

  /**
   * The structures no commit record carries yet, marking them carried; the
   * caller must put them into the record it is committing. `undefined` when
   * there are none. Complexity: O(new structures).
   */
  takePending(): StructureDefs | undefined {
    if (this.#logged === this.#table.length) return undefined;
    const defs = { from: this.#logged, keys: this.#table.slice(this.#logged).map((keys) => [...keys]) };
    this.#logged = this.#table.length;
    return defs;
  }

  /**
   * Defines structures read back from a commit record or checkpoint. Ids the
   * table already holds must match exactly; a gap, a mismatch or more than the
   * table may hold throws {@link InvalidValueError}.
   */
  define(defs: StructureDefs): void {
    const { from, keys } = defs;
    if (!Number.isSafeInteger(from) || from < 0 || from > this.#table.length) {
      throw new StructureTableError(`structure table: definitions start at id ${String(from)}, but the table holds ${this.#table.length} (a gap)`);
    }
    if (from + keys.length > MAX_SHARED_STRUCTURES) {
      throw new StructureTableError(`structure table: ${from + keys.length} structures exceed the most msgpackr addresses (${MAX_SHARED_STRUCTURES})`);
    }
    let added = false;
    for (let i = 0; i < keys.length; i++) {
      const incoming = keys[i]!;
      if (!Array.isArray(incoming) || !incoming.every((k) => typeof k === 'string')) throw new StructureTableError(`structure table: definition ${from + i} is not a list of field names`);
      const existing = this.#table[from + i];
      if (existing !== undefined) {
        if (existing.length !== incoming.length || existing.some((k, j) => k !== incoming[j])) {
          throw new StructureTableError(`structure table: definition ${from + i} differs from the one already held`);
        }
        continue;
      }
      this.#table.push([...incoming]);
      added = true;
    }
    this.#logged = Math.max(this.#logged, Math.min(this.#table.length, from + keys.length));
    if (!added) return;
    // A table written with a higher limit than ours: msgpackr's limit is fixed per Packr, so make one that holds it.
    if (this.#table.length > this.#maxStructures) this.#packr = this.#makePackr();
    this.#load();
  }

  /**
   * Validates, encodes and copies a value for storage (see `prepareValue` for
   * what is accepted). New object shapes join the table as pending structures.
   * `what` names the value in error messages (a function is called only when
   * there is an error: a batch does not build a name per value).
   */
  prepare(value: unknown, maxBytes: number, what: string | (() => string)): PreparedValue {
    if (value === undefined) throw new InvalidValueError(`${nameOf(what)} must not be undefined (use delete() to remove a key)`);
    const plain = inspectPlain(value, 0);
    const inspection: Inspection = { freezable: plain !== UNFREEZABLE, negativeZero: false };
    // Not plain data for certain: the full walk decides (and names what is wrong).
    if (plain === UNSURE) inspect(value, inspection, [], [], nameOf(what));
    const encoded = this.#pack(inspection.negativeZero ? withNegativeZeroMarkers(value) : value, what);
    if (encoded.byteLength > maxBytes) {
      throw new InvalidValueError(`${nameOf(what)} is ${encoded.byteLength} bytes encoded, over the limit of ${maxBytes} bytes (maxValueBytes)`);
    }
    return { encoded, copyOnRead: !inspection.freezable };
  }

  /** Checks stored bytes (a replayed record, a checkpoint entry): they must decode to a value EpochDB could have written. */
  prepareEncoded(encoded: Uint8Array): PreparedValue {
    return { encoded, copyOnRead: !this.decodeStored(encoded).frozen };
  }

  /**
   * Decodes stored bytes for a reader and checks them: deep-frozen plain
   * data, else a fresh unfrozen copy. Nothing returned aliases `encoded`.
   * Throws {@link InvalidValueError} for bytes that do not decode to a storable value.
   */
  decodeStored(encoded: Uint8Array): DecodedValue {
    const decoded = this.#unpack(this.#packr, encoded);
    const inspection: Inspection = { freezable: true, negativeZero: false };
    inspect(decoded, inspection, [], [], 'encoded value');
    if (inspection.freezable) return { value: decoded, frozen: true };
    return { value: this.#unpack(this.#thawedCodec(), Buffer.from(encoded)), frozen: false };
  }

  /**
   * Decodes bytes whose kind is known for a reader in one pass: deep-frozen
   * plain data, or (`copyOnRead`) a fresh unfrozen copy. Nothing returned aliases `encoded`.
   */
  read(encoded: Uint8Array, copyOnRead: boolean): unknown {
    // msgpackr's binary values are views of the bytes it decodes, and only a Buffer source yields
    // Buffers: a value holding binary data decodes from a fresh Buffer copy.
    return copyOnRead ? this.#unpack(this.#thawedCodec(), Buffer.from(encoded)) : this.#unpack(this.#packr, encoded);
  }

  /**
   * {@link read} of the bytes `source[start, end)`, without making a view of
   * them (a hot read decodes straight out of a value-memory segment).
   */
  readRange(source: Uint8Array, start: number, end: number, copyOnRead: boolean): unknown {
    if (copyOnRead) return this.#unpack(this.#thawedCodec(), Buffer.from(source.subarray(start, end)));
    // As lmdb-js's getBinaryFast: copy the bytes into one reused buffer and decode from it. msgpackr's
    // native string extraction works on it (not on a SharedArrayBuffer, where it fails and falls back per
    // value), its DataView is made once, and plain data shares nothing with it once decoded.
    const length = end - start;
    let scratch = this.#scratch;
    if (scratch.byteLength < length) scratch = this.#scratch = Buffer.allocUnsafeSlow(Math.max(length, scratch.byteLength * 2));
    // Most values are tens of bytes: a loop beats Buffer#copy's call overhead there.
    if (length <= SMALL_COPY_BYTES) for (let i = 0; i < length; i++) scratch[i] = source[start + i]!;
    else COPY.call(source, scratch, 0, start, end);
    const range = this.#range;
    range.end = length;
    return this.#unpack(this.#packr, scratch, range);
  }

  /** Decodes bytes to a fresh, unfrozen value (for consumers that hand values on, like a dump). */
  decode(encoded: Uint8Array): unknown {
    return this.#unpack(this.#thawedCodec(), Buffer.from(encoded));
  }

  #pack(value: unknown, what: string | (() => string)): Uint8Array {
    this.#packing = true;
    try {
      // As lmdb-js does: msgpackr hands back its own buffer with the value's range in `start`/`end` (no
      // view to allocate) and writes the next value over it; a pack that saved new structures hands back
      // a view instead. Either way the bytes are copied out, into a slab shared by many values rather
      // than a buffer of their own (an ArrayBuffer per value made every scavenge sweep thousands of them
      // under a write load).
      const packed = this.#packr.pack(value, REUSE_BUFFER_MODE | RESET_BUFFER_MODE) as Buffer & { start?: number; end?: number };
      const reused = typeof packed.end === 'number' && typeof packed.start === 'number';
      const start = reused ? packed.start! : 0;
      const end = reused ? packed.end! : packed.byteLength;
      const length = end - start;
      if (length > SLAB_BYTES / 4) {
        const own = new Uint8Array(length);
        COPY.call(packed, own, 0, start, end);
        return own;
      }
      let slab = this.#slab;
      let at = this.#slabUsed;
      if (at + length > slab.byteLength) {
        slab = this.#slab = new Uint8Array(SLAB_BYTES);
        at = 0;
      }
      if (length <= SMALL_COPY_BYTES) for (let i = 0; i < length; i++) slab[at + i] = packed[start + i]!;
      else COPY.call(packed, slab, at, start, end);
      this.#slabUsed = (at + length + 7) & ~7;
      return slab.subarray(at, at + length);
    } catch (cause) {
      if (cause instanceof InvalidValueError) throw cause;
      throw new InvalidValueError(`${nameOf(what)} cannot be encoded: ${(cause as Error).message}`, { cause });
    } finally {
      this.#packing = false;
    }
  }

  #unpack(unpackr: Unpackr, encoded: Uint8Array, range?: { start: number; end: number }): unknown {
    try {
      return range === undefined ? unpackr.unpack(encoded) : unpackr.unpack(encoded, range);
    } catch (cause) {
      if (cause instanceof UnknownStructure) throw new StructureTableError(cause.message);
      throw new InvalidValueError(`encoded value cannot be decoded: ${(cause as Error).message}`, { cause });
    }
  }

  /** msgpackr's `getStructures`: the table while packing (after a failed save); an unknown id while decoding. */
  #structuresAsked(): string[][] {
    if (this.#packing) return this.#table.map((keys) => [...keys]);
    throw new UnknownStructure(`a value names a structure id the table (${this.#table.length} structures) does not hold`);
  }

  /** msgpackr's `saveStructures`: new shared structures were minted by a pack. */
  #saved(structures: string[][]): boolean {
    const length = (structures as MsgpackrStructures).sharedLength ?? structures.length;
    for (let id = this.#table.length; id < length; id++) this.#table.push([...structures[id]!]);
    return true;
  }

  #makePackr(): Packr & MergingPackr {
    // Never below what the table holds: ids it already has must stay addressable.
    const shared = Math.max(this.#maxStructures, this.#table.length);
    return new Packr({
      ...CODEC_OPTIONS,
      freezeData: true,
      maxSharedStructures: shared,
      // msgpackr addresses at most 8192 shared and own structures together.
      maxOwnStructures: Math.min(MAX_OWN_STRUCTURES, MAX_STRUCTURE_IDS - shared),
      getStructures: () => this.#structuresAsked(),
      saveStructures: (structures: string[][]) => this.#saved(structures),
    } as ConstructorParameters<typeof Packr>[0]) as Packr & MergingPackr;
  }

  /** Hands the table to msgpackr (it sets each id's encoding) and drops the unfrozen decoder's copy. */
  #load(): void {
    this.#packr._mergeStructures(this.#table.map((keys) => [...keys]));
    this.#packr.lastNamedStructuresLength = this.#table.length;
    this.#thawed = undefined;
  }

  #thawedCodec(): Unpackr {
    const table = this.#table;
    if (this.#thawed === undefined || (this.#thawed.structures.sharedLength ?? 0) < table.length) {
      const thawed = new Unpackr({ ...CODEC_OPTIONS, getStructures: () => this.#structuresAsked() }) as Unpackr & MergingPackr;
      thawed._mergeStructures(table.map((keys) => [...keys]));
      this.#thawed = thawed;
    }
    return this.#thawed;
  }
}
