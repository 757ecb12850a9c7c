import type { Metadata, Viewport } from 'next';
import { getRuntime } from '@/lib/runtime-global';
import './globals.css';

/** Page titles read "<page> · <branding.title>". */
export async function generateMetadata(): Promise<Metadata> {
  const { title } = (await getRuntime()).config.branding;
  return {
    title: { default: title, template: `%s · ${title}` },
    description: 'Sign in and get kubectl access to your clusters',
    robots: { index: false, follow: false },
  };
}

export const viewport: Viewport = {
  colorScheme: 'light dark',
  themeColor: [
    { media: '(prefers-color-scheme: light)', color: '#f8fafc' },
    { media: '(prefers-color-scheme: dark)', color: '#020617' },
  ],
};

// Every page is per-person and carries a CSP nonce: nothing is prerendered.
export const dynamic = 'force-dynamic';

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-screen bg-slate-50 text-slate-900 antialiased dark:bg-slate-950 dark:text-slate-100">
        {children}
      </body>
    </html>
  );
}
