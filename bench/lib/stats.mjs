import { Bench } from 'tinybench';

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

export function latencySummary(samples) {
  const s = Float64Array.from(samples).sort();
  return { p50: percentile(s, 0.5), p99: percentile(s, 0.99) };
}

/**
 * Times `fn` with tinybench; each call performs `opsPerCall` operations, so the timer
 * overhead is spread over a block. Returns ops/s and per-call p50/p99 in ms.
 */
export async function tiny(name, fn, { time, opsPerCall = 1, warmupTime = 100 }) {
  const bench = new Bench({ time, warmupTime });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw r.error ?? new Error(`tinybench task ${name}: ${r.state}`);
  return { opsPerSec: (opsPerCall * 1000) / r.period, p50: r.latency.p50 / opsPerCall, p99: r.latency.p99 / opsPerCall, samples: r.latency.samplesCount ?? r.latency.samples?.length };
}

export const ms = (t0) => performance.now() - t0;
