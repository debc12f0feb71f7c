export { EpochKeyv, enableKeyvIterator } from './epoch-keyv.js';
export type { EpochKeyvEntry, EpochKeyvOptions, IterableKeyv } from './epoch-keyv.js';
