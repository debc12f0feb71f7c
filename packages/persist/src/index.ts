export { CLOSE_CHECKPOINT_FREE_BYTES, CLOSE_CHECKPOINT_WAL_SHARE, closingCheckpointWorthIt, Persistence, writeBackup } from './persistence.js';
export type { PersistenceOptions, PersistenceStats } from './persistence.js';
export { recover } from './recovery.js';
export {
  assertNotForeign,
  checkMarker,
  checkpointName,
  parseCheckpointName,
  segmentName,
  parseSegmentName,
  listSegments,
  listCheckpoints,
  DirectoryListing,
  MARKER_FILE,
  LOCK_FILE,
  DAMAGED_DIR,
  DIRECTORY_FORMAT_VERSION,
} from './directory-layout.js';
export type { CheckpointFile, SegmentFile } from './directory-layout.js';
export type { Recovered, RecoverOptions } from './recovery.js';
export { WalWriter } from './wal-writer.js';
export type { WalWriterOptions } from './wal-writer.js';
export { writeCheckpoint, readCheckpoint, readCheckpointForLoad, CHECKPOINT_FORMAT_VERSION } from './checkpoint-file.js';
export { encodeChunk, decodeChunk, entriesOf } from './checkpoint-chunk.js';
export type { CheckpointWritten, CheckpointContents, CheckpointEntries } from './checkpoint-file.js';
export { encodeFrame, scanFrames, encodeSegmentHeader, checkSegmentHeader, WAL_FORMAT_VERSION, WAL_HEADER_BYTES } from './wal-format.js';
export { DirectoryLock } from './dir-lock.js';
export { nodeFileSystem } from './file-system.js';
export type { FileSystem, FileHandle } from './file-system.js';
export { checksum } from './checksum.js';
export { verifyDirectory } from './verify.js';
export type { VerifyReport, FileReport } from './verify.js';
export { buildCheckpoint } from './checkpoint-build.js';
export type { CheckpointPlan } from './checkpoint-build.js';
export { readWalHistory } from './wal-history.js';
export { recoverReadOnly, WalTail } from './wal-tail.js';
export type { TailRead } from './wal-tail.js';
export type { WalPosition } from './recovery.js';
