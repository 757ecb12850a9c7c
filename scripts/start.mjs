// `npm start`: runs the production build, with a clear message when there is none.
// The same file starts the container image, from the standalone tree (scripts/standalone.mjs).
import fs from 'node:fs';
import path from 'node:path';

const root = path.dirname(import.meta.dirname);
if (!fs.existsSync(path.join(root, '.next/BUILD_ID')) || !fs.existsSync(path.join(root, 'dist/server.mjs'))) {
  process.stderr.write('kubegate: no production build here. Run `npm run build` first (or `npm run dev`).\n');
  process.exit(1);
}
process.env.NODE_ENV = 'production';
// Next reads the config the build resolved (.next/required-server-files.json), as the server.js Next writes into
// the standalone tree does: that tree has no next.config.js, and from a checkout Next would otherwise warn that
// `output: 'standalone'` wants that server.js. Both layouts so run on one config path; edit next.config.js, rebuild.
const serverFiles = path.join(root, '.next/required-server-files.json');
if (fs.existsSync(serverFiles)) {
  process.env.__NEXT_PRIVATE_STANDALONE_CONFIG ??= JSON.stringify(JSON.parse(fs.readFileSync(serverFiles, 'utf8')).config);
}
if (!fs.existsSync(path.join(root, 'next.config.js')) && !fs.existsSync(path.join(root, '.next/static'))) {
  process.stderr.write(`kubegate: ${path.join(root, '.next/static')} is missing: pages will load without their scripts and styles (copy .next/static in beside the standalone tree)\n`);
}
await import(path.join(root, 'dist/server.mjs'));
