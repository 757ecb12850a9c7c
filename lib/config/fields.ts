import { z } from 'zod';
import { unpasteable } from '../kubeconfig/shells/guard';
import { parseDuration } from '../util/duration';

/** Field types shared by the config schema and the upstream connectors' schemas (lib/upstream/). */

export const duration = (what: string, min: number, max: number) =>
  z
    .union([z.number(), z.string()], {
      error: `${what} must be a duration such as "60s", "15m", "12h" or a number of seconds`,
    })
    .transform((value, ctx) => {
      const seconds = parseDuration(value);
      if (seconds === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a duration such as "60s", "15m", "12h" or a number of seconds (got ${JSON.stringify(value)})`,
        });
        return z.NEVER;
      }
      if (seconds < min || seconds > max) {
        ctx.addIssue({
          code: 'custom',
          message: `must be between ${min}s and ${max}s (got ${seconds}s)`,
        });
        return z.NEVER;
      }
      return seconds;
    });

/**
 * For values that reach the pasted kubectl commands and the kubeconfig
 * (server and issuer URLs, client secrets): refuse what no shell can carry
 * (line breaks, tabs and other C0/C1 controls, DEL, bidi controls, line
 * separators, lone surrogates: lib/kubeconfig/shells/guard.ts), so the
 * mistake is found at start-up, by its field, instead of as a failed page
 * for every user. (`"` and `,` are carried: kubectl reads each
 * --auth-provider-arg as a CSV field and the renderer quotes it; cmd.exe and
 * PowerShell then offer the download instead.)
 */
export const carriable = (text: string, ctx: z.core.$RefinementCtx<string>) => {
  const problem = unpasteable(text);
  if (problem) ctx.addIssue({ code: 'custom', message: `${problem}; kubectl commands and kubeconfigs cannot carry it` });
};

export const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** True for http(s) URLs; http only on loopback (development). */
export function isAcceptableIssuer(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL such as https://kubegate.example.com';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    return 'must be an https URL (kube-apiserver accepts only https issuers; http is allowed on localhost for development)';
  }
  // An empty `?` or `#` leaves search/hash empty but stays in the string kube-apiserver compares.
  if (url.search || url.hash || /[?#]/.test(raw)) return 'must not carry a query or fragment';
  if (url.username || url.password) return 'must not carry credentials';
  if (raw.endsWith('/')) return "must not end with '/' (kube-apiserver compares the issuer string exactly)";
  if (url.pathname !== '/') return 'must have no path: Kubegate serves its issuer and portal at the root of its own host name';
  return undefined;
}

// The URL parser drops tabs and line breaks that the raw string (what we write into kubeconfigs) keeps: check first.
export const issuerUrl = z.string().superRefine((raw, ctx) => {
  const problem = unpasteable(raw) ?? isAcceptableIssuer(raw);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const httpsUrl = z.string().superRefine((raw, ctx) => {
  const problem = unpasteable(raw);
  if (problem) {
    ctx.addIssue({ code: 'custom', message: `${problem}; kubectl commands and kubeconfigs cannot carry it` });
    return;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an https URL' });
    return;
  }
  if (url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must be an https URL' });
});

/** DNS-1123 label: safe in kubeconfig names, URLs and file names. */
export const dnsLabel = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
    'must be lower-case letters, digits and "-" (at most 63 characters, starting and ending with a letter or digit)',
  );

export const PEM_CERT_RE = /^-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\s*$/;
/** A CA bundle is copied into every user's kubeconfig: it must never carry a private key. */
export const PRIVATE_KEY_RE = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

export const certificateAuthority = z
  .strictObject({
    data: z
      .string()
      .trim()
      .regex(PEM_CERT_RE, 'must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)')
      .refine((pem) => !PRIVATE_KEY_RE.test(pem), 'holds a private key; give only the CA certificate')
      .optional(),
    file: z.string().min(1).optional(),
  })
  .refine((ca) => (ca.data === undefined) !== (ca.file === undefined), {
    message: 'give exactly one of "data" (PEM text) or "file" (path to a PEM file)',
    when: () => true,
  });

