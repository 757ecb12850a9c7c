'use server';

import { headers } from 'next/headers';
import { notFound, redirect } from 'next/navigation';
import { z } from 'zod';
import { verifyCsrfToken } from '@/lib/auth/csrf';
import { issuedState, type CredentialsState } from '@/lib/portal/cluster-view';
import { credentialDeps, issueClusterCredential, NoAccessError } from '@/lib/portal/credentials';
import { currentPortalSession } from '@/lib/portal/session';

const GetCredentialsForm = z.object({ cluster: z.string().min(1).max(253), csrf: z.string().min(1).max(200) });

const NOT_FROM_PORTAL = 'This request did not come from the Kubegate portal. Reload the page and try again.';

/**
 * "Get credentials" on a cluster page: the one place a page mints. A POST
 * (a server action: Next.js refuses it when Origin is not the portal's host)
 * that also carries the session-bound CSRF token, answered with
 * `Cache-Control: no-store` by Next.js; the tokens travel only in its body.
 * An ended session goes back to sign-in saying so; a cluster that is not
 * the person's answers 404, exactly like one that does not exist.
 */
export async function getCredentialsAction(_previous: CredentialsState, form: FormData): Promise<CredentialsState> {
  const ctx = await currentPortalSession();
  if (!ctx) redirect('/login?error=session_ended');
  const { rt, session, user } = ctx;
  const input = GetCredentialsForm.safeParse({ cluster: form.get('cluster'), csrf: form.get('csrf') });
  if (!input.success || !verifyCsrfToken(rt.authSecret, session.id, input.data.csrf)) return { status: 'refused', message: NOT_FROM_PORTAL };
  const clientIp = (await headers()).get('x-kubegate-client-ip');
  const issued = await issueClusterCredential(credentialDeps(rt), { session, user, clusterName: input.data.cluster, clientIp, origin: 'page' }).catch(
    (err: unknown) => {
      if (err instanceof NoAccessError) return err;
      throw err;
    },
  );
  if (issued instanceof NoAccessError) {
    if (issued.reason === 'session_inactive') redirect('/login?error=session_ended');
    if (issued.reason === 'mfa_required') redirect(`/mfa?next=${encodeURIComponent(`/clusters/${input.data.cluster}`)}`);
    notFound();
  }
  return issuedState(issued.spec);
}
