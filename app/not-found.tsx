import Link from 'next/link';

export default function NotFound() {
  return (
    <main className="flex min-h-screen flex-col items-center justify-center gap-4 px-4 text-center">
      <h1 className="text-2xl font-semibold">Not found</h1>
      <p className="text-sm text-slate-600 dark:text-slate-400">There is nothing here, or it is not open to you.</p>
      <Link href="/" className="text-indigo-700 hover:underline dark:text-indigo-300">
        Back to your clusters
      </Link>
    </main>
  );
}
