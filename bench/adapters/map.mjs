// A plain Map: the unordered in-memory limit (no scans).
export const kind = 'map';

export async function create() {
  const map = new Map();
  return {
    map,
    asyncReads: false,
    async load(keys, values) { for (let i = 0; i < keys.length; i++) map.set(keys[i], values[i]); },
    get: (key) => map.get(key),
    scan: null, // unordered
    put(key, value) { map.set(key, value); return Promise.resolve(); },
    async close() { map.clear(); },
  };
}
