import { redact, scrubTokens, writeStdoutLine } from '../util/log';
import type { AuditEvent } from './types';

/**
 * One committed audit event as a JSON line, beside the process's log lines
 * on stdout (lib/util/log.ts's shape: `time`, `level`, `msg`), marked
 * `"audit": true` so a log shipper can route the audit trail on its own.
 * `at` is when the event happened (the store's clock), `time` when it was
 * printed. Details never hold a token or secret (the store's contract);
 * they are redacted like log fields all the same.
 */
export function auditJsonLine(e: AuditEvent): string {
  return JSON.stringify({
    time: new Date().toISOString(),
    level: 'info',
    msg: 'audit',
    audit: true,
    id: e.id,
    kind: e.kind,
    at: new Date(e.at).toISOString(),
    user_id: e.user_id,
    username: e.username,
    cluster: e.cluster,
    family_id: e.family_id,
    session_id: e.session_id,
    client_ip: e.client_ip,
    request_id: e.request_id,
    details: redact(e.details),
  });
}

/**
 * The store's audit listener when `audit.stdout` is on (the default): every
 * event whose transaction committed, printed whatever the log level, since
 * the audit trail is not a diagnostic that a quieter level may drop. It goes
 * through the log's stdout destination, so log and audit lines never mix
 * inside a line.
 */
export function printAuditEvent(e: AuditEvent, write?: (line: string) => void): void {
  // writeStdoutLine scrubs the lines of a turn together, in one pass.
  if (write) write(scrubTokens(auditJsonLine(e)));
  else writeStdoutLine(auditJsonLine(e));
}
