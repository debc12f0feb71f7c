import { InvalidValueError } from '@epochdb/core';

/** A value a secondary index is keyed by: strings and finite numbers (ordered: all numbers before all strings). */
export type IndexKey = string | number;

/**
 * Encodes an index key as a string whose code-unit order is the key's order:
 * numbers as `n` + 16 hex digits of their IEEE-754 bits, flipped so that
 * negatives sort before positives; strings as `s` + the string.
 */
export function encodeIndexKey(key: IndexKey, what: string): string {
  if (typeof key === 'string') {
    if (!key.isWellFormed()) throw new InvalidValueError(`${what}: index key ${JSON.stringify(key)} contains a lone surrogate`);
    return `s${key}`;
  }
  if (typeof key === 'number' && Number.isFinite(key)) {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, key === 0 ? 0 : key); // -0 and 0 are one key
    let high = view.getUint32(0);
    let low = view.getUint32(4);
    if (high & 0x80000000) {
      high = ~high >>> 0;
      low = ~low >>> 0;
    } else {
      high = (high | 0x80000000) >>> 0;
    }
    return `n${high.toString(16).padStart(8, '0')}${low.toString(16).padStart(8, '0')}`;
  }
  throw new InvalidValueError(`${what}: an index key must be a string or a finite number, got ${typeof key === 'number' ? String(key) : typeof key}`);
}

/**
 * The index keys an index function returned for a value: none for
 * `undefined`, one, or several (an array, duplicates removed), each encoded.
 */
export function indexKeysOf(result: unknown, what: string): string[] {
  if (result === undefined) return [];
  if (Array.isArray(result)) return [...new Set(result.map((k) => encodeIndexKey(k as IndexKey, what)))];
  return [encodeIndexKey(result as IndexKey, what)];
}
