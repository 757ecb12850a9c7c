/**
 * GitHub paginates with an RFC 8288 `Link` header:
 *   <https://api.github.com/user/teams?per_page=100&page=2>; rel="next", <…&page=5>; rel="last"
 * Only `rel="next"` matters here. The URL is the server's to choose, but our
 * bearer token goes with the next request: a next page anywhere but the API
 * we were configured with is refused, never followed.
 */
export class LinkError extends Error {
  override name = 'LinkError';
}

/** The next page's URL, undefined on the last page; throws LinkError for a next page off the API. */
export function nextPageUrl(header: string | null, apiBase: string): string | undefined {
  if (!header) return undefined;
  for (const part of splitLinks(header)) {
    const m = /^\s*<([^>]*)>\s*((?:;[^;]*)*)$/.exec(part);
    if (!m) continue;
    const rels = [...(m[2] ?? '').matchAll(/;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))/gi)].flatMap((r) => (r[1] ?? r[2] ?? '').toLowerCase().split(/\s+/));
    if (!rels.includes('next')) continue;
    return onApi(m[1] ?? '', apiBase);
  }
  return undefined;
}

/** Split at the commas between link-values, not at commas inside <…> or quotes. */
function splitLinks(header: string): string[] {
  const parts: string[] = [];
  let current = '';
  let inUrl = false;
  let inQuote = false;
  for (const ch of header) {
    if (ch === '<' && !inQuote) inUrl = true;
    else if (ch === '>' && !inQuote) inUrl = false;
    else if (ch === '"' && !inUrl) inQuote = !inQuote;
    if (ch === ',' && !inUrl && !inQuote) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

function onApi(target: string, apiBase: string): string {
  const base = new URL(apiBase.endsWith('/') ? apiBase : `${apiBase}/`);
  let url: URL;
  try {
    url = new URL(target, base);
  } catch {
    throw new LinkError('the next-page link is not a URL');
  }
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) {
    throw new LinkError(`the next-page link leaves the API (${url.origin})`);
  }
  return url.href;
}
