/**
 * The issuer endpoints' own request/response shapes: plain data, so the same
 * handlers serve the node:http fast layer, tests, and (if ever wanted) a
 * web `Request` adapter, with no framework underneath.
 */
export interface IssuerRequest {
  method: string;
  /** The request target as received (path and query); only the authorization endpoint reads the query. */
  url?: string;
  /** Lower-case header names. */
  headers: Record<string, string | string[] | undefined>;
  body: string;
  clientIp?: string;
  requestId?: string;
}

export interface IssuerResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Largest token request body we read (a refresh grant is ~200 bytes). */
export const MAX_BODY_BYTES = 16 * 1024;

export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): IssuerResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  };
}

export function header(req: IssuerRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
