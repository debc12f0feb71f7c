#!/usr/bin/env node
/**
 * The `epochdb` executable: runs the command line on this process's
 * arguments and ends with its exit code (see docs/cli.md).
 */
import { processIo } from './io.js';
import { runCli } from './program.js';

// `epochdb scan … | head` closes the pipe early: stop quietly, as other tools do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await runCli(process.argv.slice(2), processIo());
