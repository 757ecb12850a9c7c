import { handleKubeconfigDownload } from '@/lib/portal/downloads';

export async function POST(req: Request, { params }: { params: Promise<{ name: string }> }) {
  return handleKubeconfigDownload(req, (await params).name);
}
