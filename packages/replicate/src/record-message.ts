import { CorruptionError, type CommitRecord, type Version } from '@epochdb/core';
import { encodeFrame, scanFrames } from '@epochdb/persist';
import { headers, type MsgHdrs } from 'nats';

/** Header naming the version a message carries (also its `Nats-Msg-Id`). */
export const VERSION_HEADER = 'Epochdb-Version';
/** Header naming the primary instance that published a message. */
export const PRIMARY_HEADER = 'Epochdb-Primary';

/** A commit record as a stream message: the WAL's checksummed frame, and headers. */
export function encodeRecordMessage(record: CommitRecord, primary: string): { data: Uint8Array; headers: MsgHdrs } {
  const h = headers();
  h.set(VERSION_HEADER, String(record.version));
  h.set(PRIMARY_HEADER, primary);
  return { data: encodeFrame(record), headers: h };
}

/** Reads back a commit record from a stream message; damage is a {@link CorruptionError} naming the stream sequence. */
export function decodeRecordMessage(data: Uint8Array, seq: number): CommitRecord {
  const scan = scanFrames(Buffer.from(data.buffer, data.byteOffset, data.byteLength), 0);
  if (scan.records.length !== 1 || scan.damage !== undefined) {
    throw new CorruptionError(`replication stream message ${seq} is not one valid commit record`, { file: `stream sequence ${seq}`, offset: 0, lastGoodVersion: 0 });
  }
  return scan.records[0]!;
}

/** The version in a message's headers (0 if it has none). */
export function messageVersion(h: MsgHdrs | undefined): Version {
  const value = Number(h?.get(VERSION_HEADER));
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}
