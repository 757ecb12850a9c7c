import { createHash } from 'node:crypto';
import type { Store } from '../../store/types';

/** Our pending AuthnRequests: request id → the browser binding; taken once by the answer. */
export const REQUEST_NS = 'saml.request';
/** Assertion ids already accepted, kept until the assertion could no longer be presented. */
export const ASSERTION_NS = 'saml.assertion';
/** An AuthnRequest is answered within this, or not at all (a person at the IdP's login form). */
export const REQUEST_LIFETIME_MS = 5 * 60_000;

type EphemeralStore = Pick<Store, 'putEphemeral' | 'takeEphemeral'>;

// Ids come from the IdP (or an attacker): hashed, so a key's size is ours, and per upstream.
const key = (upstreamId: string, id: string) => `${upstreamId}:${createHash('sha256').update(id).digest('base64url')}`;

export async function rememberRequest(store: EphemeralStore, upstreamId: string, requestId: string, binding: string, now: number): Promise<void> {
  if (!(await store.putEphemeral(REQUEST_NS, key(upstreamId, requestId), binding, now + REQUEST_LIFETIME_MS, now))) {
    throw new Error('SAML request id collision');
  }
}

/** The binding of a pending request of ours, removed so a second answer finds nothing. */
export function takeRequest(store: EphemeralStore, upstreamId: string, requestId: string, now: number): Promise<string | undefined> {
  return store.takeEphemeral(REQUEST_NS, key(upstreamId, requestId), now);
}

/** True the first time an assertion id is seen while it is usable; false for a replay. */
export function firstUse(store: EphemeralStore, upstreamId: string, assertionId: string, usableUntil: number, now: number): Promise<boolean> {
  return store.putEphemeral(ASSERTION_NS, key(upstreamId, assertionId), '1', Math.max(usableUntil, now + 1), now);
}
