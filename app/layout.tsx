import type { Metadata } from 'next';
import './globals.css';

export const metadata: Metadata = { title: 'Kubegate', description: 'Sign in and get kubectl access' };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
