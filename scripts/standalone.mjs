// Completes Next's `.next/standalone` (next.config.js `output: 'standalone'`) into the tree the container
// image runs: Kubegate's own entry (dist/server.mjs, dist/cli.mjs and the scripts that start them) and every
// file those bundles load from node_modules at run time, traced with the tracer Next itself uses.
//
// Result (.next/standalone):
//   .next/            server files, manifests, BUILD_ID (Next)
//   node_modules/     what Next's server traced, plus what dist/*.mjs import (esbuild keeps packages external)
//   dist/             server.mjs, cli.mjs
//   scripts/          start.mjs, kubegate.mjs
//   package.json
// `.next/static` and `public` stay beside it: the Dockerfile copies them in, as Next documents for standalone.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

/** Packages the bundles reach only on paths Kubegate never takes (pg's optional native binding, Cloudflare's socket API). */
const OPTIONAL = [/"pg-native"/, /"cloudflare:sockets"/];

/** Top-level entries Next writes that stay; the rest is dropped (see below). */
const FROM_NEXT = new Set(['.next', 'node_modules']);

export async function assembleStandalone(root, { log = (line) => process.stderr.write(line + '\n') } = {}) {
  const out = path.join(root, '.next', 'standalone');
  if (!fs.existsSync(path.join(out, '.next', 'BUILD_ID'))) throw new Error(`no standalone output in ${out}: is output: 'standalone' set in next.config.js?`);

  // lib/ resolves the config file against process.cwd(), which the tracer cannot follow, so Next copies the
  // whole project folder (sources, tests, README) into the tree. None of it runs; its server.js neither
  // (Kubegate has its own entry). Turbopack builds do not apply outputFileTracingExcludes, so it goes here.
  for (const entry of fs.readdirSync(out)) {
    if (!FROM_NEXT.has(entry)) fs.rmSync(path.join(out, entry), { recursive: true, force: true });
  }

  const entries = ['dist/server.mjs', 'dist/cli.mjs', 'scripts/start.mjs', 'scripts/kubegate.mjs'];
  for (const file of entries) copyFile(root, out, file);
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  fs.writeFileSync(
    path.join(out, 'package.json'),
    JSON.stringify({ name: pkg.name, version: pkg.version, private: true, license: pkg.license, type: pkg.type, engines: pkg.engines }, null, 2) + '\n',
  );

  // Next's own package (and what only it loads: react, react-dom, sharp…) is in Next's trace already; tracing it
  // again from `import('next')` would take in its dev server and compiler (some 140 MB).
  const { nodeFileTrace } = createRequire(path.join(root, 'package.json'))('next/dist/compiled/@vercel/nft');
  const traced = await nodeFileTrace(['dist/server.mjs', 'dist/cli.mjs'], {
    base: root,
    processCwd: root,
    ignore: (file) => file.startsWith('node_modules/next/'),
  });
  for (const warning of traced.warnings) {
    const text = String(warning);
    if (!OPTIONAL.some((re) => re.test(text))) log(`standalone: ${text.split('\n')[0]}`);
  }
  let copied = 0;
  for (const file of traced.fileList) {
    if (!file.startsWith('node_modules/')) continue; // Kubegate's own code is in the bundles
    copyFile(root, out, file);
    copied++;
  }
  log(`standalone: ${path.relative(root, out)} ready (${copied} files from node_modules for dist/server.mjs and dist/cli.mjs)`);
  return out;
}

/** Copies root/file to out/file (replacing it: a rebuilt bundle wins); a symlink stays a symlink. Says whether it was new. */
function copyFile(root, out, file) {
  const from = path.join(root, file);
  const to = path.join(out, file);
  const existed = fs.existsSync(to);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  const stat = fs.lstatSync(from);
  if (stat.isSymbolicLink()) {
    fs.rmSync(to, { force: true });
    fs.symlinkSync(fs.readlinkSync(from), to);
  } else if (stat.isFile()) {
    fs.copyFileSync(from, to);
  } else {
    return false;
  }
  return !existed;
}
