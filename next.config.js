/** @type {import('next').NextConfig} */
const nextConfig = {
  poweredByHeader: false,
  reactStrictMode: true,
  // Native and server-only packages stay out of the bundles.
  serverExternalPackages: ['better-sqlite3', 'kysely', 'bcryptjs'],
  // The build checks the app's own code; `npm run typecheck` checks everything, tests included.
  typescript: { tsconfigPath: 'tsconfig.next.json' },
};

export default nextConfig;
