import { z } from 'zod';
import { UpstreamRefusal } from '../types';

/**
 * Reading an upstream OIDC provider's claims by a configured path, and the
 * per-upstream claim rules. Pure: claims in, values or an UpstreamRefusal out.
 */

export const CLAIM_PATH_MAX = 256;
export const CLAIM_PATH_MAX_SEGMENTS = 16;

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The claim at `path`. The syntax, so that every shape real providers use
 * needs no escaping:
 *   - a top-level key equal to the whole path wins: `groups`,
 *     `https://example.com/groups` (Auth0/Okta namespaced claims, which hold
 *     dots and slashes), `cognito:groups`;
 *   - otherwise the path is split at `.` and walked through nested objects:
 *     `realm_access.roles`, `resource_access.kubernetes.roles` (Keycloak).
 *     At each level the longest run of segments that is a key there is tried
 *     first, so `resource_access.my.client.roles` finds the client
 *     `my.client`, and a shorter key is tried when the longer leads nowhere.
 * Only own keys of plain objects are followed (never arrays, never the
 * prototype: `__proto__` or `constructor` name nothing). Absent is `undefined`.
 */
export function readClaim(claims: JsonObject, path: string): unknown {
  const segments = path.split('.');
  if (segments.length > CLAIM_PATH_MAX_SEGMENTS) return Object.hasOwn(claims, path) ? claims[path] : undefined;
  return walk(claims, segments);
}

function walk(node: unknown, segments: string[]): unknown {
  if (segments.length === 0) return node;
  if (!isObject(node)) return undefined;
  for (let n = segments.length; n >= 1; n--) {
    const key = segments.slice(0, n).join('.');
    if (!Object.hasOwn(node, key)) continue;
    const found = walk(node[key], segments.slice(n));
    if (found !== undefined) return found;
  }
  return undefined;
}

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

const StringList = z.union([z.string().transform((s) => [s]), z.array(z.string())]);

/**
 * A claim holding one string or a list of strings (groups, roles), by path.
 * `undefined` when the claim is absent or null; a claim of another shape is
 * refused by name, never read as "no groups".
 */
export function readStringList(claims: JsonObject, path: string): string[] | undefined {
  const raw = readClaim(claims, path);
  if (raw === undefined || raw === null) return undefined;
  const parsed = StringList.safeParse(raw);
  if (parsed.success) return parsed.data;
  const detail = Array.isArray(raw)
    ? `item ${raw.findIndex((item) => typeof item !== 'string') + 1} is ${describe(raw.find((item) => typeof item !== 'string'))}`
    : `got ${describe(raw)}`;
  throw new UpstreamRefusal('claims', `the "${path}" claim must be a string or a list of strings (${detail})`);
}

/** The username claim: a non-empty string, or a refusal naming the claim. */
export function readUsername(claims: JsonObject, path: string): string {
  const raw = readClaim(claims, path);
  if (raw === undefined || raw === null) throw new UpstreamRefusal('claims', `the upstream sent no "${path}" claim to use as the username`);
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new UpstreamRefusal('claims', `the "${path}" claim must be a non-empty string to be the username (got ${describe(raw)})`);
  }
  return raw.trim();
}

/** A string claim that is optional (email, name): anything else reads as absent. */
export function readOptionalString(claims: JsonObject, path: string): string | null {
  const raw = readClaim(claims, path);
  return typeof raw === 'string' && raw !== '' ? raw : null;
}

export type ClaimValue = string | number | boolean;
export type RequiredClaims = Record<string, ClaimValue | ClaimValue[]>;

/**
 * Every rule must hold: the claim's value is the required value (or one of
 * the list), compared exactly, type included (`email_verified: true` is not
 * met by the string "true"). A list-valued claim holds when one of its items
 * is accepted. The refusal names the claim, never its value (an `hd` or an
 * email is personal data the audit trail need not repeat).
 */
export function checkRequiredClaims(rules: RequiredClaims, claims: JsonObject): void {
  for (const [path, expected] of Object.entries(rules)) {
    const accepted: ClaimValue[] = Array.isArray(expected) ? expected : [expected];
    const actual = readClaim(claims, path);
    if (actual === undefined || actual === null) throw new UpstreamRefusal('not_allowed', `required claim "${path}" is missing`);
    const values = Array.isArray(actual) ? actual : [actual];
    if (!values.some((v) => accepted.some((a) => a === v))) {
      throw new UpstreamRefusal('not_allowed', `required claim "${path}" does not have an accepted value`);
    }
  }
}

/**
 * True when the provider says the groups exist but left them out of the
 * token: Entra ID's group overage, which names the groups claim in
 * `_claim_names` (a distributed claim, OIDC Core §5.6.2) or sets
 * `hasgroups: true`. Reading "no groups" then would silently drop them.
 */
export function groupsOverage(claims: JsonObject, groupsPath: string): boolean {
  if (readClaim(claims, groupsPath) !== undefined) return false;
  const names = claims._claim_names;
  if (isObject(names) && Object.hasOwn(names, groupsPath)) return true;
  return groupsPath === 'groups' && (claims.hasgroups === true || claims.hasgroups === 'true');
}
