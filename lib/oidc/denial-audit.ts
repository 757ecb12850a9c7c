import type { AuditInput, Store } from '../store/types';
import type { Logger } from '../util/log';
import { addressKey } from './token-throttle';

/** One refused token request, as the audit log should learn of it. */
export interface Denial {
  /** A DenyReason, or 'rate_limited'. */
  reason: string;
  family_id: string | null;
  user_id: string | null;
  username: string | null;
  cluster: string | null;
  session_id: string | null;
  client_ip: string | null;
  request_id: string | null;
  /** Generation of the presented token, when known. */
  generation?: number;
}

interface Pending {
  first: Denial;
  count: number;
  /** Count per reason (e.g. family_revoked, then rate_limited once the family's bucket ran out). */
  reasons: Record<string, number>;
  first_at: number;
  last_at: number;
  client_ips: string[];
}

/** Distinct addresses listed per coalesced row. */
const MAX_ADDRESSES = 8;

/**
 * Coalesces refused token requests into audit rows, in memory: the refusal
 * path writes nothing, and 2 824 requests with one revoked token become one
 * `token.refresh_denied` row with `count: 2824` (and the count per reason).
 * Rows are written by `flush`, which the runtime calls on a timer and at
 * shutdown. Keyed by family (or, with no family, by client address); at
 * most `maxKeys` keys are held, and denials past that are counted and
 * reported in the log.
 */
export class DenialAudit {
  private pending = new Map<string, Pending>();
  private dropped = 0;
  private flushing: Promise<unknown> = Promise.resolve();

  constructor(private readonly maxKeys = 10_000) {}

  record(d: Denial, now: number): void {
    const key = d.family_id !== null ? `f\0${d.family_id}` : `a\0${addressKey(d.client_ip ?? undefined)}`;
    const p = this.pending.get(key);
    if (p) {
      p.count++;
      p.reasons[d.reason] = (p.reasons[d.reason] ?? 0) + 1;
      p.last_at = Math.max(p.last_at, now);
      if (d.client_ip !== null && p.client_ips.length < MAX_ADDRESSES && !p.client_ips.includes(d.client_ip)) p.client_ips.push(d.client_ip);
      return;
    }
    if (this.pending.size >= this.maxKeys) {
      this.dropped++;
      return;
    }
    this.pending.set(key, { first: d, count: 1, reasons: { [d.reason]: 1 }, first_at: now, last_at: now, client_ips: d.client_ip !== null ? [d.client_ip] : [] });
  }

  /** Coalesced rows waiting to be written. */
  get size(): number {
    return this.pending.size;
  }

  /** Takes every pending row out (for the log, when the store refuses them at shutdown). */
  drain(now: number): Array<AuditInput & { at: number }> {
    const rows = [...this.pending.values()].map((p) => ({ ...toAudit(p), at: now }));
    this.pending = new Map();
    return rows;
  }

  /**
   * Writes one audit row per coalesced key. Rows the store refuses (it is
   * unavailable) stay pending for the next flush. Flushes run one at a time.
   */
  flush(store: Pick<Store, 'appendAudit'>, now: number, log: Logger): Promise<void> {
    const run = this.flushing.then(() => this.flushOnce(store, now, log));
    this.flushing = run.catch(() => undefined);
    return run;
  }

  private async flushOnce(store: Pick<Store, 'appendAudit'>, now: number, log: Logger): Promise<void> {
    if (this.dropped > 0) {
      log.warn('token denials not audited: too many distinct credentials and addresses at once', { dropped: this.dropped });
      this.dropped = 0;
    }
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const entries = [...batch];
    // All at once: the SQLite store group-commits writes that queue together, so a
    // backlog costs a few transactions, not one fsync per row (and fits in a shutdown).
    const results = await Promise.allSettled(entries.map(([, p]) => store.appendAudit(toAudit(p), now)));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ entry: entries[i]!, reason: r.reason as unknown }] : []));
    if (failed.length === 0) return;
    // The store is unavailable: keep those rows for the next flush.
    for (const { entry: [key, rest] } of failed) this.putBack(key, rest);
    const err = failed[0]!.reason;
    log.warn('token denials not audited yet; retrying at the next flush', { error: err instanceof Error ? err.message : String(err), pending: this.pending.size });
  }

  private putBack(key: string, p: Pending): void {
    const newer = this.pending.get(key);
    if (!newer) {
      this.pending.set(key, p);
      return;
    }
    newer.count += p.count;
    for (const [reason, n] of Object.entries(p.reasons)) newer.reasons[reason] = (newer.reasons[reason] ?? 0) + n;
    newer.first_at = Math.min(newer.first_at, p.first_at);
    newer.first = p.first;
    for (const ip of p.client_ips) if (newer.client_ips.length < MAX_ADDRESSES && !newer.client_ips.includes(ip)) newer.client_ips.push(ip);
  }
}

function toAudit(p: Pending): AuditInput {
  const d = p.first;
  const details: Record<string, unknown> = { reason: d.reason, count: p.count, reasons: p.reasons, first_at: p.first_at, last_at: p.last_at };
  if (d.generation !== undefined) details.generation = d.generation;
  if (p.client_ips.length > 1) details.client_ips = p.client_ips;
  return {
    kind: 'token.refresh_denied',
    user_id: d.user_id,
    username: d.username,
    cluster: d.cluster,
    family_id: d.family_id,
    session_id: d.session_id,
    client_ip: d.client_ip,
    request_id: d.request_id,
    details,
  };
}
