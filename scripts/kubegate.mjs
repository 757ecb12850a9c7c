// `npm run kubegate -- <command>`: the admin command, from the production build.
import fs from 'node:fs';
import path from 'node:path';

const root = path.dirname(import.meta.dirname);
if (!fs.existsSync(path.join(root, 'dist/cli.mjs'))) {
  process.stderr.write('kubegate: no build here. Run `npm run build` first.\n');
  process.exit(1);
}
await import(path.join(root, 'dist/cli.mjs'));
