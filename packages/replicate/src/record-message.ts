import { CorruptionError, type CommitRecord, type Version } from '@epochdb/core';
import { encodeFrame, scanFrames } from '@epochdb/persist';
import { headers, type MsgHdrs } from 'nats';

/** Header naming the newest version a message carries (also its `Nats-Msg-Id`). */
export const VERSION_HEADER = 'Epochdb-Version';
/** Header naming the oldest version a message carries. */
export const FIRST_VERSION_HEADER = 'Epochdb-First-Version';
/** Header naming the primary instance that published a message. */
export const PRIMARY_HEADER = 'Epochdb-Primary';

/** Most commit records one stream message carries. */
export const MAX_RECORDS_PER_MESSAGE = 256;
/** Most bytes of frames one stream message carries (NATS' default max_payload is 1 MiB); a larger single record goes alone. */
export const MAX_MESSAGE_BYTES = 512 * 1024;

/** One stream message: consecutive commit records as the WAL's checksummed frames, and headers. */
export interface RecordMessage {
  readonly first: Version;
  readonly last: Version;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs;
}

/** Packs consecutive `records` into stream messages, in order: a group of commits per message. */
export function encodeRecordMessages(records: readonly CommitRecord[], primary: string): RecordMessage[] {
  const messages: RecordMessage[] = [];
  let frames: Buffer[] = [];
  let bytes = 0;
  let first = 0;
  const flush = (): void => {
    const last = records[first + frames.length - 1]!.version;
    const h = headers();
    h.set(VERSION_HEADER, String(last));
    h.set(FIRST_VERSION_HEADER, String(records[first]!.version));
    h.set(PRIMARY_HEADER, primary);
    messages.push({ first: records[first]!.version, last, data: Buffer.concat(frames, bytes), headers: h });
    first += frames.length;
    frames = [];
    bytes = 0;
  };
  for (const record of records) {
    const frame = encodeFrame(record);
    if (frames.length > 0 && (frames.length >= MAX_RECORDS_PER_MESSAGE || bytes + frame.byteLength > MAX_MESSAGE_BYTES)) flush();
    frames.push(frame);
    bytes += frame.byteLength;
  }
  if (frames.length > 0) flush();
  return messages;
}

/** Reads back the commit records of a stream message; damage is a {@link CorruptionError} naming the stream sequence. */
export function decodeRecordMessage(data: Uint8Array, seq: number): CommitRecord[] {
  const scan = scanFrames(Buffer.from(data.buffer, data.byteOffset, data.byteLength), 0);
  if (scan.records.length === 0 || scan.damage !== undefined || scan.records.some((r, i) => i > 0 && r.version !== scan.records[i - 1]!.version + 1)) {
    throw new CorruptionError(`replication stream message ${seq} is not a run of valid consecutive commit records`, { file: `stream sequence ${seq}`, offset: scan.damage?.offset ?? 0, lastGoodVersion: 0 });
  }
  return scan.records;
}

/** The newest version in a message's headers (0 if it has none). */
export function messageVersion(h: MsgHdrs | undefined): Version {
  return headerVersion(h, VERSION_HEADER);
}

/** The oldest version in a message's headers. */
export function messageFirstVersion(h: MsgHdrs | undefined): Version {
  return headerVersion(h, FIRST_VERSION_HEADER) || messageVersion(h);
}

function headerVersion(h: MsgHdrs | undefined, name: string): Version {
  const value = Number(h?.get(name));
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}
