// Bundles the custom server entry (server.ts + lib/) into dist/server.mjs and
// the admin command (cli.ts) into dist/cli.mjs.
// Packages stay external: they are resolved from node_modules at run time.
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
};
await build({ ...common, entryPoints: ['server.ts'], outfile: 'dist/server.mjs' });
await build({ ...common, entryPoints: ['cli.ts'], outfile: 'dist/cli.mjs' });
