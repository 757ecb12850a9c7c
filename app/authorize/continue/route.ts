import { handleAuthorizeContinue } from '@/lib/portal/authorize-continue';

// The portal half of GET /oidc/authorize (lib/oidc/authorize.ts).
export const GET = (req: Request) => handleAuthorizeContinue(req);
