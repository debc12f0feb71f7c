export * from './errors.js';
export * from './types.js';
export * from './clock.js';
export * from './codec.js';
export * from './schemas.js';
export * from './validate.js';
export type * from './file-system.js';
export * from './gather.js';
export * from './queue-trim.js';
