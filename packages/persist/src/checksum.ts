import { crc32c } from '@node-rs/crc32';

/** CRC-32C (Castagnoli) of `data`, continuing from `previous` when given. */
export function checksum(data: Uint8Array, previous?: number): number {
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return previous === undefined ? crc32c(buffer) : crc32c(buffer, previous);
}
