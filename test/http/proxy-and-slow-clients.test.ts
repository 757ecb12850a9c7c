/**
 * Behind a trusted reverse proxy (`server.trust_proxy: true`) and with short
 * timeouts, against the built server: the client address is the one the
 * proxy saw, the portal host is the one the browser used, and slow clients
 * are cut off within the configured bounds. Its own server (its config
 * differs from the shared one's).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, form, raw } from './support/client';
import { KubegateServer, prepareKubegate } from './support/kubegate';
import { openSeeder, type Seeder } from './support/seed';

let server: KubegateServer;
let seeder: Seeder;

beforeAll(async () => {
  server = new KubegateServer(
    await prepareKubegate({ server: { trust_proxy: true, timeouts: { headers: '1s', body: '1s', request: '2s' } } }, 'kubegate-proxy-'),
  );
  await server.start();
  seeder = await openSeeder(server.files.configPath);
});

afterAll(async () => {
  await seeder?.close();
  await server?.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
});

async function refreshVia(xff: string): Promise<string | null> {
  const minted = await seeder.mint('prod');
  const res = await raw(server.url, {
    method: 'POST',
    path: '/oidc/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('kubernetes', ''), 'x-forwarded-for': xff },
    body: form({ grant_type: 'refresh_token', refresh_token: minted.refreshToken }),
  });
  expect(res.status, res.body).toBe(200);
  const [event] = await seeder.store.listAudit({ limit: 1, familyId: minted.family.id, kind: 'token.refreshed' });
  return event!.client_ip;
}

describe('X-Forwarded-For behind one trusted proxy', () => {
  // Regression: the leftmost entry, which the client writes itself, became
  // its address: per-address limits were bypassed, audit rows showed any string.
  it('records the address the proxy appended, not the one the client forged before it', async () => {
    expect(await refreshVia('6.6.6.6, 203.0.113.9')).toBe('203.0.113.9');
  });

  it('falls back to the nearest valid hop when the entry is not an IP address', async () => {
    expect(await refreshVia('<script>alert(1)</script>')).toBe('127.0.0.1');
  });
});

describe('the portal host behind a trusted proxy', () => {
  it('is the X-Forwarded-Host the proxy set, whatever Host it forwarded', async () => {
    const issuerHost = new URL(server.url).host;
    const ok = await raw(server.url, { path: '/login', headers: { host: 'backend.internal:3000', 'x-forwarded-host': issuerHost, 'x-forwarded-proto': 'https' } });
    expect(ok.status).toBe(200);
    const other = await raw(server.url, { path: '/login', headers: { host: issuerHost, 'x-forwarded-host': 'portal.example.com' } });
    expect([other.status, other.headers.location]).toEqual([307, `${server.url}/login`]);
  });
});

/** Opens a raw connection; resolves with what the server sent and when it closed the connection. */
function slowClient(script: (s: net.Socket) => void): Promise<{ ms: number; received: string }> {
  const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
  const started = Date.now();
  let received = '';
  socket.on('data', (d) => (received += d.toString('latin1')));
  socket.on('error', () => {});
  socket.on('connect', () => script(socket));
  return new Promise((resolve) => socket.on('close', () => resolve({ ms: Date.now() - started, received })));
}

function dribble(s: net.Socket, first: string, more: string): void {
  s.write(first);
  const t = setInterval(() => (s.writable ? s.write(more) : clearInterval(t)), 100);
  s.on('close', () => clearInterval(t));
}

describe('slow clients (timeouts.headers 1s, body 1s, request 2s)', () => {
  it('closes a connection whose headers trickle in', async () => {
    const { ms, received } = await slowClient((s) => dribble(s, 'GET /oidc/jwks HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n'));
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeLessThan(2500);
  });

  it('answers 408 invalid_request to a token request whose body stalls', async () => {
    const { ms, received } = await slowClient((s) =>
      s.write('POST /oidc/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\ngrant_type=refresh_token'),
    );
    expect(ms).toBeLessThan(2500);
    const [head, body] = received.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408/);
    expect(JSON.parse(body!)).toEqual({ error: 'invalid_request', error_description: 'the request body did not arrive within 1 second' });
  });

  it('closes a portal request whose body trickles in', async () => {
    const { ms } = await slowClient((s) => dribble(s, 'POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n', 'a'));
    expect(ms).toBeLessThan(3500);
  });
});
