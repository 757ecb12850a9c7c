import type { IncomingMessage, ServerResponse } from 'node:http';
import { RequestTimeoutError, RequestTooLargeError, renderOAuthError } from '../oidc/errors';
import { MAX_BODY_BYTES, type IssuerRequest, type IssuerResponse } from '../oidc/http';
import type { IssuerHandler } from '../oidc/issuer-routes';
import { processUniqueId } from '../util/ids';
import type { Logger } from '../util/log';
import { logAccess } from './access-log';
import type { ProxyTrust } from './client-address';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export type BodyResult = { kind: 'ok'; body: string } | { kind: 'too_large' } | { kind: 'timeout' };

/**
 * Reads the body up to `limit` bytes, within `timeoutMs` of the call: a
 * client that dribbles its body (or stops sending) gets `timeout`, not a
 * connection held for Node's 300 s. Larger than `limit`: `too_large`
 * (drained so the 413 can be sent; far past the limit the connection is
 * dropped).
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<BodyResult> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      resolve({ kind: 'too_large' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      req.removeAllListeners('data');
      req.pause();
      resolve({ kind: 'timeout' });
    }, timeoutMs);
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit * 64) req.destroy();
      else if (size <= limit) chunks.push(c);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve(size > limit ? { kind: 'too_large' } : { kind: 'ok', body: Buffer.concat(chunks).toString('utf8') });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('close', () => clearTimeout(timer));
  });
}

/** Writes the response; returns the body's length in bytes (sent unless HEAD). */
function send(res: ServerResponse, r: IssuerResponse, head: boolean, requestId: string): number {
  const length = Buffer.byteLength(r.body);
  res.writeHead(r.status, {
    ...r.headers,
    'x-request-id': requestId,
    'x-content-type-options': 'nosniff',
    'content-length': length,
  });
  res.end(head ? undefined : r.body);
  return head ? 0 : length;
}

export interface IssuerListenerOptions {
  log: Logger;
  proxy: ProxyTrust;
  /** An issuer request's body must arrive within this. */
  bodyTimeoutMs: number;
  /** One access-log line per request (config `log.access`): lib/http/access-log.ts. */
  accessLog?: boolean;
}

/**
 * The node:http side of the issuer endpoints: it owns the socket-level
 * details (body limit and deadline, request id, client address) and calls
 * a pure handler. Returns false when the path is not an issuer path.
 */
export function createIssuerListener(
  route: (path: string) => IssuerHandler | undefined,
  opts: IssuerListenerOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { log, accessLog } = opts;
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const handler = route(path);
    if (!handler) return false;
    const startedAt = performance.now();
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : processUniqueId();
    const clientIp = opts.proxy.clientAddress(req);
    const method = req.method ?? 'GET';
    const head = method === 'HEAD';
    const fail = (err: unknown) => renderOAuthError(err, { requestId, log, where: 'issuer request' });
    let body = '';
    // Synchronous after the response is written: no await and no listener on the hot path.
    const reply = (r: IssuerResponse) => {
      const bytes = send(res, r, head, requestId);
      if (accessLog) {
        logAccess(log, { method, path, status: r.status, startedAt, bytes, clientIp, userAgent: req.headers['user-agent'], requestId, body, responseBody: r.body }, performance.now());
      }
    };
    void (async () => {
      try {
        if (method !== 'GET' && !head) {
          const read = await readBody(req, MAX_BODY_BYTES, opts.bodyTimeoutMs);
          if (read.kind === 'too_large') return reply(fail(new RequestTooLargeError(MAX_BODY_BYTES)));
          if (read.kind === 'timeout') return reply(fail(new RequestTimeoutError(opts.bodyTimeoutMs)));
          body = read.body;
        }
        const ir: IssuerRequest = { method, url, headers: req.headers, body, clientIp, requestId };
        reply(await handler(ir));
      } catch (err) {
        if (!res.headersSent) return reply(fail(err));
        res.destroy();
        if (accessLog) {
          logAccess(log, { method, path, status: res.statusCode, startedAt, bytes: 0, clientIp, userAgent: req.headers['user-agent'], requestId, body, responseBody: '', aborted: true }, performance.now());
        }
      }
    })();
    return true;
  };
}
