import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string, entry = 'index'): string => fileURLToPath(new URL(`./packages/${pkg}/src/${entry}.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources so coverage maps to packages/*/src.
    alias: {
      '@epochdb/core': src('core'),
      '@epochdb/store': src('store'),
      '@epochdb/persist': src('persist'),
      '@epochdb/workers': src('workers'),
      // Subpath exports before the package itself: an alias also matches as a path prefix.
      '@epochdb/replicate/api': src('replicate', 'api'),
      '@epochdb/replicate': src('replicate'),
      // Subpath exports before the package itself: an alias also matches as a path prefix.
      'epochdb/level': src('epochdb', 'level/index'),
      'epochdb/keyv': src('epochdb', 'keyv/index'),
      epochdb: src('epochdb'),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    coverage: {
      provider: 'v8',
      include: ['packages/*/src/**/*.ts'],
      exclude: ['packages/*/src/index.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: { lines: 90, branches: 85 },
    },
  },
});
