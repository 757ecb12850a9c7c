import { z } from 'zod';
import { UpstreamRefusal } from '../types';
import { isTransient, refusalFor } from './upstream';

/**
 * Entra ID group overage, resolved through Microsoft Graph:
 * `GET {graph}/v1.0/me/transitiveMemberOf/microsoft.graph.group`, with the
 * signed-in person's access token (delegated; `User.Read` suffices for ids,
 * display names need `GroupMember.Read.All`), following `@odata.nextLink`.
 * Transitive, as the groups claim itself is for security groups.
 */

export interface GraphOptions {
  graphUrl: string;
  groupName: 'id' | 'display_name';
  timeoutSeconds: number;
}

/** Graph answers at most 999 objects a page; this many pages is far beyond any real directory. */
const MAX_PAGES = 100;

const GraphPage = z.object({
  value: z.array(
    z.object({
      id: z.string().min(1),
      displayName: z.string().nullish(),
    }),
  ),
  '@odata.nextLink': z.string().optional(),
});

/**
 * Every group the token's owner is a member of, directly or through nested
 * groups. A next link is followed only on the configured Graph origin: the
 * access token is never sent where the config did not say.
 */
export async function graphGroups(opts: GraphOptions, accessToken: string): Promise<string[]> {
  const base = new URL(opts.graphUrl.replace(/\/+$/, '') + '/');
  let next: URL | undefined = new URL('v1.0/me/transitiveMemberOf/microsoft.graph.group', base);
  next.search = new URLSearchParams({ $select: 'id,displayName', $top: '999' }).toString();
  const groups: string[] = [];
  for (let page = 0; next; page++) {
    if (page === MAX_PAGES) throw new UpstreamRefusal('invalid_response', `Microsoft Graph: more than ${MAX_PAGES} pages of groups`);
    let response: Response;
    try {
      response = await fetch(next, {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(opts.timeoutSeconds * 1000),
      });
    } catch (err) {
      throw isTransient(err) ? refusalFor(err, 'Microsoft Graph group lookup') : new UpstreamRefusal('invalid_response', 'Microsoft Graph group lookup: redirected or failed');
    }
    if (response.status >= 500 || response.status === 429) {
      throw new UpstreamRefusal('unavailable', `Microsoft Graph group lookup: the upstream answered ${response.status}`);
    }
    if (response.status === 401 || response.status === 403) {
      throw new UpstreamRefusal(
        'claims',
        `Microsoft Graph refused the group lookup (${response.status}): the access token must be for Microsoft Graph with User.Read (ids) or GroupMember.Read.All (display names)`,
      );
    }
    let body: unknown;
    try {
      if (response.status !== 200) throw new Error(`status ${response.status}`);
      body = await response.json();
    } catch {
      throw new UpstreamRefusal('invalid_response', `Microsoft Graph group lookup: answered ${response.status} without a JSON page`);
    }
    const parsed = GraphPage.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new UpstreamRefusal('invalid_response', `Microsoft Graph group lookup: malformed page (${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'})`);
    }
    for (const g of parsed.data.value) groups.push(opts.groupName === 'display_name' && g.displayName ? g.displayName : g.id);
    const link = parsed.data['@odata.nextLink'];
    next = undefined;
    if (link !== undefined) {
      const url = URL.canParse(link) ? new URL(link) : undefined;
      if (!url || url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) {
        throw new UpstreamRefusal('invalid_response', 'Microsoft Graph group lookup: a next page outside the configured graph_url was refused');
      }
      next = url;
    }
  }
  return groups;
}
