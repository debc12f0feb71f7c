import { parseArgument, scanOptionsSchema } from '@epochdb/core';
import { KeyRange, type ScanOptions } from './key-range.js';

const STRING_OPTIONS: ReadonlySet<string> = new Set(['prefix', 'gt', 'gte', 'lt', 'lte']);

/**
 * Whether `options` certainly passes `scanOptionsSchema`. Scans are a hot
 * path and a zod parse costs about as much as reading ten entries, so
 * well-formed options skip it; anything else goes through zod, which also
 * words the error.
 */
function isPlainValid(options: unknown): options is ScanOptions {
  if (typeof options !== 'object' || options === null || Object.getPrototypeOf(options) !== Object.prototype) return false;
  const o = options as Record<string, unknown>;
  for (const name of Object.keys(o)) {
    const value = o[name];
    if (value === undefined) continue;
    if (STRING_OPTIONS.has(name)) {
      if (typeof value !== 'string') return false;
    } else if (name === 'reverse') {
      if (typeof value !== 'boolean') return false;
    } else if (name === 'limit') {
      if (!Number.isInteger(value) || (value as number) < 0) return false;
    } else {
      return false;
    }
  }
  return !(o.gt !== undefined && o.gte !== undefined) && !(o.lt !== undefined && o.lte !== undefined);
}

/** Validates scan options (see `scanOptionsSchema`) into a {@link KeyRange}. */
export function parseScanOptions(options: ScanOptions | undefined, what: string): KeyRange {
  if (options === undefined) return new KeyRange();
  return new KeyRange(isPlainValid(options) ? options : parseArgument(scanOptionsSchema, options, what));
}
