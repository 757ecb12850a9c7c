/** @type {import('next').NextConfig} */
const nextConfig = {
  poweredByHeader: false,
  reactStrictMode: true,
  // The container image carries only what runs: `.next/standalone` holds the server files and the
  // node_modules Next traced; scripts/build-server.mjs adds the custom server (dist/) and what it imports.
  output: 'standalone',
  // Trace from this folder, so the standalone tree is flat (.next/standalone/{.next,node_modules,…}) wherever
  // the checkout lives, even below another folder that has a lockfile.
  outputFileTracingRoot: import.meta.dirname,
  // Native and server-only packages stay out of the bundles.
  serverExternalPackages: ['better-sqlite3', 'kysely', 'bcryptjs'],
  // The build checks the app's own code; `npm run typecheck` checks everything, tests included.
  typescript: { tsconfigPath: 'tsconfig.next.json' },
};

export default nextConfig;
