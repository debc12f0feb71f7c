// The scale benchmark's child runner: whatever a child does (dies at V8's heap limit,
// exits without a result, throws, hangs), the harness gets a result naming the last
// phase and the stderr tail, and the child's scratch directory is gone. Real child
// processes, running a fixture workload.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { deathCause, runIsolated, tailLines } from '../../bench/lib/isolate.mjs';

const fixture = pathToFileURL(new URL('./fixtures/dying-workload.mjs', import.meta.url).pathname).href;

async function run(how: string, { abortAt }: { abortAt?: string } = {}) {
  const phases: string[] = [];
  const abort = new AbortController();
  const onPhase = (p: string) => { phases.push(p); if (p === abortAt) abort.abort(); };
  const result = await runIsolated({ workload: 'fixture', module: fixture, engine: 'msgpack', params: { how }, n: 10 }, { signal: abort.signal, onPhase });
  const dir = phases.find((p) => p.startsWith('dir '))?.slice(4);
  return { result, phases, dir };
}

describe('runIsolated', () => {
  it('returns the rows of a child that finishes, run with --expose-gc and no other flags', async () => {
    const { result, phases, dir } = await run('ok');
    expect(result.status).toBe('ok');
    expect(result.rows).toEqual({ answer: 42, gc: 'function', execArgv: ['--expose-gc'] });
    expect(phases.at(-1)).toBe('close');
    expect(dir && existsSync(dir)).toBe(false);
  });

  it('reports a child that dies at the V8 heap limit as died, with its last phase and stderr tail', async () => {
    const { result, dir } = await run('heap');
    expect(result.status).toBe('died');
    expect(result.error).toBe('V8 heap limit (out of memory)');
    expect(result.phase).toBe('load 300000/1000000');
    expect(result.exit).toBe('SIGABRT');
    expect(result.stderrTail).toContain('Reached heap limit');
    expect(dir && existsSync(dir)).toBe(false); // removed by the parent: the child never got to
  });

  it('reports an exit without a result, a throw and a child killed by the harness', async () => {
    const exit = (await run('exit')).result;
    expect([exit.status, exit.error, exit.phase]).toEqual(['died', 'exit code 3 without a result', 'load 300000/1000000']);
    const thrown = (await run('throw')).result;
    expect(thrown.status).toBe('failed');
    expect(thrown.error).toContain('RangeError: Invalid array length');
    const hung = await run('hang', { abortAt: 'load 300000/1000000' });
    expect([hung.result.status, hung.result.phase]).toEqual(['aborted', 'load 300000/1000000']);
    expect(hung.dir && existsSync(hung.dir)).toBe(false);
  });

  it('names the cause from the exit and stderr, and keeps the last lines', () => {
    expect(deathCause({ code: null, signal: 'SIGKILL', stderr: '' })).toMatch(/OOM killer/);
    expect(deathCause({ code: 134, signal: null, stderr: 'FATAL ERROR: JavaScript heap out of memory' })).toMatch(/heap limit/);
    expect(deathCause({ code: null, signal: 'SIGSEGV', stderr: '' })).toBe('signal SIGSEGV');
    expect(tailLines('a\n\nb\nc\n', 2)).toBe('b\nc');
  });
});
