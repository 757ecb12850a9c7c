import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from './certs';
import { startTlsProxy, type TlsProxy } from './tls-proxy';

describe('TLS reverse proxy', () => {
  let dir: string;
  let pki: TestPki;
  let backend: http.Server;
  let proxy: TlsProxy;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kubegate-tls-proxy-test-'));
    pki = await createTestPki(dir);
    backend = http.createServer((req, res) => {
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: first\n\n');
        setTimeout(() => res.end('data: last\n\n'), 150);
        return;
      }
      if (req.url === '/redirect') {
        res.writeHead(303, { location: '/next', 'set-cookie': ['a=1; Path=/; HttpOnly', 'b=2; Path=/'] });
        res.end();
        return;
      }
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        hash.update(c);
      });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, size, sha256: hash.digest('hex') }));
      });
    });
    backend.on('upgrade', (req, socket: Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
      socket.pipe(socket);
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    proxy = await startTlsProxy({
      target: `http://127.0.0.1:${(backend.address() as AddressInfo).port}`,
      tls: pki.issue('proxy'),
    });
  });

  afterAll(async () => {
    await proxy?.close();
    await new Promise<void>((r) => {
      backend?.close(() => r());
      backend?.closeAllConnections();
    });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function req(path: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer[] } = {}) {
    return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; firstChunkAt: number; endAt: number }>(
      (resolve, reject) => {
        const start = Date.now();
        const r = https.request(`${proxy.url}${path}`, { method: init.method ?? 'GET', headers: init.headers, ca: pki.caPem }, (res) => {
          let body = '';
          let firstChunkAt = -1;
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            if (firstChunkAt < 0) firstChunkAt = Date.now() - start;
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, firstChunkAt, endAt: Date.now() - start }));
        });
        r.on('error', reject);
        // stream the body in chunks
        (async () => {
          for (const chunk of init.body ?? []) {
            if (!r.write(chunk)) await new Promise((res) => r.once('drain', res));
          }
          r.end();
        })().catch(reject);
      },
    );
  }

  it('forwards a streamed POST body and sets X-Forwarded-* headers', async () => {
    const chunks = Array.from({ length: 32 }, () => randomBytes(64 * 1024));
    const expected = createHash('sha256');
    for (const c of chunks) expected.update(c);
    const r = await req('/api/things?x=1', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'x-forwarded-for': '10.9.8.7', 'x-custom': 'yes' },
      body: chunks,
    });
    expect(r.status).toBe(200);
    const echo = JSON.parse(r.body) as { method: string; url: string; headers: Record<string, string>; size: number; sha256: string };
    expect(echo.method).toBe('POST');
    expect(echo.url).toBe('/api/things?x=1');
    expect(echo.size).toBe(32 * 64 * 1024);
    expect(echo.sha256).toBe(expected.digest('hex'));
    expect(echo.headers['x-forwarded-proto']).toBe('https');
    expect(echo.headers['x-forwarded-host']).toBe(`127.0.0.1:${proxy.port}`);
    expect(echo.headers['x-forwarded-port']).toBe(String(proxy.port));
    expect(echo.headers.host).toBe(`127.0.0.1:${proxy.port}`);
    expect(echo.headers['x-forwarded-for']).toBe('10.9.8.7, 127.0.0.1');
    expect(echo.headers['x-custom']).toBe('yes');
  });

  it('streams responses and passes redirects and multiple Set-Cookie headers through', async () => {
    const s = await req('/stream');
    expect(s.body).toBe('data: first\n\ndata: last\n\n');
    expect(s.firstChunkAt).toBeLessThan(s.endAt - 100);

    const r = await req('/redirect');
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/next');
    expect(r.headers['set-cookie']).toEqual(['a=1; Path=/; HttpOnly', 'b=2; Path=/']);
  });

  it('forwards Upgrade (WebSocket-style) connections', async () => {
    const echoed = await new Promise<string>((resolve, reject) => {
      const r = https.request(`${proxy.url}/_next/webpack-hmr`, {
        ca: pki.caPem,
        headers: { connection: 'Upgrade', upgrade: 'echo' },
      });
      r.on('upgrade', (res, socket: Socket) => {
        expect(res.statusCode).toBe(101);
        socket.once('data', (d: Buffer) => {
          resolve(d.toString());
          socket.destroy();
        });
        socket.write('ping');
      });
      r.on('error', reject);
      r.end();
    });
    expect(echoed).toBe('ping');
  });

  it('answers 502 when the target is down', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const p = await startTlsProxy({ target: `http://127.0.0.1:${deadPort}`, tls: pki.issue('proxy2') });
    try {
      const r = await new Promise<number>((resolve, reject) => {
        https.get(`${p.url}/`, { ca: pki.caPem }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
      expect(r).toBe(502);
    } finally {
      await p.close();
    }
  });
});
