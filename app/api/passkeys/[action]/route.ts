import { servePasskeyRequest } from '@/lib/portal/passkeys';

/** Passkey ceremonies (lib/mfa/passkey-endpoint.ts): options and verification, JSON over POST. */
export const POST = async (req: Request, { params }: { params: Promise<{ action: string }> }) => servePasskeyRequest(req, (await params).action);
