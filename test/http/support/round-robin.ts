/**
 * A round-robin HTTP(S) load balancer in front of several Kubegate
 * replicas, for the replica tests: every REQUEST (not connection: kubectl and
 * fetch keep connections alive) goes to the next backend, counted per route
 * ("POST /oidc/token"), so that requests of one kind alternate even when a
 * client sends several kinds in a row (kubectl: discovery, then the refresh).
 * Each forwarded request uses a fresh upstream connection. A backend that does
 * not answer is reported as 502 by the proxy, which a test can tell from the
 * replicas' own answers.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface Forwarded {
  route: string;
  backend: number;
  status: number;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export class RoundRobinProxy {
  /** Every request forwarded, in order of completion. */
  readonly log: Forwarded[] = [];
  private readonly next = new Map<string, number>();

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    /** The replicas' base URLs; may be set after start (the replicas need the proxy's URL as their issuer). */
    public backends: string[],
  ) {}

  static async start(opts: { backends?: string[]; tls?: { certPem: string; keyPem: string } } = {}): Promise<RoundRobinProxy> {
    const box: { proxy?: RoundRobinProxy } = {};
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => box.proxy!.forward(req, res);
    const server = opts.tls ? https.createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, handler) : http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    box.proxy = new RoundRobinProxy(server, `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`, opts.backends ?? []);
    return box.proxy;
  }

  /** Requests of `route` (e.g. "POST /oidc/token") each backend answered, by status. */
  served(route: string): Array<Record<number, number>> {
    const out = this.backends.map(() => ({}) as Record<number, number>);
    for (const f of this.log) if (f.route === route) out[f.backend]![f.status] = (out[f.backend]![f.status] ?? 0) + 1;
    return out;
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const route = `${req.method} ${(req.url ?? '/').split('?')[0]}`;
    const i = this.next.get(route) ?? 0;
    this.next.set(route, (i + 1) % this.backends.length);
    const target = new URL(req.url ?? '/', this.backends[i]);
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? '127.0.0.1';
    headers['x-forwarded-proto'] = this.url.startsWith('https') ? 'https' : 'http';
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers, agent: false },
      (up) => {
        const out: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
        up.on('end', () => this.log.push({ route, backend: i, status: up.statusCode ?? 0 }));
      },
    );
    upstream.on('error', () => {
      this.log.push({ route, backend: i, status: 502 });
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain', 'x-proxy-error': '1' });
      res.end('bad gateway');
    });
    req.pipe(upstream);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
