/**
 * TLS-terminating reverse proxy for e2e tests: https://127.0.0.1:<port> -> http://127.0.0.1:<target>.
 *
 * Streams request and response bodies both ways (no buffering), keeps upstream connections
 * alive, forwards WebSocket/Upgrade requests (Next.js dev HMR), keeps the client's Host header
 * and sets X-Forwarded-Proto: https, X-Forwarded-Host, X-Forwarded-Port and X-Forwarded-For
 * (appending to an existing X-Forwarded-For chain), like nginx/traefik in front of Kubegate.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface StartTlsProxyOptions {
  /** e.g. http://127.0.0.1:3700 */
  target: string;
  tls: { certPem: string; keyPem: string };
  port?: number;
}

export interface TlsProxy {
  url: string;
  port: number;
  close(): Promise<void>;
}

// RFC 7230 hop-by-hop headers, not forwarded.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function forwardedHeaders(req: http.IncomingMessage, port: number, keepUpgrade: boolean): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  const connectionTokens = new Set(
    String(req.headers.connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    if (HOP_BY_HOP.has(k) || (connectionTokens.has(k) && k !== 'upgrade')) continue;
    out[k] = v;
  }
  if (keepUpgrade) {
    out.connection = 'Upgrade';
    if (req.headers.upgrade) out.upgrade = req.headers.upgrade;
  }
  const clientIp = req.socket.remoteAddress ?? '127.0.0.1';
  const prior = req.headers['x-forwarded-for'];
  out['x-forwarded-for'] = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${clientIp}` : clientIp;
  out['x-forwarded-proto'] = 'https';
  out['x-forwarded-host'] = req.headers.host ?? `127.0.0.1:${port}`;
  out['x-forwarded-port'] = String(port);
  return out;
}

export async function startTlsProxy(opts: StartTlsProxyOptions): Promise<TlsProxy> {
  const target = new URL(opts.target);
  if (target.protocol !== 'http:') throw new Error(`tls-proxy target must be http://, got ${opts.target}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const upgraded = new Set<Socket>();
  let port = 0;

  const server = https.createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem, keepAlive: true });

  server.on('request', (req, res) => {
    const upstream = http.request(
      {
        protocol: 'http:',
        hostname: target.hostname,
        port: target.port || 80,
        method: req.method,
        path: req.url,
        headers: forwardedHeaders(req, port, false),
        agent,
      },
      (up) => {
        const headers: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(up.headers)) {
          if (v === undefined || HOP_BY_HOP.has(k)) continue;
          headers[k] = v;
        }
        res.writeHead(up.statusCode ?? 502, up.statusMessage, headers);
        up.pipe(res);
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`502 Bad Gateway: ${err.message}\n`);
      } else res.destroy();
    });
    req.on('aborted', () => upstream.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });

  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    const upstream = http.request({
      protocol: 'http:',
      hostname: target.hostname,
      port: target.port || 80,
      method: req.method,
      path: req.url,
      headers: forwardedHeaders(req, port, true),
    });
    upstream.on('upgrade', (up, upSocket: Socket, upHead: Buffer) => {
      const lines = [`HTTP/1.1 ${up.statusCode ?? 101} ${up.statusMessage ?? 'Switching Protocols'}`];
      for (let i = 0; i < up.rawHeaders.length; i += 2) lines.push(`${up.rawHeaders[i]}: ${up.rawHeaders[i + 1]}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (upHead.length) socket.write(upHead);
      if (head.length) upSocket.write(head);
      upgraded.add(socket).add(upSocket);
      const cleanup = () => {
        upgraded.delete(socket);
        upgraded.delete(upSocket);
        socket.destroy();
        upSocket.destroy();
      };
      socket.on('error', cleanup).on('close', cleanup);
      upSocket.on('error', cleanup).on('close', cleanup);
      upSocket.pipe(socket).pipe(upSocket);
    });
    upstream.on('response', (res) => {
      // upstream refused the upgrade: relay its answer and close
      const lines = [`HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}`];
      for (let i = 0; i < res.rawHeaders.length; i += 2) {
        const name = res.rawHeaders[i] ?? '';
        if (HOP_BY_HOP.has(name.toLowerCase())) continue;
        lines.push(`${name}: ${res.rawHeaders[i + 1]}`);
      }
      socket.write(`${lines.join('\r\n')}\r\nconnection: close\r\n\r\n`);
      res.pipe(socket);
    });
    upstream.on('error', () => {
      socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    });
    socket.on('error', () => upstream.destroy());
    upstream.end();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;

  return {
    url: `https://127.0.0.1:${port}`,
    port,
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of upgraded) s.destroy();
        agent.destroy();
      });
    },
  };
}
