/**
 * Graceful shutdown on real loopback sockets: requests in flight when the
 * stop begins finish with their whole response, idle keep-alive connections
 * are closed, new connections are refused, and the runtime closes after the
 * listener; past the grace, what is still open is cut.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../util/log';
import { createBoundedServer } from './http-server';
import { createGracefulShutdown } from './shutdown';

const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

const limits = { headersTimeoutMs: 5000, requestTimeoutMs: 10_000, maxConnections: 100 };

/** A server whose /slow answers after `slowMs`; `/` at once. */
async function start(graceMs: number, slowMs: number) {
  const shutdown = createGracefulShutdown({ graceMs, log: silentLogger, idleSweepMs: 10 });
  const seen = { slow: 0 };
  const server = createBoundedServer(
    shutdown.wrap((req, res) => {
      if (req.url === '/slow') seen.slow++;
      const answer = () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('x'.repeat(100_000));
      };
      if (req.url === '/slow') setTimeout(answer, slowMs);
      else answer();
    }),
    limits,
  ) as http.Server;
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  /** Resolves once the server has received `n` slow requests (connections still in the backlog are not accepted yet). */
  const received = async (n: number) => {
    while (seen.slow < n) await new Promise((r) => setTimeout(r, 5));
  };
  return { shutdown, server, port, received };
}

/** One request; resolves with the status and body length, or the error and whether a response had begun. */
function request(port: number, path: string, agent: http.Agent) {
  return new Promise<{ status?: number; length?: number; connection?: string; error?: string; midResponse?: boolean }>((resolve) => {
    let began = false;
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      began = true;
      let length = 0;
      res.on('data', (c: Buffer) => (length += c.length));
      res.on('end', () => resolve({ status: res.statusCode, length, connection: res.headers.connection }));
      res.on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message, midResponse: true }));
    });
    req.on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message, midResponse: began }));
  });
}

describe('graceful shutdown', () => {
  it('lets requests in flight finish whole, closes idle keep-alive connections, refuses new ones, then closes the runtime', async () => {
    const { shutdown, server, port, received } = await start(5000, 300);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    // An idle keep-alive connection, left open by a finished request.
    expect((await request(port, '/', agent)).status).toBe(200);
    const inflight = Array.from({ length: 5 }, () => request(port, '/slow', agent));
    await received(5);
    const order: string[] = [];
    let runtimeClosedWhileOpen: number | undefined;
    const stopped = shutdown
      .stop('SIGTERM', {
        server,
        closeRuntime: async () => {
          runtimeClosedWhileOpen = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
          order.push('runtime');
        },
      })
      .then((r) => {
        order.push('stopped');
        return r;
      });
    expect(shutdown.draining).toBe(true);
    const results = await Promise.all(inflight);
    for (const r of results) expect(r).toEqual({ status: 200, length: 100_000, connection: 'close' });
    const after = await request(port, '/', new http.Agent());
    expect(after.error).toBe('ECONNREFUSED');
    expect(await stopped).toEqual({ cut: 0 });
    expect(order).toEqual(['runtime', 'stopped']);
    expect(runtimeClosedWhileOpen).toBe(0);
    agent.destroy();
  });

  it('finishes as soon as the last request is done, not after the whole grace', async () => {
    const { shutdown, server, port, received } = await start(10_000, 200);
    const agent = new http.Agent({ keepAlive: true });
    const r = request(port, '/slow', agent);
    await received(1);
    const t0 = Date.now();
    await shutdown.stop('SIGTERM', { server, closeRuntime: async () => {} });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((await r).status).toBe(200);
    agent.destroy();
  });

  it('past the grace, cuts what is still open and closes the runtime all the same', async () => {
    const { shutdown, server, port, received } = await start(300, 60_000);
    const hung = request(port, '/slow', new http.Agent());
    await received(1);
    let closed = false;
    const t0 = Date.now();
    const result = await shutdown.stop('SIGTERM', {
      server,
      closeRuntime: async () => {
        closed = true;
      },
    });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(result.cut).toBe(1);
    expect(closed).toBe(true);
    expect((await hung).error).toBeDefined();
  });

  it('is idempotent: a second signal joins the first stop', async () => {
    const { shutdown, server } = await start(1000, 0);
    let closes = 0;
    const targets = { server, closeRuntime: async () => void closes++ };
    const a = shutdown.stop('SIGTERM', targets);
    const b = shutdown.stop('SIGINT', targets);
    expect(a).toBe(b);
    await a;
    expect(closes).toBe(1);
  });
});
