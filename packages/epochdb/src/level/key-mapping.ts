import { Buffer } from 'node:buffer';

/** The storage formats abstract-level hands to a backend that declares them all. */
export type LevelFormat = 'utf8' | 'buffer' | 'view';

/** Level data that EpochDB stores as it is: a string (`utf8`) or bytes (`buffer`, `view`). */
export type LevelData = string | Uint8Array;

const ASCII = /^[\x00-\x7f]*$/;

/**
 * Maps a Level key onto an EpochDB key: `prefix` followed by one character
 * per byte of the key, U+0000 to U+00FF (latin1). EpochDB orders keys by
 * UTF-16 code units, and for such characters that is exactly byte order, so
 * ranges and iteration keep Level's byte order. A `utf8` key is mapped
 * through its UTF-8 bytes: an ASCII key is stored as it is (no copy), any
 * other costs one UTF-8 encode.
 */
export function toStoredKey(prefix: string, key: LevelData): string {
  if (typeof key === 'string') {
    return ASCII.test(key) ? prefix + key : prefix + Buffer.from(key, 'utf8').toString('latin1');
  }
  return prefix + bytesOf(key).toString('latin1');
}

/** The Level key of a stored key (the inverse of {@link toStoredKey}), in `format`. */
export function fromStoredKey(prefix: string, stored: string, format: LevelFormat): LevelData {
  const latin1 = stored.slice(prefix.length);
  if (format === 'utf8') return ASCII.test(latin1) ? latin1 : Buffer.from(latin1, 'latin1').toString('utf8');
  const bytes = Buffer.from(latin1, 'latin1');
  return format === 'buffer' ? bytes : asView(bytes);
}

/**
 * What EpochDB stores for a Level value: a `utf8` value stays a string, so
 * `db.get()` and the CLI read it as text; bytes are stored as bytes.
 */
export function toStoredValue(value: LevelData): LevelData {
  return typeof value === 'string' ? value : asView(bytesOf(value));
}

/**
 * A stored value in the `format` asked for. Values written by other EpochDB
 * code (numbers, objects) read as their JSON text.
 */
export function fromStoredValue(stored: unknown, format: LevelFormat): LevelData {
  if (typeof stored === 'string') {
    if (format === 'utf8') return stored;
    const bytes = Buffer.from(stored, 'utf8');
    return format === 'buffer' ? bytes : asView(bytes);
  }
  if (stored instanceof Uint8Array) {
    const bytes = bytesOf(stored);
    if (format === 'utf8') return bytes.toString('utf8');
    return format === 'buffer' ? bytes : asView(bytes);
  }
  return fromStoredValue(JSON.stringify(stored) ?? '', format);
}

/** A Buffer over the same memory (no copy). */
function bytesOf(view: Uint8Array): Buffer {
  return Buffer.isBuffer(view) ? view : Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** A plain Uint8Array over the same memory (abstract-level's `view` format is not a Buffer). */
function asView(bytes: Uint8Array): Uint8Array {
  return Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes;
}
