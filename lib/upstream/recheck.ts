/**
 * Identity kept fresh: at a refresh (and a portal page), a person whose last
 * upstream check is older than the upstream's `recheck_interval` is looked
 * at again through their connector's `recheck`, by their stable subject.
 *
 *   active        the fresh profile is stored and used at once (a group
 *                 removed upstream is gone from the next id_token);
 *   gone          disabled or deleted upstream: every login session of the
 *                 person, and with it every credential, is revoked
 *                 ('offboarded'), and the request is refused;
 *   unavailable   the last known identity is kept while the upstream has been
 *                 failing for less than `recheck_grace`, then requests are
 *                 refused (fail closed) without revoking anything, so the
 *                 person is back as soon as the upstream answers;
 *   not_supported (SAML) the stored profile stays; the session's absolute
 *                 lifetime bounds it.
 *
 * One process at a time asks about a person (coalesced in-process, and a
 * lease in the shared ephemeral records across replicas); an active answer
 * that arrives after the deadline is still stored, so a rotated upstream
 * refresh token is never lost.
 *
 * A connector without `recheck` is never asked and nothing is written. When
 * no check is due nothing is written either: the refresh path stays one read
 * and one write. Each check that runs is one grouped write with its audit
 * event (`user.rechecked` / `user.recheck_failed`).
 */
import { randomUUID } from 'node:crypto';
import { rowId, type KeyEncryptionKey } from '../crypto/kek';
import type { AuditInput, Store, User, UserProfile } from '../store/types';
import type { Logger } from '../util/log';
import type { ConnectorContext, RecheckOutcome, UpstreamBaseConfig } from './types';

export const DEFAULT_RECHECK_INTERVAL_SECONDS = 300;
export const DEFAULT_RECHECK_GRACE_SECONDS = 900;
/** Longest a refresh waits for the upstream; past it the check counts as unavailable. */
export const RECHECK_TIMEOUT_MS = 5000;
/** After a failed check, how long this process uses the stored verdict before asking the upstream again for the same person. */
export const RECHECK_RETRY_MS = 30_000;
/** People whose failed checks this process remembers for the retry pause (oldest dropped first). */
const MAX_RETRY_ENTRIES = 10_000;

/** The re-check settings of an upstream entry; an entry without them gets the defaults. */
export type RecheckSettings = Pick<UpstreamBaseConfig, 'id'> & Partial<Pick<UpstreamBaseConfig, 'recheck_interval' | 'recheck_grace'>>;

/** The part of a connector the engine uses (lib/upstream/types.ts ConnectorBase.recheck). */
export interface RecheckingConnector {
  recheck?(config: never, user: User, recheckState: string | null, ctx: ConnectorContext): Promise<RecheckOutcome>;
}

/** What a request does with the person. */
export type RecheckVerdict =
  /** Use this identity: freshly confirmed, or the last known one (not due, within the grace, not re-queryable). */
  | { status: 'active'; user: User }
  /** Disabled or deleted upstream: every session and credential of theirs has been revoked. */
  | { status: 'gone'; reason: string }
  /** The upstream has not answered for longer than the grace: refuse, revoke nothing. */
  | { status: 'unavailable'; reason: string };

const intervalMs = (s: RecheckSettings) => (s.recheck_interval ?? DEFAULT_RECHECK_INTERVAL_SECONDS) * 1000;
const graceMs = (s: RecheckSettings) => (s.recheck_grace ?? DEFAULT_RECHECK_GRACE_SECONDS) * 1000;

/**
 * Pure: is a check due at `now`? Never checked: yes. A last check in the
 * future (the clock stepped back) is due too: otherwise a step back would
 * silence re-checks for as long as it was.
 */
export function recheckDue(user: Pick<User, 'checked_at'>, settings: RecheckSettings, now: number): boolean {
  const checkedAt = user.checked_at ?? null;
  if (checkedAt === null) return true;
  const age = now - checkedAt;
  return age < 0 || age >= intervalMs(settings);
}

/** Pure: may the last known identity still be used, the upstream failing since `failingSince`? */
export function withinGrace(failingSince: number, settings: RecheckSettings, now: number): boolean {
  return now - failingSince < graceMs(settings);
}

export interface RecheckDeps {
  store: Pick<Store, 'getRecheckState' | 'recordRecheck' | 'listLoginSessions' | 'revokeLoginSession' | 'appendAudit' | 'putEphemeral'>;
  kek: Pick<KeyEncryptionKey, 'seal' | 'open'>;
  now: () => number;
  log: Logger;
  /** The connector of an upstream entry (lib/upstream/registry.ts connectorFor); undefined: none, nothing to ask. */
  connectorFor: (upstream: RecheckSettings) => RecheckingConnector | undefined;
  timeoutMs?: number;
  retryMs?: number;
}

/** Who asked, for the audit trail. */
export interface RecheckRequest {
  clientIp?: string | null;
  requestId?: string | null;
  cluster?: string | null;
}

function diff(before: readonly string[], after: readonly string[]) {
  return { groups_added: after.filter((g) => !before.includes(g)), groups_removed: before.filter((g) => !after.includes(g)) };
}

/** A message for the audit trail: an UpstreamRefusal's code and detail, or an error's name; never a stack or a secret. */
function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${typeof code === 'string' ? code : err.name}: ${err.message}`.slice(0, 300);
  }
  return 'the connector failed';
}

class RecheckTimeout extends Error {}

/** The ephemeral-record namespace of the per-person check lease. */
const RECHECK_LEASE = 'recheck_lease';

/** What the stored row says, without asking: the last known identity, unless it has been failing past the grace. */
function storedVerdict(upstream: RecheckSettings, user: User, now: number): RecheckVerdict {
  return user.check_failing_since != null && !withinGrace(user.check_failing_since, upstream, now)
    ? { status: 'unavailable', reason: 'the upstream did not answer' }
    : { status: 'active', user };
}

/**
 * The engine, one per process: it coalesces concurrent checks of the same
 * person (a kubeconfig with five clusters refreshes five times at once; the
 * upstream is asked once) and pauses retries of a failing check.
 */
export class Rechecker {
  private readonly inflight = new Map<string, Promise<RecheckVerdict>>();
  private readonly retryAt = new Map<string, number>();

  constructor(private readonly deps: RecheckDeps) {}

  /** Seals a connector's re-check state for this person, as sign-in stores it (bound to their upstream and subject). */
  readonly sealState = (person: Pick<UserProfile, 'upstream' | 'subject'>, state: string): Promise<string> =>
    this.deps.kek.seal(rowId.recheckState(person.upstream, person.subject), state);

  /** What to do with `user` now; asks the upstream only when a check is due. */
  async check(upstream: RecheckSettings, user: User, req: RecheckRequest = {}): Promise<RecheckVerdict> {
    const connector = this.deps.connectorFor(upstream);
    if (!connector?.recheck) return { status: 'active', user };
    const now = this.deps.now();
    if (!recheckDue(user, upstream, now)) return { status: 'active', user };
    const pausedUntil = this.retryAt.get(user.id);
    // Failed a moment ago: the stored verdict stands until the pause ends (audited when it was made).
    if (pausedUntil !== undefined && now < pausedUntil && user.check_failing_since != null) return storedVerdict(upstream, user, now);
    let running = this.inflight.get(user.id);
    if (!running) {
      running = this.run(upstream, connector, user, now, req).finally(() => this.inflight.delete(user.id));
      this.inflight.set(user.id, running);
    }
    return running;
  }

  private async run(upstream: RecheckSettings, connector: RecheckingConnector, user: User, now: number, req: RecheckRequest): Promise<RecheckVerdict> {
    const row = rowId.recheckState(user.upstream, user.subject);
    const audit: Omit<AuditInput, 'kind'> = {
      user_id: user.id,
      username: user.username,
      cluster: req.cluster ?? null,
      client_ip: req.clientIp ?? null,
      request_id: req.requestId ?? null,
    };
    // One asker per person across processes and replicas: a rotating upstream refresh token spent
    // twice would be taken for a revoked grant. The lease expires by itself; a check that ends
    // sooner moves checked_at, so nobody else finds it due.
    const timeoutMs = this.deps.timeoutMs ?? RECHECK_TIMEOUT_MS;
    const lease = await this.deps.store.putEphemeral(RECHECK_LEASE, user.id, randomUUID(), now + timeoutMs + 5000, now);
    if (!lease) return storedVerdict(upstream, user, now);
    const { outcome, late } = await this.ask(upstream, connector, user, row, req);

    switch (outcome.status) {
      case 'active': {
        const identity = outcome.identity;
        if (identity.upstream !== user.upstream || identity.subject !== user.subject) {
          // A connector bug or a look-up that found someone else: never take their identity.
          this.deps.log.error('upstream re-check answered for another subject; treated as unavailable', { upstream: upstream.id, user: user.username });
          return this.unavailable(upstream, user, now, audit, 'the upstream answered for another subject');
        }
        const sealed =
          outcome.recheckState === undefined ? undefined : outcome.recheckState === null ? null : await this.deps.kek.seal(row, outcome.recheckState);
        const profile: Pick<UserProfile, 'username' | 'email' | 'name' | 'groups'> = {
          username: identity.username,
          email: identity.email ?? null,
          name: identity.name ?? null,
          groups: identity.groups,
        };
        const stored = await this.deps.store.recordRecheck(user.id, { status: 'active', profile, recheckState: sealed }, now, {
          ...audit,
          kind: 'user.rechecked',
          username: identity.username,
          details: { upstream: upstream.id, result: 'active', ...diff(user.groups, identity.groups), reason: null },
        });
        this.retryAt.delete(user.id);
        return { status: 'active', user: stored ?? { ...user, ...profile, checked_at: now, check_failing_since: null, updated_at: now } };
      }
      case 'not_supported': {
        const stored = await this.deps.store.recordRecheck(user.id, { status: 'checked' }, now, {
          ...audit,
          kind: 'user.rechecked',
          details: { upstream: upstream.id, result: 'not_supported', groups_added: [], groups_removed: [], reason: null },
        });
        this.retryAt.delete(user.id);
        return { status: 'active', user: stored ?? { ...user, checked_at: now, check_failing_since: null } };
      }
      case 'gone':
        return this.gone(upstream, user, now, audit, outcome.reason);
      case 'unavailable': {
        const verdict = await this.unavailable(upstream, user, now, audit, outcome.reason);
        // The upstream may still answer after our deadline, having rotated its refresh token:
        // an active answer is kept, or the next check would present a spent token.
        late?.then(
          (o) => (o.status === 'active' && o.identity.subject === user.subject ? this.keepLate(upstream, user, o, audit) : undefined),
          () => undefined,
        );
        return verdict;
      }
    }
  }

  /** An active answer that came after the deadline: stored like any other (checked now, failing cleared). */
  private async keepLate(upstream: RecheckSettings, user: User, o: Extract<RecheckOutcome, { status: 'active' }>, audit: Omit<AuditInput, 'kind'>): Promise<void> {
    const row = rowId.recheckState(user.upstream, user.subject);
    try {
      const sealed = o.recheckState === undefined ? undefined : o.recheckState === null ? null : await this.deps.kek.seal(row, o.recheckState);
      const p = o.identity;
      await this.deps.store.recordRecheck(
        user.id,
        { status: 'active', profile: { username: p.username, email: p.email ?? null, name: p.name ?? null, groups: p.groups }, recheckState: sealed },
        this.deps.now(),
        { ...audit, kind: 'user.rechecked', details: { upstream: upstream.id, result: 'active', ...diff(user.groups, p.groups), reason: 'answered after the deadline' } },
      );
      this.retryAt.delete(user.id);
    } catch (err) {
      this.deps.log.error('could not store a late upstream re-check answer', { upstream: upstream.id, user: user.username, error: describeError(err) });
    }
  }

  /** The connector's answer within the time bound; a throw or a timeout is 'unavailable'. */
  private async ask(
    upstream: RecheckSettings,
    connector: RecheckingConnector,
    user: User,
    row: string,
    req: RecheckRequest,
  ): Promise<{ outcome: RecheckOutcome; late?: Promise<RecheckOutcome> }> {
    const { deps } = this;
    let state: string | null = null;
    const sealed = await deps.store.getRecheckState(user.id);
    if (sealed !== null) {
      try {
        state = await deps.kek.open(row, sealed);
      } catch (err) {
        // Altered or foreign ciphertext: asking without it could pass for a check it is not.
        deps.log.error('stored upstream re-check state cannot be opened', { upstream: upstream.id, user: user.username, error: describeError(err) });
        return { outcome: { status: 'unavailable', reason: 'the stored re-check state cannot be opened' } };
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const call = connector.recheck!(upstream as never, user, state, { now: deps.now, log: deps.log, clientIp: req.clientIp ?? null });
    // An answer after the deadline is dropped; its failure must not surface as an unhandled rejection.
    call.catch(() => undefined);
    try {
      const outcome = await Promise.race([
        call,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new RecheckTimeout()), deps.timeoutMs ?? RECHECK_TIMEOUT_MS);
        }),
      ]);
      return { outcome };
    } catch (err) {
      if (err instanceof RecheckTimeout) {
        return { outcome: { status: 'unavailable', reason: `no answer within ${(deps.timeoutMs ?? RECHECK_TIMEOUT_MS) / 1000} s` }, late: call };
      }
      deps.log.warn('upstream re-check failed', { upstream: upstream.id, user: user.username, error: describeError(err) });
      return { outcome: { status: 'unavailable', reason: describeError(err) } };
    } finally {
      clearTimeout(timer);
    }
  }

  private async gone(upstream: RecheckSettings, user: User, now: number, audit: Omit<AuditInput, 'kind'>, reason: string): Promise<RecheckVerdict> {
    const { store, log } = this.deps;
    let revoked = 0;
    // Every family hangs off a login session: revoking the sessions ends them all, each with its own audit row.
    for (const s of await store.listLoginSessions({ userId: user.id, activeAt: now })) {
      const done = await store.revokeLoginSession(s.id, 'offboarded', now, {
        ...audit,
        kind: 'user.offboarded',
        details: { by: 'recheck', upstream: upstream.id, reason },
      });
      if (done) revoked++;
    }
    // checked_at stays: anything of theirs that survived (a race with a new sign-in) is checked again.
    await store.appendAudit({
      ...audit,
      kind: 'user.rechecked',
      details: { upstream: upstream.id, result: 'gone', groups_added: [], groups_removed: [...user.groups], reason, sessions_revoked: revoked },
    }, now);
    this.retryAt.delete(user.id);
    log.info('upstream re-check: person gone upstream, every session revoked', { upstream: upstream.id, user: user.username, sessions_revoked: revoked });
    return { status: 'gone', reason };
  }

  private async unavailable(upstream: RecheckSettings, user: User, now: number, audit: Omit<AuditInput, 'kind'>, reason: string): Promise<RecheckVerdict> {
    const failingSince = user.check_failing_since ?? now;
    const kept = withinGrace(failingSince, upstream, now);
    await this.deps.store.recordRecheck(user.id, { status: 'unavailable' }, now, {
      ...audit,
      kind: 'user.recheck_failed',
      details: { upstream: upstream.id, result: 'unavailable', groups_added: [], groups_removed: [], reason, decision: kept ? 'kept' : 'refused', failing_since: failingSince },
    });
    this.pause(user.id, now);
    this.deps.log.warn('upstream re-check: upstream unavailable', { upstream: upstream.id, user: user.username, reason, decision: kept ? 'kept' : 'refused' });
    return kept ? { status: 'active', user: { ...user, check_failing_since: failingSince } } : { status: 'unavailable', reason };
  }

  private pause(userId: string, now: number): void {
    this.retryAt.delete(userId);
    if (this.retryAt.size >= MAX_RETRY_ENTRIES) this.retryAt.delete(this.retryAt.keys().next().value!);
    this.retryAt.set(userId, now + (this.deps.retryMs ?? RECHECK_RETRY_MS));
  }
}
