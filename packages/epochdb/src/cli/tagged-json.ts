/**
 * The tagged JSON encoding of values, used by `dump`/`load` and by `--json`
 * output: plain JSON where JSON can say it, and a `{"$t": <tag>, ...}` object
 * for everything else. Specified in docs/cli.md.
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The key that marks a tagged value. A plain object that has it itself is wrapped in an `object` tag. */
export const TAG = '$t';

/** The typed-array classes that values may hold, by tag; `Buffer` is its own tag. */
const TYPED_ARRAYS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;
type TypedArrayTag = keyof typeof TYPED_ARRAYS;
type TypedArray = InstanceType<(typeof TYPED_ARRAYS)[TypedArrayTag]>;

const TYPED_ARRAY_TAGS = new Map<object, TypedArrayTag>(Object.entries(TYPED_ARRAYS).map(([tag, ctor]) => [ctor.prototype as object, tag as TypedArrayTag]));

/** A value that cannot be put into, or read back from, tagged JSON. */
export class TaggedJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaggedJsonError';
  }
}

function where(path: string): string {
  return path === '' ? 'value' : `value${path}`;
}

/** The bytes of a typed array or Buffer (little-endian for multi-byte elements, as held in memory on every platform Node runs on in practice). */
function bytesOf(view: ArrayBufferView): string {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
}

/**
 * Encodes a value the database can hold as tagged JSON. Exact for every
 * value `put` accepts: `-0`, `NaN`, `±Infinity`, `bigint`, `undefined`
 * (array holes, object properties), `Date` (also invalid ones), `Map`, `Set`,
 * `Buffer` and typed arrays.
 */
export function toTagged(value: unknown, path = ''): Json {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value) && !Object.is(value, -0)) return value;
      return { [TAG]: 'number', v: Object.is(value, -0) ? '-0' : String(value) };
    case 'bigint':
      return { [TAG]: 'bigint', v: value.toString() };
    case 'undefined':
      return { [TAG]: 'undefined' };
    case 'object':
      break;
    default:
      throw new TaggedJsonError(`${where(path)} is a ${typeof value}, which has no tagged JSON form`);
  }
  if (value === null) return null;
  if (Array.isArray(value)) {
    const out: Json[] = [];
    // Index loop, not map(): holes must become explicit undefined tags.
    for (let i = 0; i < value.length; i++) out.push(toTagged(value[i], `${path}[${i}]`));
    return out;
  }
  if (Buffer.isBuffer(value)) return { [TAG]: 'Buffer', v: bytesOf(value) };
  const proto = Object.getPrototypeOf(value) as object | null;
  const typed = proto === null ? undefined : TYPED_ARRAY_TAGS.get(proto);
  if (typed !== undefined) return { [TAG]: typed, v: bytesOf(value as TypedArray) };
  if (value instanceof Date) {
    const time = value.getTime();
    return { [TAG]: 'Date', v: Number.isNaN(time) ? null : value.toISOString() };
  }
  if (value instanceof Map) {
    let i = 0;
    return { [TAG]: 'Map', v: [...value].map(([k, v]) => [toTagged(k, `${path}<key ${i}>`), toTagged(v, `${path}<value ${i++}>`)]) };
  }
  if (value instanceof Set) {
    let i = 0;
    return { [TAG]: 'Set', v: [...value].map((v) => toTagged(v, `${path}<item ${i++}>`)) };
  }
  if (proto !== Object.prototype && proto !== null) {
    throw new TaggedJsonError(`${where(path)} is an instance of ${(proto as { constructor?: { name?: string } }).constructor?.name ?? 'unknown'}, which has no tagged JSON form`);
  }
  const entries: [string, Json][] = Object.keys(value).map((k) => [k, toTagged((value as Record<string, unknown>)[k], `${path}.${k}`)]);
  const object = Object.fromEntries(entries) as { [key: string]: Json };
  return Object.hasOwn(value, TAG) ? { [TAG]: 'object', v: object } : object;
}

const NUMBERS: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY, '-0': -0 };

function isPlainJsonObject(json: Json): json is { [key: string]: Json } {
  return json !== null && typeof json === 'object' && !Array.isArray(json);
}

function fail(path: string, message: string): never {
  throw new TaggedJsonError(`${where(path)}: ${message}`);
}

function expectString(v: Json | undefined, path: string, tag: string): string {
  if (typeof v !== 'string') fail(path, `a "${tag}" tag needs a string "v"`);
  return v;
}

function expectArray(v: Json | undefined, path: string, tag: string): Json[] {
  if (!Array.isArray(v)) fail(path, `a "${tag}" tag needs an array "v"`);
  return v;
}

function decodeBase64(text: string, path: string, tag: string): Buffer {
  // Buffer.from(…, 'base64') skips what it does not understand; insist on canonical base64.
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) fail(path, `a "${tag}" tag needs canonical base64 in "v"`);
  return bytes;
}

/** An object built from decoded entries as own data properties (a `"__proto__"` key stays a key, and `put` then refuses it). */
function objectFrom(json: { [key: string]: Json }, path: string): Record<string, unknown> {
  return Object.fromEntries(Object.keys(json).map((k) => [k, fromTagged(json[k]!, `${path}.${k}`)]));
}

/**
 * Decodes tagged JSON made by {@link toTagged} back into the value. Strict:
 * an unknown tag, a malformed tag object or non-canonical base64 is a
 * {@link TaggedJsonError} naming where in the value it is.
 */
export function fromTagged(json: Json, path = ''): unknown {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map((item, i) => fromTagged(item, `${path}[${i}]`));
  if (!Object.hasOwn(json, TAG)) return objectFrom(json, path);
  const tag = json[TAG];
  const extra = Object.keys(json).filter((k) => k !== TAG && k !== 'v');
  if (extra.length > 0) fail(path, `a tagged value has only "${TAG}" and "v", not ${extra.map((k) => JSON.stringify(k)).join(', ')}`);
  const v = json['v'];
  switch (tag) {
    case 'undefined':
      if (v !== undefined) fail(path, 'an "undefined" tag has no "v"');
      return undefined;
    case 'number': {
      const text = expectString(v, path, tag);
      if (!Object.hasOwn(NUMBERS, text)) fail(path, `a "number" tag holds "NaN", "Infinity", "-Infinity" or "-0", not ${JSON.stringify(text)}`);
      return NUMBERS[text];
    }
    case 'bigint': {
      const text = expectString(v, path, tag);
      if (!/^-?(0|[1-9]\d*)$/.test(text)) fail(path, `a "bigint" tag needs a decimal integer string, not ${JSON.stringify(text)}`);
      return BigInt(text);
    }
    case 'Date': {
      if (v === null) return new Date(Number.NaN);
      const text = expectString(v, path, tag);
      const date = new Date(text);
      if (Number.isNaN(date.getTime()) || date.toISOString() !== text) fail(path, `a "Date" tag needs an ISO 8601 string as toISOString() writes it (or null), not ${JSON.stringify(text)}`);
      return date;
    }
    case 'Map':
      return new Map(
        expectArray(v, path, tag).map((pair, i) => {
          if (!Array.isArray(pair) || pair.length !== 2) fail(`${path}<entry ${i}>`, 'a "Map" tag needs [key, value] pairs');
          return [fromTagged(pair[0]!, `${path}<key ${i}>`), fromTagged(pair[1]!, `${path}<value ${i}>`)];
        }),
      );
    case 'Set':
      return new Set(expectArray(v, path, tag).map((item, i) => fromTagged(item, `${path}<item ${i}>`)));
    case 'object':
      if (v === undefined || !isPlainJsonObject(v)) fail(path, 'an "object" tag needs an object "v"');
      return objectFrom(v, path);
    case 'Buffer':
      return decodeBase64(expectString(v, path, tag), path, tag);
    default: {
      if (typeof tag !== 'string' || !Object.hasOwn(TYPED_ARRAYS, tag)) fail(path, `unknown tag ${JSON.stringify(tag)}`);
      const bytes = decodeBase64(expectString(v, path, tag), path, tag);
      const ctor = TYPED_ARRAYS[tag as TypedArrayTag];
      if (bytes.byteLength % ctor.BYTES_PER_ELEMENT !== 0) fail(path, `${bytes.byteLength} bytes are not a whole number of ${tag} elements`);
      // Copy into a fresh, aligned buffer: Buffer.from may return a view into a shared pool.
      const buffer = new ArrayBuffer(bytes.byteLength);
      new Uint8Array(buffer).set(bytes);
      return new ctor(buffer);
    }
  }
}
