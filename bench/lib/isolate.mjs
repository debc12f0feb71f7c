// Runs one (workload, engine, N) job in a fresh child process (bench/lib/child.mjs)
// with default node flags plus --expose-gc, and turns whatever happens to it into a
// result: the child's own result message, or "died" (V8 heap limit, a signal, a
// nonzero exit with no result) with the last phase it reported and the tail of its
// stderr, or "timed out". Never throws for anything the child does.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const childScript = join(dirname(fileURLToPath(import.meta.url)), 'child.mjs');

/** How much of a child's stderr is kept for the report. */
export const STDERR_TAIL_BYTES = 4096;

/** Why a child ended without a result, from its exit and its stderr (pure). */
export function deathCause({ code, signal, stderr }) {
  if (/Reached heap limit|JavaScript heap out of memory|Allocation failed/.test(stderr)) return 'V8 heap limit (out of memory)';
  if (signal === 'SIGKILL') return 'killed (SIGKILL: e.g. the kernel OOM killer)';
  if (signal) return `signal ${signal}`;
  return `exit code ${code} without a result`;
}

/** The last `lines` non-empty lines of `text`. */
export function tailLines(text, lines = 12) {
  return text.split('\n').map((l) => l.trimEnd()).filter(Boolean).slice(-lines).join('\n');
}

/**
 * Forks bench/lib/child.mjs for `job`; resolves to the child's result, or to
 * `{ status: 'died' | 'timed out' | 'aborted', error, phase, stderrTail }`.
 * `onPhase(text)` sees each phase the child reports; `signal` (an AbortSignal) kills
 * the child early. The scratch directory is made and removed here, so a child that
 * dies leaves nothing behind.
 */
export function runIsolated(job, { timeoutMs, signal: abortSignal, onPhase = () => {}, forwardStderr = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), `epochdb-scale-${job.workload}-`));
  // Default node flags: no inherited execArgv and no NODE_OPTIONS (--expose-gc only, for the forced GC).
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const started = performance.now();
  return new Promise((resolve) => {
    const child = fork(childScript, [JSON.stringify({ ...job, dir })], { execArgv: ['--expose-gc'], env, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    let result;
    let phase = 'starting';
    let stderr = '';
    let stopped; // why the parent killed the child: 'timed out' or 'aborted'
    child.stderr.on('data', (chunk) => {
      if (forwardStderr) process.stderr.write(chunk);
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    child.on('message', (m) => {
      if (m?.type === 'phase') { phase = m.phase; onPhase(m.phase); } else result ??= m;
    });
    const stop = (why) => { stopped ??= why; child.kill('SIGKILL'); };
    const timer = timeoutMs ? setTimeout(() => stop('timed out'), timeoutMs) : undefined;
    const onAbort = () => stop('aborted');
    if (abortSignal?.aborted) onAbort(); else abortSignal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => { stderr += `\n${e.stack ?? e}`; });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      abortSignal?.removeEventListener('abort', onAbort);
      rmSync(dir, { recursive: true, force: true });
      const seconds = (performance.now() - started) / 1000;
      if (stopped) return resolve({ status: stopped, error: stopped === 'timed out' ? `timed out after ${Math.round(timeoutMs / 1000)} s` : 'aborted by the harness', phase, seconds, stderrTail: tailLines(stderr) });
      if (result) return resolve({ ...result, phase, seconds, ...(result.status === 'ok' ? {} : { stderrTail: tailLines(stderr) }) });
      resolve({ status: 'died', error: deathCause({ code, signal, stderr }), phase, seconds, exit: signal ?? code, stderrTail: tailLines(stderr) });
    });
  });
}
