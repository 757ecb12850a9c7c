import { processUniqueId } from '../util/ids';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, MAX_BODY_BYTES, type IssuerRequest, type IssuerResponse } from '../oidc/http';
import type { IssuerHandler } from '../oidc/issuer-routes';
import type { Logger } from '../util/log';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The client's address: the socket peer, or the first X-Forwarded-For hop when a proxy is trusted. */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string | undefined {
  const forwarded = req.headers['x-forwarded-for'];
  if (trustProxy && typeof forwarded === 'string' && forwarded.trim() !== '') return forwarded.split(',')[0]!.trim();
  return req.socket.remoteAddress ?? undefined;
}

/** Reads the body up to `limit` bytes; undefined when it is larger. */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Past the limit, drain (so a 413 can still be sent) but keep nothing;
      // far past it, drop the connection.
      if (size > limit * 64) req.destroy();
      else if (size <= limit) chunks.push(c);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, r: IssuerResponse, head: boolean, requestId: string): void {
  res.writeHead(r.status, {
    ...r.headers,
    'x-request-id': requestId,
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(r.body),
  });
  res.end(head ? undefined : r.body);
}

/**
 * The node:http side of the issuer endpoints: it owns the socket-level
 * details (body limit, request id, client address) and calls a pure
 * handler. Returns false when the path is not an issuer path.
 */
export function createIssuerListener(
  route: (path: string) => IssuerHandler | undefined,
  opts: { log: Logger; trustProxy: boolean },
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const handler = route(q < 0 ? url : url.slice(0, q));
    if (!handler) return false;
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : processUniqueId();
    const clientIp = clientAddress(req, opts.trustProxy);
    const head = req.method === 'HEAD';
    void (async () => {
      try {
        const body = req.method === 'GET' || head ? '' : await readBody(req, MAX_BODY_BYTES);
        if (body === undefined) {
          send(res, json(413, { error: 'invalid_request', error_description: 'request body too large' }, { 'cache-control': 'no-store', connection: 'close' }), head, requestId);
          return;
        }
        const ir: IssuerRequest = { method: req.method ?? 'GET', headers: req.headers, body, clientIp, requestId };
        send(res, await handler(ir), head, requestId);
      } catch (err) {
        opts.log.error('issuer request failed', { request_id: requestId, path: url.slice(0, 100), error: err instanceof Error ? err.message : String(err) });
        if (!res.headersSent) send(res, json(500, { error: 'server_error', error_description: 'internal error' }, { 'cache-control': 'no-store' }), head, requestId);
        else res.destroy();
      }
    })();
    return true;
  };
}
