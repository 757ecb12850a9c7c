/** Small HTTP helpers for the suite: kubectl's request shapes and raw requests. */
import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Go's url.QueryEscape, which golang.org/x/oauth2 applies to id and secret before Basic encoding. */
export function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

/** RFC 6749 §2.3.1 / golang.org/x/oauth2: id and secret are form-urlencoded, then Basic-encoded. */
export function basic(clientId: string, secret: string): string {
  const enc = queryEscape;
  return 'Basic ' + Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString('base64');
}

export function form(params: Record<string, string> | [string, string][]): string {
  return new URLSearchParams(params).toString();
}

/** A request with exactly the given headers (no fetch defaults), on a fresh connection. */
export function raw(
  base: string,
  opts: { method?: string; path: string; headers?: Record<string, string | number>; body?: string | Buffer; chunks?: Buffer[] },
): Promise<RawResponse> {
  const url = new URL(opts.path, base);
  const headers = { ...opts.headers };
  // Node sends a DELETE/GET body with neither Content-Length nor chunked framing unless told.
  if (opts.body !== undefined && !opts.chunks && !Object.keys(headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h))) {
    headers['content-length'] = Buffer.byteLength(opts.body);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method: opts.method ?? 'GET', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else req.end(opts.body);
  });
}

export interface TokenCall {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
  text: string;
}

/** POST /oidc/token with a form body; `authorization` as given (undefined: no header). */
export async function tokenRequest(
  base: string,
  body: string,
  opts: { authorization?: string; contentType?: string; method?: string } = {},
): Promise<TokenCall> {
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/x-www-form-urlencoded' };
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  const res = await fetch(`${base}/oidc/token`, { method: opts.method ?? 'POST', headers, body: opts.method === 'GET' ? undefined : body });
  return readTokenCall(res);
}

/** A token endpoint response, read whole: `json` is left empty when the body is not JSON (the assertion on it shows `text`). */
export async function readTokenCall(res: Response): Promise<TokenCall> {
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // left empty: the assertion on the body will show `text`
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** kubectl's first attempt: Basic auth (empty secret for a public client), only grant_type and refresh_token in the form. */
export function kubectlRefresh(base: string, clientId: string, secret: string, refreshToken: string): Promise<TokenCall> {
  return tokenRequest(base, form({ grant_type: 'refresh_token', refresh_token: refreshToken }), { authorization: basic(clientId, secret) });
}

/** kubectl's retry shape: client_id (and client_secret when there is one) in the form, no Authorization header. */
export function kubectlRetryRefresh(base: string, clientId: string, secret: string, refreshToken: string): Promise<TokenCall> {
  const p: Record<string, string> = { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId };
  if (secret) p.client_secret = secret;
  return tokenRequest(base, form(p));
}
