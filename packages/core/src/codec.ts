import { Packr, addExtension } from 'msgpackr';
import { InvalidValueError } from './errors.js';

/**
 * The self-describing msgpackr codec: the framing of WAL records, checkpoint
 * chunks and replication messages, and {@link prepareValue}'s validation.
 * A database's values are encoded by its own `ValueCodec` (a shared
 * structure table).
 * Records keep object encoding compact; `mapsAsObjects: false` keeps `Map`
 * distinct from plain objects; 64-bit integers decode as `bigint` so a
 * `bigint` reads back as a `bigint`.
 */
const packr = new Packr({ useRecords: true, mapsAsObjects: false, int64AsType: 'bigint', moreTypes: true });

/** msgpack has no negative zero for integers; carry it as an extension so `-0` reads back as `-0`. */
class NegativeZero {}
const NEGATIVE_ZERO = new NegativeZero();
const NEGATIVE_ZERO_EXT_TYPE = 0x45;
addExtension({ Class: NegativeZero, type: NEGATIVE_ZERO_EXT_TYPE, pack: () => Buffer.alloc(0), unpack: () => -0 });

/**
 * Largest commit (a put, batch or transaction) in encoded bytes, counting
 * keys, tags and per-operation overhead: one commit is one WAL record, and a
 * record must stay well inside what the WAL frames and reads back.
 */
export const MAX_COMMIT_BYTES = 1024 * 1024 * 1024;

/** Deepest nesting of arrays, objects, maps and sets a value may have. */
export const MAX_VALUE_DEPTH = 512;

/** Prototypes of the binary classes that round-trip (exact classes, not subclasses). */
const TYPED_ARRAY_PROTOTYPES: ReadonlySet<object> = new Set(
  [
    Uint8Array, Int8Array, Uint8ClampedArray, Uint16Array, Int16Array, Uint32Array, Int32Array,
    Float32Array, Float64Array, BigInt64Array, BigUint64Array, Buffer,
  ].map((c) => c.prototype as object),
);

/**
 * A value made ready for the store: validated and encoded once. The bytes are
 * what the store copies into value memory, what the WAL frame carries and what
 * a checkpoint holds; nothing decodes them again on the write path.
 */
export interface PreparedValue {
  /** The msgpackr encoding (an own copy, safe to keep). */
  readonly encoded: Uint8Array;
  /**
   * True when the value holds something `Object.freeze` cannot protect
   * (`Date`, `Map`, `Set`, typed arrays): readers then get a fresh, unfrozen
   * decoded copy; otherwise they get a deep-frozen one.
   */
  readonly copyOnRead: boolean;
}

/** What {@link inspectValue} learnt of a value. */
export interface Inspection {
  freezable: boolean;
  negativeZero: boolean;
}

/**
 * Validates, encodes and copies a value for storage.
 *
 * Accepted: `null`, booleans, numbers (including `-0`, `NaN`, `±Infinity`),
 * `bigint`, well-formed strings, arrays (holes read back as `undefined`),
 * plain objects, `Date`, `Map`, `Set` and typed arrays, nested up to
 * {@link MAX_VALUE_DEPTH}. Rejected with {@link InvalidValueError}: `undefined`
 * at the top level, functions, symbols, cyclic references, strings with lone
 * surrogates, own `__proto__` keys, class instances and other exotic objects,
 * and encodings larger than `maxBytes`.
 *
 * @param what names the argument in error messages, e.g. `"put(): value"`.
 */
export function prepareValue(value: unknown, maxBytes: number, what: string): PreparedValue {
  if (value === undefined) throw new InvalidValueError(`${what} must not be undefined (use delete() to remove a key)`);
  const inspection = inspectValue(value, what);
  const toEncode = inspection.negativeZero ? withNegativeZeroMarkers(value) : value;
  let encoded: Uint8Array;
  try {
    encoded = new Uint8Array(packr.pack(toEncode));
  } catch (cause) {
    throw new InvalidValueError(`${what} cannot be encoded: ${(cause as Error).message}`, { cause });
  }
  if (encoded.byteLength > maxBytes) {
    throw new InvalidValueError(`${what} is ${encoded.byteLength} bytes encoded, over the limit of ${maxBytes} bytes (maxValueBytes)`);
  }
  return { encoded, copyOnRead: !inspection.freezable };
}

/**
 * Encodes with the self-describing framing codec (WAL frames, checkpoint
 * chunks, dumps): records carry their own definitions. Values stored in a
 * database go through its `ValueCodec` instead. No validation.
 */
export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes bytes made by {@link encodeValue}. */
export function decodeValue(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/** What {@link inspect} learns of `value` (throwing for what cannot be stored), by way of {@link inspectPlain} for plain data. */
export function inspectValue(value: unknown, what: string): Inspection {
  const plain = inspectPlain(value, 0);
  if (plain !== UNSURE) return { freezable: plain === PLAIN, negativeZero: false };
  const inspection: Inspection = { freezable: true, negativeZero: false };
  inspect(value, inspection, [], [], what);
  return inspection;
}

function describe(what: string, path: readonly (string | number)[]): string {
  let out = what;
  for (const segment of path) out += typeof segment === 'number' ? `[${segment}]` : `.${segment}`;
  return out;
}

/** {@link inspectPlain}: plain data that can be frozen. */
export const PLAIN = 0;
/** {@link inspectPlain}: storable, but holds a `Date` or typed array (readers get a copy). */
export const UNFREEZABLE = 1;
/** {@link inspectPlain}: anything else (maybe storable): {@link inspect} decides and words the error. */
export const UNSURE = 2;
/** Nesting {@link inspectPlain} follows (a cycle is deeper than this); deeper values go to {@link inspect}. */
const PLAIN_DEPTH = 64;

/**
 * The cheap first look at a value on the write path: no path or ancestor
 * bookkeeping, so it can only say {@link PLAIN}, {@link UNFREEZABLE} or
 * {@link UNSURE}. Anything it does not accept outright (`-0`, `Map`, `Set`,
 * lone surrogates, `__proto__` keys, class instances, functions, symbols,
 * nesting past 64 levels, which takes in cycles) is {@link UNSURE}; it never
 * accepts what {@link inspect} refuses. Complexity: O(size of the value).
 */
export function inspectPlain(value: unknown, depth: number): number {
  switch (typeof value) {
    case 'string':
      return value.isWellFormed() ? PLAIN : UNSURE;
    case 'number':
      return value === 0 && 1 / value < 0 ? UNSURE : PLAIN;
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return PLAIN;
    case 'function':
    case 'symbol':
      return UNSURE;
  }
  if (value === null) return PLAIN;
  if (depth >= PLAIN_DEPTH) return UNSURE;
  let result = PLAIN;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = inspectPlain(value[i], depth + 1);
      if (found === UNSURE) return UNSURE;
      result |= found;
    }
    return result;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto === Object.prototype || proto === null) {
    for (const name of Object.keys(value as object)) {
      if (name === '__proto__' || !name.isWellFormed()) return UNSURE;
      const found = inspectPlain((value as Record<string, unknown>)[name], depth + 1);
      if (found === UNSURE) return UNSURE;
      result |= found;
    }
    return result;
  }
  return proto === Date.prototype || TYPED_ARRAY_PROTOTYPES.has(proto) ? UNFREEZABLE : UNSURE;
}

/** Walks `value`, rejecting what cannot be stored (the checks of {@link prepareValue}). `ancestors` is the chain of objects above (short: nesting is shallow). */
export function inspect(value: unknown, state: Inspection, path: (string | number)[], ancestors: object[], what: string): void {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw new InvalidValueError(`${describe(what, path)} is a string with a lone surrogate, which cannot be stored faithfully`);
      return;
    case 'number':
      if (value === 0 && 1 / value < 0) state.negativeZero = true;
      return;
    case 'boolean':
    case 'bigint':
      return;
    case 'undefined':
      // Nested undefined (an object property or array slot) round-trips.
      return;
    case 'function':
      throw new InvalidValueError(`${describe(what, path)} is a function, which cannot be stored`);
    case 'symbol':
      throw new InvalidValueError(`${describe(what, path)} is a symbol, which cannot be stored`);
  }
  if (value === null) return;
  const object = value as object;
  if (ancestors.includes(object)) throw new InvalidValueError(`${describe(what, path)} is a cyclic reference, which cannot be stored`);
  if (path.length >= MAX_VALUE_DEPTH) throw new InvalidValueError(`${describe(what, path)} is nested deeper than ${MAX_VALUE_DEPTH} levels`);
  ancestors.push(object);
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      path.push(i);
      inspect(object[i], state, path, ancestors, what);
      path.pop();
    }
  } else {
    const proto = Object.getPrototypeOf(object) as object | null;
    if (proto === Object.prototype || proto === null) {
      for (const name of Object.keys(object)) {
        if (name === '__proto__') throw new InvalidValueError(`${describe(what, path)} has an own "__proto__" key, which cannot be stored`);
        if (!name.isWellFormed()) throw new InvalidValueError(`${describe(what, path)} has a key with a lone surrogate, which cannot be stored faithfully`);
        path.push(name);
        inspect((object as Record<string, unknown>)[name], state, path, ancestors, what);
        path.pop();
      }
    } else if (proto === Date.prototype) {
      state.freezable = false;
    } else if (proto === Map.prototype) {
      state.freezable = false;
      let i = 0;
      for (const [k, v] of object as Map<unknown, unknown>) {
        path.push(`<key ${i}>`);
        inspect(k, state, path, ancestors, what);
        path.pop();
        path.push(`<value ${i++}>`);
        inspect(v, state, path, ancestors, what);
        path.pop();
      }
    } else if (proto === Set.prototype) {
      state.freezable = false;
      let i = 0;
      for (const v of object as Set<unknown>) {
        path.push(`<item ${i++}>`);
        inspect(v, state, path, ancestors, what);
        path.pop();
      }
    } else if (TYPED_ARRAY_PROTOTYPES.has(proto)) {
      state.freezable = false;
    } else {
      const name = (proto as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
      throw new InvalidValueError(`${describe(what, path)} is an instance of ${name}; only plain objects, arrays, Date, Map, Set, Buffer and typed arrays (not subclasses) can be stored`);
    }
  }
  ancestors.pop();
}

/** `value` with every `-0` replaced by the extension that carries it (msgpack integers have no `-0`). */
export function withNegativeZeroMarkers(value: unknown): unknown {
  if (typeof value === 'number') return value === 0 && 1 / value < 0 ? NEGATIVE_ZERO : value;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(withNegativeZeroMarkers);
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [withNegativeZeroMarkers(k), withNegativeZeroMarkers(v)]));
  if (value instanceof Set) return new Set([...value].map(withNegativeZeroMarkers));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = withNegativeZeroMarkers(v);
  return out;
}
