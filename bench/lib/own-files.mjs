// Reads every checkpoint and WAL file of an EpochDB directory and decodes every chunk/record payload and
// every value nested in them: what recovery must do at least (bench/recovery.mjs, the reopen workload).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeValue, ValueCodec } from '@epochdb/core';
import { decodeChunk } from '@epochdb/persist';

/** Returns how many payloads were decoded. Values decode with the shared structure table (the checkpoint's, grown by the WAL records'). */
export function readAndDecodeOwnFiles(dir) {
  const names = readdirSync(dir)
    .filter((name) => name.endsWith('.ckpt') || name.endsWith('.log'))
    .sort((a, b) => Number(b.endsWith('.ckpt')) - Number(a.endsWith('.ckpt')) || (a < b ? -1 : 1));
  const codec = new ValueCodec();
  let payloads = 0;
  for (const name of names) {
    const checkpoint = name.endsWith('.ckpt');
    const bytes = readFileSync(join(dir, name));
    const end = checkpoint ? bytes.length - 32 : bytes.length;
    let offset = checkpoint ? 24 : 16;
    const format = checkpoint ? bytes.readUInt32LE(8) : 0;
    if (format >= 2) {
      // Format 2: the structure table's frame follows the header.
      const length = bytes.readUInt32LE(offset);
      const table = decodeValue(bytes.subarray(offset + 8, offset + 8 + length));
      if (table.length > codec.size) codec.define({ from: 0, keys: table });
      offset += 8 + length;
    }
    while (offset < end) {
      const length = bytes.readUInt32LE(offset);
      const payload = bytes.subarray(offset + 8, offset + 8 + length);
      if (format >= 3) {
        // Format 3: a binary, columnar chunk; every value decoded from its range of the chunk's value block.
        const chunk = decodeChunk(payload, format);
        for (let i = 0; i < chunk.length; i++) codec.decode(chunk.bytes.subarray(chunk.valueStarts[i], chunk.valueStarts[i + 1]));
        payloads++;
        offset += 8 + length;
        continue;
      }
      const decoded = decodeValue(payload);
      // Checkpoint chunks: [[key, value bytes, ...], ...]; WAL frames: [version, time, [[kind, key, value bytes, ...]], from?, keys?].
      if (!checkpoint && decoded.length === 5) codec.define({ from: decoded[3], keys: decoded[4] });
      for (const row of checkpoint ? decoded : decoded[2]) if (row[2] instanceof Uint8Array) codec.decode(row[2]); else if (row[1] instanceof Uint8Array) codec.decode(row[1]);
      payloads++;
      offset += 8 + length;
    }
  }
  return payloads;
}
