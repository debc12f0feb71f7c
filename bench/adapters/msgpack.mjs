// Placeholder engine for the reopen workload's msgpack-decode baseline (the workload does the work).
export const kind = 'msgpack';
export async function create() { return {}; }
