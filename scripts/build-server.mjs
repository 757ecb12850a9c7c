// Bundles the custom server entry (server.ts + lib/) into dist/server.mjs and
// the admin command (cli.ts) into dist/cli.mjs, then completes Next's
// `.next/standalone` with them (scripts/standalone.mjs): the tree the image runs.
// Packages stay external: they are resolved from node_modules at run time.
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { assembleStandalone } from './standalone.mjs';

const root = path.dirname(import.meta.dirname);
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  // The oldest Node in package.json `engines` (^20.19.0 || ^24.11.0).
  target: 'node20.19',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  absWorkingDir: root,
};
await build({ ...common, entryPoints: ['server.ts'], outfile: 'dist/server.mjs' });
await build({ ...common, entryPoints: ['cli.ts'], outfile: 'dist/cli.mjs' });
if (fs.existsSync(path.join(root, '.next/standalone'))) await assembleStandalone(root);
