/**
 * Throwaway PKI for e2e tests, made with the openssl CLI.
 *
 * - One self-signed CA (EC P-256, basicConstraints critical CA:TRUE, keyUsage keyCertSign/cRLSign).
 * - Leaf server certificates signed by it (EC P-256, CA:FALSE, keyUsage digitalSignature,
 *   extendedKeyUsage serverAuth+clientAuth) whose subjectAltName always contains
 *   IP:127.0.0.1, IP:::1 and DNS:localhost plus any extra hosts given.
 *
 * Go (kubectl, kube-apiserver) ignores the CN and only looks at SANs, and rejects a CA
 * without basicConstraints CA:TRUE, so both are set explicitly via our own config file
 * instead of relying on the distribution's openssl.cnf defaults.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface IssuedCert {
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  caPem: string;
  caFile: string;
  /** Also exposed for tests that need to sign something else with the CA. */
  caKeyFile: string;
  issue(name: string, hosts?: string[]): IssuedCert;
}

const OPENSSL = process.env.OPENSSL_BIN ?? '/usr/bin/openssl';
const DEFAULT_HOSTS = ['127.0.0.1', '::1', 'localhost'];

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f; // positive, Go rejects negative serials
  return `0x${b.toString('hex')}`;
}

function safeName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]/g, '_');
  if (!s || s.startsWith('.')) throw new Error(`bad certificate name: ${name}`);
  return s;
}

export async function createTestPki(dir: string): Promise<TestPki> {
  mkdirSync(dir, { recursive: true });
  const caKeyFile = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  const caCnf = join(dir, 'ca.cnf');

  writeFileSync(
    caCnf,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      'x509_extensions = v3_ca',
      '[dn]',
      'CN = Kubegate e2e test CA',
      'O = Kubegate e2e',
      '[v3_ca]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign, digitalSignature',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );

  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', caKeyFile], dir);
  openssl(
    [
      'req', '-x509', '-new', '-config', caCnf, '-key', caKeyFile, '-sha256',
      '-days', '30', '-set_serial', serial(), '-out', caFile,
    ],
    dir,
  );
  const caPem = readFileSync(caFile, 'utf8');

  function issue(name: string, hosts: string[] = []): IssuedCert {
    const base = safeName(name);
    const keyFile = join(dir, `${base}.key`);
    const csrFile = join(dir, `${base}.csr`);
    const certFile = join(dir, `${base}.crt`);
    const cnf = join(dir, `${base}.cnf`);

    const all = [...new Set([...DEFAULT_HOSTS, ...hosts])];
    const san = all
      .map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`))
      .join(', ');

    writeFileSync(
      cnf,
      [
        '[req]',
        'distinguished_name = dn',
        'prompt = no',
        '[dn]',
        `CN = ${all.find((h) => !isIP(h)) ?? 'localhost'}`,
        'O = Kubegate e2e',
        '[v3_leaf]',
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature', // EC key: no keyEncipherment
        'extendedKeyUsage = serverAuth, clientAuth',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid:always',
        `subjectAltName = ${san}`,
        '',
      ].join('\n'),
    );

    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile], dir);
    openssl(['req', '-new', '-config', cnf, '-key', keyFile, '-sha256', '-out', csrFile], dir);
    openssl(
      [
        'x509', '-req', '-in', csrFile, '-CA', caFile, '-CAkey', caKeyFile, '-set_serial', serial(),
        '-days', '30', '-sha256', '-extfile', cnf, '-extensions', 'v3_leaf', '-out', certFile,
      ],
      dir,
    );

    return {
      certPem: readFileSync(certFile, 'utf8'),
      keyPem: readFileSync(keyFile, 'utf8'),
      certFile,
      keyFile,
    };
  }

  return { caPem, caFile, caKeyFile, issue };
}
