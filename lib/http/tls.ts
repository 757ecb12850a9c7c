/**
 * Native TLS for installs without an ingress (config `server.tls`): the
 * certificate and key files are read and checked at start (a problem names
 * its field, like every config error), and watched afterwards: when either
 * file changes (cert-manager renewing a Secret, an operator copying a new
 * pair), the new pair is loaded into the running server with
 * `setSecureContext`, so new connections get it without a restart. A pair
 * that does not load (half written, key and certificate that do not match,
 * not PEM) is logged and the old one keeps serving.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import fs from 'node:fs';
import { ConfigError } from '../config/load';
import type { Logger } from '../util/log';

export interface TlsSettings {
  cert_file: string;
  key_file: string;
  min_version: 'TLSv1.2' | 'TLSv1.3';
  /** Seconds between checks of the files. */
  reload_interval: number;
}

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
}

/** What operators need to see of a certificate in a log line (never the key). */
export interface CertificateSummary {
  subject: string;
  issuer: string;
  serial: string;
  not_after: string;
  fingerprint256: string;
}

/** Both files read and checked: PEM, one certificate at least, and a key that belongs to it. */
export function loadTlsPair(tls: Pick<TlsSettings, 'cert_file' | 'key_file' | 'min_version'>): { pair?: TlsPair; summary?: CertificateSummary; problems: string[] } {
  const problems: string[] = [];
  const read = (file: string, field: string): Buffer | undefined => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      problems.push(`server.tls.${field}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return undefined;
    }
  };
  const cert = read(tls.cert_file, 'cert_file');
  const key = read(tls.key_file, 'key_file');
  if (!cert || !key) return { problems };
  let summary: CertificateSummary;
  try {
    if (!cert.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    const x = new X509Certificate(cert);
    summary = { subject: x.subject.replace(/\n/g, ', '), issuer: x.issuer.replace(/\n/g, ', '), serial: x.serialNumber, not_after: new Date(x.validTo).toISOString(), fingerprint256: x.fingerprint256 };
  } catch (err) {
    problems.push(`server.tls.cert_file: ${tls.cert_file} is not a PEM certificate (${(err as Error).message})`);
    return { problems };
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(cert.toString('latin1'))) {
    problems.push(`server.tls.cert_file: ${tls.cert_file} holds a private key; give the key in key_file and only certificates here`);
    return { problems };
  }
  try {
    createSecureContext({ cert, key, minVersion: tls.min_version });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = /KEY_VALUES_MISMATCH|key values mismatch/i.test(`${e.code} ${e.message}`) ? 'the key does not belong to the certificate in cert_file' : e.message;
    problems.push(`server.tls.key_file: ${tls.key_file} cannot be used: ${why}`);
    return { problems };
  }
  return { pair: { cert, key }, summary, problems };
}

/** At start: the pair, or a ConfigError naming the bad field. */
export function tlsAtStart(tls: TlsSettings, source: string): { options: SecureContextOptions; summary: CertificateSummary } {
  const { pair, summary, problems } = loadTlsPair(tls);
  if (!pair || !summary) throw new ConfigError(source, problems);
  return { options: secureOptions(pair, tls), summary };
}

export function secureOptions(pair: TlsPair, tls: Pick<TlsSettings, 'min_version'>): SecureContextOptions {
  return { cert: pair.cert, key: pair.key, minVersion: tls.min_version };
}

/**
 * A file's content digest: any change shows, whatever its modification time
 * (a Secret's symlink swap, a copy within the same clock tick). The files are
 * a few KiB, read every few seconds.
 */
function stamp(file: string): string {
  try {
    return createHash('sha256').update(fs.readFileSync(file)).digest('base64');
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
  }
}

export interface TlsReloader {
  /** Checks the files now (the timer does this every reload_interval). */
  check(): void;
  stop(): void;
}

/**
 * Polls the pair's files every `reload_interval` seconds and loads a changed
 * pair into `server`. A pair that fails to load is logged once per change
 * and the old one stays.
 */
export function watchTlsFiles(
  server: { setSecureContext(options: SecureContextOptions): void },
  tls: TlsSettings,
  log: Logger,
): TlsReloader {
  const seen = () => `${stamp(tls.cert_file)}|${stamp(tls.key_file)}`;
  let last = seen();
  const check = () => {
    const now = seen();
    if (now === last) return;
    last = now;
    const { pair, summary, problems } = loadTlsPair(tls);
    if (!pair) {
      log.warn('tls certificate not reloaded; the previous one keeps serving', { problems });
      return;
    }
    try {
      server.setSecureContext(secureOptions(pair, tls));
      log.info('tls certificate reloaded', { ...summary });
    } catch (err) {
      log.warn('tls certificate not reloaded; the previous one keeps serving', { problems: [(err as Error).message] });
    }
  };
  const timer = setInterval(check, tls.reload_interval * 1000);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
