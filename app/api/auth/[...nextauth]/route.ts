import { canonicalRequest } from '@/lib/auth/canonical-request';
import { handlers } from '@/lib/auth/next-auth';
import { getRuntime } from '@/lib/runtime-global';

// Auth.js sees every request at the issuer URL: one redirect_uri, always.
export async function GET(req: Request) {
  return handlers.GET(canonicalRequest(req, (await getRuntime()).config.issuer.url) as never);
}

export async function POST(req: Request) {
  return handlers.POST(canonicalRequest(req, (await getRuntime()).config.issuer.url) as never);
}
