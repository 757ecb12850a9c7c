import { KEY_SYNC_INTERVAL_SECONDS } from '../oidc/key-timing';
import type { KeyManager } from '../oidc/keys';
import { isAppError } from '../util/errors';
import { AdminError } from './commands';
import { iso, table } from './terminal';

/**
 * `kubegate keys`, `rotate-key` and `revoke-key`: the signing-key schedule
 * from the admin command. Each returns the lines to print. The running
 * server re-reads the keys every KEY_SYNC_INTERVAL_SECONDS.
 */

const SYNC = `${KEY_SYNC_INTERVAL_SECONDS} s`;

function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

/** Every stored key, newest first: what signs, what is next, what is still published. */
export function listKeys(keys: KeyManager, now: number): string[] {
  const rows = keys.listing(now).map((k) => [
    k.kid,
    k.alg,
    k.status,
    k.published ? 'yes' : 'no',
    iso(k.activates_at),
    k.retires_at === null ? '-' : iso(k.retires_at),
    k.expires_at === null ? '-' : iso(k.expires_at),
  ]);
  return table(['KID', 'ALG', 'STATUS', 'IN JWKS', 'SIGNS FROM', 'SIGNS UNTIL', 'LEAVES JWKS'], rows);
}

/** Publishes the next key now; it signs once every caching verifier can know it. */
export async function rotateKey(keys: KeyManager, now: number): Promise<string[]> {
  const current = keys.current().kid;
  const r = await keys.rotate(now);
  if (r.alreadyScheduled) {
    return [`signing key ${r.kid} is already published and starts signing at ${iso(r.activatesAt)}; nothing to do`];
  }
  return [
    `published signing key ${r.kid} now (the running server lists it in the JWKS within ${SYNC})`,
    `it starts signing at ${iso(r.activatesAt)}, in ${humanDuration(r.activatesAt - now)} (signing.publish_ahead), when every verifier that caches the JWKS has it`,
    `${current} signs until then, and stays in the JWKS until the tokens it signed have expired`,
  ];
}

/** Withdraws a compromised key at once; a new key signs from now. `jwksMaxAgeSeconds` is signing.jwks_max_age. */
export async function revokeKey(keys: KeyManager, kid: string, now: number, jwksMaxAgeSeconds: number): Promise<string[]> {
  let r: Awaited<ReturnType<KeyManager['revoke']>>;
  try {
    r = await keys.revoke(kid, now, { details: { by: 'admin-command' } });
  } catch (err) {
    if (isAppError(err, 'unknown_kid')) throw new AdminError('not_found', `no signing key ${kid} (see \`kubegate keys\`)`);
    throw err;
  }
  if (!r.revoked) return [`signing key ${kid} was already revoked; ${r.current} signs`];
  return [
    `revoked signing key ${kid}${r.wasSigning ? ' (it was the signing key)' : ''}: it never signs again, and the running server withdraws it from the JWKS within ${SYNC}`,
    `new signing key ${r.current} signs from now, with no lead time: a verifier that fetched the JWKS in the last ${jwksMaxAgeSeconds} s refuses its tokens until it fetches it again`,
    `verifiers that keep keys (kube-apiserver) drop ${kid} when they next fetch the JWKS, which the first token signed by ${r.current} makes them do`,
    `kubectl holding an id_token signed by ${kid} is refused until that token expires, then refreshes and gets one signed by ${r.current}`,
  ];
}
