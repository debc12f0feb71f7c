// maintenance: event-loop delay while a checkpoint and a mass expiry run in the background.
// It needs its own two-phase harness (a baseline process and a maintenance process, each loading
// a persistent database), so it lives in bench/maintenance.mjs: `pnpm bench:maintenance`.
export const title = 'maintenance: event-loop delay during checkpoint + TTL expiry';
export const skip = 'run on its own: pnpm bench:maintenance [--n 1000000] (figures in BENCHMARKS.md and the README)';
export const cases = () => [];
