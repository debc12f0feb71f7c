import { parseArgument, scanOptionsSchema } from '@epochdb/core';
import { KeyRange, type ScanOptions } from './key-range.js';

/** Validates scan options (see `scanOptionsSchema`) into a {@link KeyRange}. */
export function parseScanOptions(options: ScanOptions | undefined, what: string): KeyRange {
  return options === undefined ? new KeyRange() : new KeyRange(parseArgument(scanOptionsSchema, options, what));
}
