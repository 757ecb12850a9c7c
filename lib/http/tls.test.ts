/**
 * Native TLS: the pair is checked at start with the path of the bad field,
 * and a changed pair is served without a restart while a broken one is
 * logged and the old one keeps serving. Real certificates (openssl) and a
 * real https listener.
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../../e2e/support/certs';
import { ConfigError } from '../config/load';
import { createLogger } from '../util/log';
import { createBoundedServer } from './http-server';
import { loadTlsPair, tlsAtStart, watchTlsFiles } from './tls';

let dir: string;
let pkiA: TestPki;
let pkiB: TestPki;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-tls-'));
  pkiA = await createTestPki(path.join(dir, 'a'));
  pkiB = await createTestPki(path.join(dir, 'b'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const settings = (cert_file: string, key_file: string) => ({ cert_file, key_file, min_version: 'TLSv1.2' as const, reload_interval: 1 });

/** The certificate a TLS client is served, verified against `ca`. */
function servedCertificate(port: number, ca: string): Promise<{ serial: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? '';
      socket.end();
      resolve({ serial });
    });
    socket.on('error', (err) => resolve({ serial: '', error: (err as NodeJS.ErrnoException).code ?? err.message }));
  });
}

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

describe('TLS pair at start', () => {
  it('accepts a certificate and its key, and summarises the certificate', () => {
    const leaf = pkiA.issue('start-ok');
    const { pair, summary, problems } = loadTlsPair(settings(leaf.certFile, leaf.keyFile));
    expect(problems).toEqual([]);
    expect(pair).toBeDefined();
    expect(summary).toMatchObject({ serial: serialOf(leaf.certPem) });
  });

  it('names the field of a missing file', () => {
    const leaf = pkiA.issue('start-missing');
    expect(() => tlsAtStart(settings(path.join(dir, 'nope.crt'), leaf.keyFile), 'kubegate.yaml')).toThrow(ConfigError);
    expect(loadTlsPair(settings(path.join(dir, 'nope.crt'), path.join(dir, 'nope.key'))).problems).toEqual([
      `server.tls.cert_file: cannot read ${path.join(dir, 'nope.crt')}: ENOENT`,
      `server.tls.key_file: cannot read ${path.join(dir, 'nope.key')}: ENOENT`,
    ]);
  });

  it('refuses a key that does not belong to the certificate, naming key_file', () => {
    const a = pkiA.issue('start-mismatch-a');
    const b = pkiA.issue('start-mismatch-b');
    const { problems } = loadTlsPair(settings(a.certFile, b.keyFile));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^server\.tls\.key_file: .* the key does not belong to the certificate/);
  });

  it('refuses a cert_file that is not a PEM certificate, or that holds the key', () => {
    const leaf = pkiA.issue('start-notpem');
    const junk = path.join(dir, 'junk.crt');
    fs.writeFileSync(junk, 'hello');
    expect(loadTlsPair(settings(junk, leaf.keyFile)).problems[0]).toMatch(/^server\.tls\.cert_file: .* is not a PEM certificate/);
    const bundle = path.join(dir, 'bundle.crt');
    fs.writeFileSync(bundle, leaf.certPem + leaf.keyPem);
    expect(loadTlsPair(settings(bundle, leaf.keyFile)).problems[0]).toMatch(/^server\.tls\.cert_file: .* holds a private key/);
  });
});

describe('TLS reload', () => {
  it('serves a replaced pair without a restart, and keeps the old one when the replacement is broken', async () => {
    const first = pkiA.issue('reload-first');
    const live = path.join(dir, 'live');
    fs.mkdirSync(live);
    const certFile = path.join(live, 'tls.crt');
    const keyFile = path.join(live, 'tls.key');
    fs.copyFileSync(first.certFile, certFile);
    fs.copyFileSync(first.keyFile, keyFile);
    const s = settings(certFile, keyFile);
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    const server = createBoundedServer(
      (_req, res) => res.end('ok'),
      { headersTimeoutMs: 2000, requestTimeoutMs: 4000, maxConnections: 10 },
      tlsAtStart(s, 'kubegate.yaml').options,
    ) as https.Server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const reloader = watchTlsFiles(server, s, log);
    try {
      expect(await servedCertificate(port, pkiA.caPem)).toEqual({ serial: serialOf(first.certPem) });

      // A new pair from another CA: served after the next check, no restart.
      const second = pkiB.issue('reload-second');
      fs.writeFileSync(certFile, second.certPem);
      fs.writeFileSync(keyFile, second.keyPem);
      reloader.check();
      expect(await servedCertificate(port, pkiB.caPem)).toEqual({ serial: serialOf(second.certPem) });
      expect((await servedCertificate(port, pkiA.caPem)).error).toBeDefined();
      expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toContainEqual(
        expect.objectContaining({ level: 'info', msg: 'tls certificate reloaded', serial: serialOf(second.certPem) }),
      );

      // A broken replacement (a certificate without its key): logged, and the second pair keeps serving.
      const third = pkiA.issue('reload-third');
      fs.writeFileSync(certFile, third.certPem);
      reloader.check();
      expect(await servedCertificate(port, pkiB.caPem)).toEqual({ serial: serialOf(second.certPem) });
      const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'warn');
      expect(warn).toMatchObject({ msg: 'tls certificate not reloaded; the previous one keeps serving' });
      expect(lines.join('\n')).not.toContain('PRIVATE KEY');

      // Its key arrives: now it loads.
      fs.writeFileSync(keyFile, third.keyPem);
      reloader.check();
      expect(await servedCertificate(port, pkiA.caPem)).toEqual({ serial: serialOf(third.certPem) });
    } finally {
      reloader.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
