/** The browser's side of the passkey endpoints (lib/mfa/passkey-endpoint.ts), for the passkey-* client components. */
export type PasskeyCall = { ok: true; body: Record<string, unknown> } | { ok: false; message: string };

export async function postPasskey(action: string, payload: Record<string, unknown>): Promise<PasskeyCall> {
  let res: Response;
  try {
    res = await fetch(`/api/passkeys/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    return { ok: false, message: 'Kubegate could not be reached. Check your connection and try again.' };
  }
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) return { ok: false, message: typeof body.message === 'string' ? body.message : `The request failed (${res.status}).` };
  return { ok: true, body };
}

/** What the browser's own refusals mean to a person (WebAuthn §5.1.3/§5.1.4 error names). */
export function browserMessage(err: unknown): string {
  const name = err instanceof Error ? err.name : '';
  if (name === 'NotAllowedError' || name === 'AbortError') return 'The passkey prompt was cancelled or timed out. Try again.';
  if (name === 'InvalidStateError') return 'This authenticator already holds a passkey for your account.';
  if (name === 'SecurityError') return 'This browser refused passkeys for this address (passkeys need https and a domain name).';
  if (name === 'NotSupportedError') return 'This browser or authenticator does not support the passkey Kubegate asked for.';
  return 'The passkey could not be used in this browser.';
}
