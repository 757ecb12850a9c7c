// `npm start`: runs the production build, with a clear message when there is none.
import fs from 'node:fs';
import path from 'node:path';

const root = path.dirname(import.meta.dirname);
if (!fs.existsSync(path.join(root, '.next/BUILD_ID')) || !fs.existsSync(path.join(root, 'dist/server.mjs'))) {
  process.stderr.write('kubegate: no production build here. Run `npm run build` first (or `npm run dev`).\n');
  process.exit(1);
}
process.env.NODE_ENV = 'production';
await import(path.join(root, 'dist/server.mjs'));
