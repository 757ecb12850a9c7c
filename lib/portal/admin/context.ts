import 'server-only';
import { notFound, redirect } from 'next/navigation';
import { confirmedFactors } from '../../mfa/service';
import type { Actor } from '../credentials';
import { currentPortalSession, type PortalContext } from '../session';
import { adminGate, gateRedirect, isAdmin, type AdminGate } from './access';

export interface AdminContext extends PortalContext {
  /** The admin as the actor of revocations: audited as details.by. */
  actor: Extract<Actor, { kind: 'admin' }>;
}

/** The signed-in person's standing with the console; 'not_found' for anyone who is not an admin (or not signed in). */
export async function adminStanding(): Promise<{ gate: 'not_found' } | { gate: Exclude<AdminGate, 'not_found'>; ctx: AdminContext }> {
  const ctx = await currentPortalSession();
  if (!ctx) return { gate: 'not_found' };
  const { rt, session, user } = ctx;
  // Groups first: a non-admin's request costs no factor lookup.
  if (!isAdmin(rt.config.admin, user.groups)) return { gate: 'not_found' };
  const gate = adminGate({
    policy: rt.config.admin,
    groups: user.groups,
    session,
    enrolledFactors: (await confirmedFactors(rt.store, user.id)).length,
    now: rt.now(),
  });
  if (gate === 'not_found') return { gate };
  return { gate, ctx: { ...ctx, actor: { kind: 'admin', by: user.username } } };
}

/**
 * For console pages and server actions: the admin, or a 404 for everyone
 * else (the console is not revealed), or a redirect to sign in again or to
 * show the second factor, coming back to `next`.
 */
export async function requireAdmin(next: string): Promise<AdminContext> {
  const s = await adminStanding();
  if (s.gate === 'not_found') notFound();
  if (s.gate !== 'ok') redirect(gateRedirect(s.gate, next));
  return s.ctx;
}

/** For console route handlers: the admin, or the Response to send instead (404, or 303 to sign in again / MFA). */
export async function adminForRoute(next: string): Promise<AdminContext | Response> {
  const s = await adminStanding();
  if (s.gate === 'not_found') return new Response('Not found.\n', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
  if (s.gate !== 'ok') return new Response(null, { status: 303, headers: { location: gateRedirect(s.gate, next), 'cache-control': 'no-store' } });
  return s.ctx;
}
