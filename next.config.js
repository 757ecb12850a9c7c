/** @type {import('next').NextConfig} */
const nextConfig = {
  poweredByHeader: false,
  reactStrictMode: true,
  // Native and server-only packages stay out of the bundles.
  serverExternalPackages: ['better-sqlite3', 'pg', 'kysely', 'bcryptjs'],
  typescript: { ignoreBuildErrors: false },
};

export default nextConfig;
