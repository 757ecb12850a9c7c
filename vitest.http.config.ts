import path from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * HTTP-level suite against the BUILT server (`npm run build` first):
 * test/http/support/global-setup.ts starts `node scripts/start.mjs` once;
 * files run one after another in a single fork (they share that server and
 * the machine has 2 cores).
 */
export default defineConfig({
  resolve: { alias: { '@': path.resolve(import.meta.dirname) } },
  test: {
    include: ['test/http/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['test/http/support/global-setup.ts'],
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
