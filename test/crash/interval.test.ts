// Real crash tests: a child process writes under sync 'interval' and is killed with
// SIGKILL at random moments; every reopen must hold every acknowledged commit,
// nothing partial, and versions that continue. See harness.ts and writer.mjs.
import { describe, it } from 'vitest';
import { crashSuite } from './harness.js';

describe("crash recovery after SIGKILL, sync 'interval'", () => {
  crashSuite('interval', it);
});
