import { z } from 'zod';
import { carriable, dnsLabel, duration } from '../config/fields';
import type { UserProfile } from '../store/types';
import { UpstreamRefusal, type UpstreamBaseConfig } from './types';

/** A group pattern: an exact name, or `prefix*`. */
const groupPattern = z.string().min(1).max(256).superRefine(carriable);

/**
 * Fields every upstream entry has, spread into each connector's strict schema:
 * `z.strictObject({ ...upstreamBase, type: z.literal('ldap'), ... })`.
 */
export const upstreamBase = {
  id: dnsLabel,
  display_name: z.string().min(1).max(100).optional(),
  /** Prepended to usernames from this upstream, so two upstreams cannot mint the same name. */
  username_prefix: z.string().max(50).superRefine(carriable).default(''),
  /** Prepended to every group from this upstream. */
  groups_prefix: z.string().max(50).superRefine(carriable).default(''),
  /** Only these upstream groups (exact names, or `prefix*`) reach tokens; omitted: every group. */
  group_allowlist: z.array(groupPattern).optional(),
  /** At a refresh, re-check the person upstream when the last check is older than this. */
  recheck_interval: duration('recheck_interval', 30, 86400).default(300),
  /** How long an upstream that does not answer is tolerated before its users are refused. */
  recheck_grace: duration('recheck_grace', 0, 7 * 86400).default(900),
  /** The upstream's `amr` values that prove a second factor there (lib/mfa/policy.ts). */
  mfa_amr_values: z.array(z.string().min(1).max(100)).default(['mfa']),
  /** The upstream's `acr` (OIDC) or AuthnContextClassRef (SAML) values that prove a second factor there. */
  mfa_acr_values: z.array(z.string().min(1).max(300)).default([]),
};

export function matchesGroupPattern(group: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? group.startsWith(p.slice(0, -1)) : group === p));
}

/** What a connector read upstream, before our rules: unprefixed, unfiltered. */
export interface RawIdentity {
  /** The upstream's stable, immutable id for this person (never an email or a DN). */
  subject: string;
  username: string;
  email?: string | null;
  name?: string | null;
  groups: readonly string[];
}

/**
 * The rules every upstream shares, in one place: a subject and a username
 * are required, groups are filtered by the allow-list, then both are
 * prefixed; empty and duplicate groups are dropped.
 */
export function finalizeIdentity(config: Pick<UpstreamBaseConfig, 'id' | 'username_prefix' | 'groups_prefix' | 'group_allowlist'>, raw: RawIdentity): UserProfile {
  const subject = typeof raw.subject === 'string' ? raw.subject.trim() : '';
  if (subject === '') throw new UpstreamRefusal('claims', 'the upstream sent no stable subject');
  const username = typeof raw.username === 'string' ? raw.username.trim() : '';
  if (username === '') throw new UpstreamRefusal('claims', 'the upstream sent no username');
  const allow = config.group_allowlist;
  const groups = raw.groups
    .filter((g): g is string => typeof g === 'string' && g.trim() !== '')
    .map((g) => g.trim())
    .filter((g) => !allow || matchesGroupPattern(g, allow));
  return {
    upstream: config.id,
    subject,
    username: config.username_prefix + username,
    email: typeof raw.email === 'string' && raw.email !== '' ? raw.email : null,
    name: typeof raw.name === 'string' && raw.name !== '' ? raw.name : null,
    groups: [...new Set(groups.map((g) => config.groups_prefix + g))],
  };
}
