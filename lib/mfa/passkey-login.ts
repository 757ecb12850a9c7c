import { randomBytes } from 'node:crypto';
import { generateAuthenticationOptions, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { z } from 'zod';
import type { BoundUpstream } from '../upstream/registry';
import { openLoginSession, SignInRefused, type RequestMeta, type SignInDeps } from '../upstream/sign-in';
import { UpstreamRefusal, type RefusalCode, type UpstreamSignIn } from '../upstream/types';
import { AuthenticationResponseSchema, CHALLENGE_NS, CHALLENGE_TTL_MS, checkAssertion, type PasskeyDeps } from './webauthn';

/**
 * A passkey as the whole sign-in, for local accounts only, where the config
 * says so (`mfa.passwordless_local: true`). The ceremony uses discoverable
 * credentials (the authenticator says who), user verification required: the
 * passkey is then two factors in one (possession of the key, and the PIN or
 * biometric that unlocks it), so the session records `hwk`/`swk` and `mfa`.
 *
 * The challenge is kept like the second-factor ones, keyed by a random flow
 * id that the options endpoint hands the browser in a host-only, HttpOnly
 * cookie: the answer must come back from the browser that asked. The person
 * is who the credential belongs to, and must still be a local account in the
 * config (read now, with their current groups).
 */
export const LOGIN_FLOW_COOKIE = '__Host-kubegate-passkey-login';

export function passwordlessEnabled(config: { mfa: { passwordless_local?: boolean } }, upstreams: ReadonlyMap<string, BoundUpstream>): boolean {
  return config.mfa.passwordless_local === true && [...upstreams.values()].some((b) => b.connector.type === 'local');
}

export async function passwordlessOptions(deps: Pick<PasskeyDeps, 'store' | 'now' | 'rp'>): Promise<{ flow: string; options: PublicKeyCredentialRequestOptionsJSON }> {
  const options = await generateAuthenticationOptions({ rpID: deps.rp.id, userVerification: 'required', timeout: 3 * 60_000 });
  const flow = randomBytes(24).toString('base64url');
  const now = deps.now();
  await deps.store.putEphemeral(CHALLENGE_NS, `login:${flow}`, options.challenge, now + CHALLENGE_TTL_MS, now);
  return { flow, options };
}

const refuse = (code: RefusalCode, detail: string): never => {
  throw new UpstreamRefusal(code, detail);
};

/**
 * Verifies a discoverable-credential assertion and names the person: the
 * upstream (a local one) and the sign-in to open a session with. Refusals
 * are UpstreamRefusals (the seam audits them as `session.login_failed`).
 * Attempts are throttled per credential and client address.
 */
export async function passwordlessSignIn(
  deps: PasskeyDeps,
  upstreams: ReadonlyMap<string, BoundUpstream>,
  input: { flow: string; response: z.infer<typeof AuthenticationResponseSchema> },
  meta: { clientIp: string | null },
): Promise<{ bound: BoundUpstream; signIn: UpstreamSignIn; username: string }> {
  const key = `passkey-login:${input.response.id}`;
  await deps.throttle.load(key, meta.clientIp);
  const decision = deps.throttle.attempt(key, meta.clientIp);
  if (!decision.allowed) refuse('rate_limited', 'passkey sign-in attempts throttled');
  const fail = async (code: RefusalCode, detail: string): Promise<never> => {
    await deps.throttle.failed(key, meta.clientIp);
    return refuse(code, detail);
  };
  const challenge = input.flow ? await deps.store.takeEphemeral(CHALLENGE_NS, `login:${input.flow}`, deps.now()) : undefined;
  if (!challenge) return fail('invalid_response', 'no passkey challenge for this browser (expired, used, or never asked for)');
  const factor = await deps.store.getMfaFactorByCredentialId(input.response.id);
  if (!factor || factor.kind !== 'webauthn' || factor.confirmed_at === null) return fail('bad_credentials', 'unknown passkey');
  // WebAuthn §7.2 step 6: the user handle the authenticator returns must be the credential's owner.
  const handle = input.response.response.userHandle;
  if (handle !== undefined && Buffer.from(handle, 'base64url').toString() !== factor.user_id) return fail('invalid_response', 'user handle does not match the passkey');
  const user = await deps.store.getUser(factor.user_id);
  const bound = user ? upstreams.get(user.upstream) : undefined;
  if (!user || !bound || bound.connector.type !== 'local' || !bound.connector.recheck) return fail('not_allowed', 'passkey sign-in is for local accounts only');
  const checked = await checkAssertion(deps, factor, challenge, input.response);
  if (!checked.ok) return fail('invalid_response', `passkey refused: ${String(checked.details.reason)}${checked.details.detail ? `: ${String(checked.details.detail)}` : ''}`);
  const now = await bound.connector.recheck(bound.config as never, user, null, { now: deps.now, log: deps.log, clientIp: meta.clientIp });
  if (now.status !== 'active') return fail('disabled', 'no longer a local account in the configuration');
  await deps.throttle.succeeded(key, meta.clientIp);
  return { bound, username: now.identity.username, signIn: { identity: now.identity, amr: [checked.method, 'mfa'], authTime: deps.now() } };
}

const LoginCredentials = z.object({ flow: z.string().max(100).default(''), response: z.string().min(2).max(64 * 1024) });

/**
 * The Auth.js Credentials provider's authorize() for a passkey sign-in:
 * verifies, opens the login session through the seam, returns its id. Every
 * refusal is audited (`session.login_failed`) and surfaces as a SignInRefused.
 */
export async function openPasswordlessSession(
  deps: PasskeyDeps,
  signInDeps: SignInDeps,
  upstreams: ReadonlyMap<string, BoundUpstream>,
  raw: unknown,
  meta: RequestMeta,
): Promise<string> {
  const parsed = LoginCredentials.safeParse(raw);
  let response: z.infer<typeof AuthenticationResponseSchema> | undefined;
  if (parsed.success) {
    try {
      const r = AuthenticationResponseSchema.safeParse(JSON.parse(parsed.data.response));
      if (r.success) response = r.data;
    } catch {
      // not JSON: refused below
    }
  }
  try {
    if (!parsed.success || !response) refuse('invalid_response', 'malformed passkey response');
    const { bound, signIn } = await passwordlessSignIn(deps, upstreams, { flow: parsed.data!.flow, response: response! }, meta);
    return await openLoginSession(signInDeps, bound.config, signIn, meta);
  } catch (err) {
    if (!(err instanceof UpstreamRefusal)) throw err;
    await deps.store.appendAudit(
      { kind: 'session.login_failed', client_ip: meta.clientIp, details: { upstream: 'passkey', reason: err.code, detail: err.detail.slice(0, 300) } },
      deps.now(),
    );
    deps.log.warn('passkey sign-in refused', { reason: err.code, detail: err.detail.slice(0, 300), client_ip: meta.clientIp });
    throw new SignInRefused(err.code);
  }
}
