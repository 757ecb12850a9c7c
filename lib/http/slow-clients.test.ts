/**
 * Slow clients, on real loopback sockets: a client that dribbles its
 * headers or its body, or just holds connections open, is cut off within
 * the configured bounds instead of Node's defaults (60 s for headers, 300 s
 * for the whole request, checked only every 30 s).
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { json } from '../oidc/http';
import { silentLogger } from '../util/log';
import { createProxyTrust } from './client-address';
import { createBoundedServer } from './http-server';
import { createIssuerListener } from './node-adapter';

const servers: http.Server[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

async function listen(server: http.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** Opens a raw connection; resolves with what the server sent and how long until it closed the connection. */
function rawClient(port: number, script: (socket: net.Socket) => void) {
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  const started = Date.now();
  let received = '';
  socket.on('data', (d) => (received += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<{ ms: number; received: string }>((resolve) => socket.on('close', () => resolve({ ms: Date.now() - started, received })));
  socket.on('connect', () => script(socket));
  return { socket, closed };
}

/** Writes `line` every `ms` until the socket closes. */
function dribble(socket: net.Socket, first: string, line: string, ms: number) {
  socket.write(first);
  const t = setInterval(() => {
    if (socket.destroyed || !socket.writable) clearInterval(t);
    else socket.write(line);
  }, ms);
  socket.on('close', () => clearInterval(t));
}

const ok: http.RequestListener = (_req, res) => {
  res.writeHead(200, { 'content-length': 2 });
  res.end('ok');
};

describe('the bounded server', () => {
  const limits = { headersTimeoutMs: 400, requestTimeoutMs: 800, maxConnections: 3 };

  it('closes a connection whose headers trickle in, within the headers bound', async () => {
    const port = await listen(createBoundedServer(ok, limits));
    const c = rawClient(port, (s) => dribble(s, 'GET / HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n', 50));
    const { ms, received } = await c.closed;
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeLessThan(400 + 2 * 100 + 300); // the bound, two sweeps, scheduling slack
  });

  it('closes a connection that never sends a byte', async () => {
    const port = await listen(createBoundedServer(ok, limits));
    const c = rawClient(port, () => {});
    const { ms } = await c.closed;
    expect(ms).toBeLessThan(800 + 2 * 100 + 300);
  });

  it('closes a request whose body trickles in, within the request bound', async () => {
    const port = await listen(createBoundedServer((req, res) => req.on('end', () => ok(req, res)).resume(), limits));
    const c = rawClient(port, (s) => dribble(s, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n', 'a', 50));
    const { ms, received } = await c.closed;
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeLessThan(800 + 2 * 100 + 300);
  });

  it('still serves an ordinary request', async () => {
    const port = await listen(createBoundedServer(ok, limits));
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
  });

  it('refuses connections past maxConnections, and takes new ones once some close', async () => {
    const port = await listen(createBoundedServer(ok, { ...limits, headersTimeoutMs: 5000, requestTimeoutMs: 5000 }));
    const held = [0, 1, 2].map(() => rawClient(port, (s) => s.write('GET / HTTP/1.1\r\n')));
    await new Promise((r) => setTimeout(r, 100));
    const extra = rawClient(port, (s) => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const { ms, received } = await extra.closed;
    expect(received).toBe('');
    expect(ms).toBeLessThan(1000);
    for (const h of held) h.socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
  });
});

describe('the issuer adapter', () => {
  const route = () => (req: { body: string }) => json(200, { got: req.body.length });

  it('answers 408 invalid_request and closes when a body stalls past the body deadline', async () => {
    // A plain server with Node's defaults: the adapter's own deadline must do it.
    const listener = createIssuerListener(route, { log: silentLogger, proxy: createProxyTrust(false), bodyTimeoutMs: 300 });
    const port = await listen(http.createServer((req, res) => void listener(req, res)));
    const c = rawClient(port, (s) => s.write('POST /oidc/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type'));
    const { ms, received } = await c.closed;
    expect(ms).toBeLessThan(300 + 700);
    const [head, body] = received.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408/);
    expect(head).toMatch(/cache-control: no-store/i);
    expect(head).toMatch(/connection: close/i);
    expect(JSON.parse(body!)).toEqual({ error: 'invalid_request', error_description: 'the request body did not arrive within 1 second' });
  });

  it('reads a body that arrives in time, even in pieces', async () => {
    const listener = createIssuerListener(route, { log: silentLogger, proxy: createProxyTrust(false), bodyTimeoutMs: 1000 });
    const port = await listen(http.createServer((req, res) => void listener(req, res)));
    const c = rawClient(port, (s) => {
      s.write('POST /oidc/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4\r\n\r\nab');
      setTimeout(() => s.write('cd'), 100);
    });
    const { received } = await c.closed;
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    expect(received).toContain('{"got":4}');
  });
});
