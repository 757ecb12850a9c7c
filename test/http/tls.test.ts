/**
 * Native TLS (server.tls) on the built server: discovery over https with the
 * test CA trusted, a replaced certificate served without a restart, a broken
 * replacement logged while the old certificate keeps serving, no plaintext on
 * the TLS port, and a start-up refusal naming the bad field.
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type IssuedCert, type TestPki } from '../../e2e/support/certs';
import { KubegateServer, prepareKubegate } from './support/kubegate';

let pkiDir: string;
let pkiA: TestPki;
let pkiB: TestPki;
let server: KubegateServer;
let certFile: string;
let keyFile: string;
let first: IssuedCert;

beforeAll(async () => {
  pkiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-tls-pki-'));
  pkiA = await createTestPki(path.join(pkiDir, 'a'));
  pkiB = await createTestPki(path.join(pkiDir, 'b'));
  first = pkiA.issue('first');
  const live = path.join(pkiDir, 'live');
  fs.mkdirSync(live);
  certFile = path.join(live, 'tls.crt');
  keyFile = path.join(live, 'tls.key');
  fs.copyFileSync(first.certFile, certFile);
  fs.copyFileSync(first.keyFile, keyFile);
  server = new KubegateServer(await prepareKubegate({ tls: { certFile, keyFile, caPem: pkiA.caPem, reloadInterval: '1s' } }, 'kubegate-tls-'));
  await server.start();
});

afterAll(async () => {
  await server?.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
  fs.rmSync(pkiDir, { recursive: true, force: true });
});

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

/** GET over https trusting only `ca`: the status, body and the serial of the certificate served. */
function httpsGet(pathname: string, ca: string): Promise<{ status: number; body: string; serial: string }> {
  const url = new URL(pathname, server.url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca, servername: 'localhost' }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? '';
      const req = http.request({ createConnection: () => socket, path: url.pathname, headers: { host: url.host } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), serial }));
      });
      req.on('error', reject);
      req.end();
    });
    socket.on('error', reject);
  });
}

async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch((e: unknown) => e as T);
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('native TLS', () => {
  it('serves discovery over https with the configured certificate, and nothing in plaintext', async () => {
    const r = await httpsGet('/.well-known/openid-configuration', pkiA.caPem);
    expect(r.status).toBe(200);
    expect(r.serial).toBe(serialOf(first.certPem));
    expect(JSON.parse(r.body)).toMatchObject({ issuer: server.url, token_endpoint: `${server.url}/oidc/token` });
    expect(server.url.startsWith('https://127.0.0.1:')).toBe(true);
    const plain = await fetch(server.url.replace('https:', 'http:') + '/healthz').then(
      (res) => res.status,
      () => 'refused',
    );
    expect(plain).not.toBe(200);
  });

  it('serves a replaced pair (another CA) without a restart, and keeps it when the next replacement is broken', async () => {
    const pid = server.pid;
    const second = pkiB.issue('second');
    fs.writeFileSync(keyFile, second.keyPem);
    fs.writeFileSync(certFile, second.certPem);
    const served = await eventually(
      () => httpsGet('/healthz', pkiB.caPem),
      (r) => r.serial === serialOf(second.certPem),
    );
    expect(served).toMatchObject({ status: 200, serial: serialOf(second.certPem) });
    expect(server.pid).toBe(pid);
    await expect(httpsGet('/healthz', pkiA.caPem)).rejects.toThrow();

    // A broken replacement: a certificate whose key never arrives. Logged; the second pair keeps serving.
    const warnings = () => fs.readFileSync(server.stdoutFile, 'utf8').split('\n').filter((l) => l.includes('tls certificate not reloaded'));
    const before = warnings().length;
    fs.writeFileSync(certFile, pkiA.issue('orphan').certPem);
    const warned = await eventually(
      async () => warnings(),
      (w) => w.length > before,
    );
    expect(warned.length).toBe(before + 1);
    expect(JSON.parse(warned.at(-1)!)).toMatchObject({ level: 'warn', problems: [expect.stringMatching(/^server\.tls\.key_file: .* the key does not belong to the certificate/)] });
    const still = await httpsGet('/.well-known/openid-configuration', pkiB.caPem);
    expect(still).toMatchObject({ status: 200, serial: serialOf(second.certPem) });
    expect(fs.readFileSync(server.logFile, 'utf8')).not.toContain('PRIVATE KEY');
  });

  it('refuses to start when a TLS file cannot be read, naming the field', async () => {
    const files = await prepareKubegate({ tls: { certFile, keyFile: path.join(pkiDir, 'missing.key'), caPem: pkiA.caPem } }, 'kubegate-tls-bad-');
    const bad = new KubegateServer(files);
    try {
      const err = await bad.start(30_000).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toMatch(/exited during start-up \(code 2/);
      expect(err?.message).toMatch(/server\.tls\.key_file: cannot read .*missing\.key: ENOENT/);
    } finally {
      await bad.stop();
    }
  });
});
