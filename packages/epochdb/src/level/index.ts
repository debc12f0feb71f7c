export { EpochLevel } from './epoch-level.js';
export type { EpochLevelOptions } from './epoch-level.js';
export { EpochLevelIterator, EpochLevelSnapshot } from './epoch-level-iterator.js';
export { fromStoredKey, fromStoredValue, toStoredKey, toStoredValue } from './key-mapping.js';
export type { LevelData, LevelFormat } from './key-mapping.js';
