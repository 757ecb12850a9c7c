import { handleKubeconfigDownload } from '@/lib/portal/downloads';

export const POST = (req: Request) => handleKubeconfigDownload(req);
