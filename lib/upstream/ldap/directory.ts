import fs from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import { Client, type Filter, InvalidCredentialsError, ResultCodeError } from 'ldapts';
import { UpstreamRefusal } from '../types';
import type { LdapEntry } from './identity';
import type { LdapUpstreamConfig } from './schema';

/**
 * Connections to the directory. One connection per sign-in or re-check,
 * closed (unbind, then the socket destroyed) in a `finally`, whatever
 * happened; every step has a bound, so a directory that is down or silent
 * becomes UpstreamRefusal('unavailable') within the configured timeouts.
 *
 * ldapts bounds the TCP connect (and the ldaps handshake) with
 * `connectTimeout` and each operation with `timeout`; the StartTLS handshake
 * after the extended operation has no bound of its own there, so it gets one
 * here.
 */

type ConnectionConfig = Pick<LdapUpstreamConfig, 'url' | 'start_tls' | 'certificate_authority' | 'connect_timeout' | 'timeout'>;

async function caPem(config: ConnectionConfig): Promise<string | undefined> {
  const ca = config.certificate_authority;
  if (!ca) return undefined;
  if (ca.data !== undefined) return ca.data;
  try {
    return await fs.readFile(ca.file!, 'utf8');
  } catch (err) {
    throw new UpstreamRefusal('unavailable', `cannot read certificate_authority.file ${ca.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** The service account's password: inline (usually `${ENV}`), or read from its file at each connection. */
export async function bindPassword(config: Pick<LdapUpstreamConfig, 'bind_password' | 'bind_password_file'>): Promise<string> {
  if (config.bind_password !== undefined) return config.bind_password;
  let text: string;
  try {
    text = await fs.readFile(config.bind_password_file!, 'utf8');
  } catch (err) {
    throw new UpstreamRefusal('unavailable', `cannot read bind_password_file ${config.bind_password_file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new UpstreamRefusal('unavailable', `bind_password_file ${config.bind_password_file} is empty`);
  return password;
}

/** What went wrong talking to the directory, for the audit trail (never a password: ldapts does not put one in messages). */
export function describe(err: unknown): string {
  if (err instanceof ResultCodeError) return `LDAP result ${err.code}: ${err.message}`;
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ? `${(err as NodeJS.ErrnoException).code}: ${err.message}` : err.message;
  return String(err);
}

function unavailable(what: string, err: unknown): UpstreamRefusal {
  if (err instanceof UpstreamRefusal) return err;
  return new UpstreamRefusal('unavailable', `${what}: ${describe(err)}`);
}

async function within<T>(ms: number, work: Promise<T>, onTimeout: () => void, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** An open connection; `search` returns entries only (referrals are not followed). */
export interface Connection {
  bind(dn: string, password: string): Promise<void>;
  /** `paged`: ask in pages (RFC 2696), so a person in more groups than the server's size limit (AD: 1000) still gets them all. */
  search(base: string, opts: { scope: 'base' | 'one' | 'sub'; filter: Filter; attributes: string[]; sizeLimit?: number; binary?: string[]; paged?: boolean }): Promise<LdapEntry[]>;
}

/**
 * Opens a connection (StartTLS first when configured), runs `work`, and
 * always closes it. Anything that is not already an UpstreamRefusal
 * (refused connection, timeout, TLS failure, an LDAP error) becomes
 * 'unavailable', named after the step that failed.
 */
export async function withConnection<T>(config: ConnectionConfig, work: (conn: Connection) => Promise<T>): Promise<T> {
  const url = new URL(config.url);
  const ca = await caPem(config);
  const tlsOptions: ConnectionOptions = {
    minVersion: 'TLSv1.2',
    // Node checks the certificate against `host` (servername is only for SNI, and not an IP address).
    host: url.hostname.replace(/^\[|\]$/g, ''),
    ...(ca ? { ca: [ca] } : {}),
  };
  const client = new Client({
    url: config.url,
    connectTimeout: config.connect_timeout * 1000,
    timeout: config.timeout * 1000,
    // ldapts speaks TLS from the first byte whenever tlsOptions is given, also for ldap://.
    ...(url.protocol === 'ldaps:' ? { tlsOptions } : {}),
    strictDN: false,
  });
  const close = () => {
    // unbind() writes the request and destroys the socket; it never waits for an answer.
    void client.unbind().catch(() => undefined);
  };
  try {
    if (config.start_tls) {
      try {
        await within(config.connect_timeout * 1000 + config.timeout * 1000, client.startTLS(tlsOptions), close, 'StartTLS');
      } catch (err) {
        throw unavailable('StartTLS failed', err);
      }
    }
    const conn: Connection = {
      bind: (dn, password) => client.bind(dn, password),
      search: async (base, opts) => {
        const { searchEntries } = await client.search(base, {
          scope: opts.scope,
          filter: opts.filter,
          attributes: opts.attributes,
          sizeLimit: opts.sizeLimit ?? 0,
          timeLimit: config.timeout,
          explicitBufferAttributes: opts.binary ?? [],
          ...(opts.paged ? { paged: { pageSize: 500 } } : {}),
        });
        return searchEntries as LdapEntry[];
      },
    };
    return await work(conn);
  } catch (err) {
    throw unavailable('directory', err);
  } finally {
    try {
      await client.unbind();
    } catch {
      // Closing is best effort: the socket is destroyed either way.
    }
  }
}

export function isInvalidCredentials(err: unknown): err is InvalidCredentialsError {
  return err instanceof InvalidCredentialsError;
}
