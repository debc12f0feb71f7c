/** A small seeded PRNG (mulberry32), shared with the crash tests' child script: see prng.mjs. */
export { prng } from './prng.mjs';
