#!/usr/bin/env node
// The `epochdb` executable. A committed file (not the build output) so that
// package managers can link it at install time, before anything is built; it
// runs the built command line in dist/ (see docs/cli.md).
const main = new URL('../dist/cli/main.js', import.meta.url);
try {
  await import(main.href);
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/cli/main.js')) {
    process.stderr.write('epochdb: the command line is not built yet: run `npx tsc -b` (or `npx -y pnpm@10 build`) in the repository first\n');
    process.exit(1);
  }
  throw error;
}
