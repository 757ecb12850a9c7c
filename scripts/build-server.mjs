// Bundles the custom server entry (server.ts + lib/) into dist/server.mjs.
// Packages stay external: they are resolved from node_modules at run time.
import { build } from 'esbuild';

await build({
  entryPoints: ['server.ts'],
  outfile: 'dist/server.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
