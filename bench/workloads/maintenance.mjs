// maintenance: a hook for the worker issue, which will add bench/maintenance (TTL cleaning,
// version GC and checkpoints on worker threads, measured against the main thread).
export const title = 'maintenance: background maintenance cost';
export const skip = 'not implemented yet: the worker issue adds bench/maintenance';
export const cases = () => [];
