/**
 * Refresh chains under load for the fault tests: each chain is one kubectl
 * user refreshing in a loop with the refresh_token its previous answer
 * returned, and remembering exactly what it received, so that a test can
 * compare the database with what clients hold after a crash or a full disk.
 */
import http from 'node:http';
import Database from 'better-sqlite3';
import { hashRefreshToken } from '../../../lib/oidc/refresh-tokens';
import { basic, form } from './client';

export interface Chain {
  family: string;
  /** The last refresh_token this client received (or was minted). */
  token: string;
  /** Refreshes answered 200: the generation of `token`. */
  done: number;
  /** The token sent in a request that got no answer at all (connection reset or refused), if the last one did. */
  unanswered: string | undefined;
  /** Every status seen, with the body of anything but 200. */
  statuses: Map<number, number>;
  /** Answers that break the contract under test (set by the caller's `check`). */
  violations: string[];
}

export function newChain(family: string, token: string): Chain {
  return { family, token, done: 0, unanswered: undefined, statuses: new Map(), violations: [] };
}

export interface RefreshAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
}

/** kubectl's refresh (Basic auth for the public client `kubernetes`) on a keep-alive agent. */
export function refreshOn(agent: http.Agent, base: string, token: string, clientId = 'kubernetes'): Promise<RefreshAnswer> {
  const url = new URL('/oidc/token', base);
  const body = form({ grant_type: 'refresh_token', refresh_token: token });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { authorization: basic(clientId, ''), 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // left empty
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One refresh of `chain`: a 200 advances it; no answer at all records the
 * token as `unanswered` (its fate is for the database to tell); other
 * statuses are counted and passed to the caller.
 */
export async function step(agent: http.Agent, base: string, chain: Chain): Promise<RefreshAnswer | undefined> {
  const sent = chain.token;
  let r: RefreshAnswer;
  try {
    r = await refreshOn(agent, base, sent);
  } catch {
    chain.unanswered = sent;
    return undefined;
  }
  chain.unanswered = undefined;
  chain.statuses.set(r.status, (chain.statuses.get(r.status) ?? 0) + 1);
  if (r.status === 200) {
    const next = r.json.refresh_token;
    if (typeof next !== 'string' || typeof r.json.id_token !== 'string') chain.violations.push(`200 without tokens: ${r.body.slice(0, 200)}`);
    else {
      chain.token = next;
      chain.done++;
    }
  }
  return r;
}

/**
 * Runs every chain in a loop (one request at a time per chain, as one
 * kubectl does) until `until()` is true; `onAnswer` sees every answer.
 * A chain whose request got no answer stops (its server is gone).
 */
export async function drive(
  agent: http.Agent,
  base: string,
  chains: Chain[],
  until: () => boolean,
  onAnswer: (chain: Chain, r: RefreshAnswer) => Promise<void> | void = () => {},
): Promise<void> {
  await Promise.all(
    chains.map(async (chain) => {
      while (!until()) {
        const r = await step(agent, base, chain);
        if (!r) return;
        await onAnswer(chain, r);
      }
    }),
  );
}

export interface FamilyChain {
  generation: number;
  revoked_at: number | null;
  revoke_reason: string | null;
  /** Unused tokens: a sound family has exactly one, at the family's generation. */
  live: Array<{ hash: string; generation: number }>;
}

/** Every family's state, straight from the SQLite file (read-only, a fresh connection). */
export function readFamilyChains(dbPath: string): Map<string, FamilyChain> {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const families = db.prepare('select id, generation, revoked_at, revoke_reason from families').all() as Array<{
      id: string;
      generation: number;
      revoked_at: number | null;
      revoke_reason: string | null;
    }>;
    const live = db.prepare('select family_id, hash, generation from refresh_tokens where used_at is null').all() as Array<{
      family_id: string;
      hash: string;
      generation: number;
    }>;
    const out = new Map<string, FamilyChain>(families.map((f) => [f.id, { generation: f.generation, revoked_at: f.revoked_at, revoke_reason: f.revoke_reason, live: [] }]));
    for (const t of live) out.get(t.family_id)?.live.push({ hash: t.hash, generation: t.generation });
    return out;
  } finally {
    db.close();
  }
}

/**
 * Why a family is not exactly what its client holds (undefined: it is):
 * not revoked, one live token, which is the client's, at generation `done`.
 */
export function chainDefect(chain: Chain, f: FamilyChain | undefined): string | undefined {
  if (!f) return 'family missing';
  if (f.revoked_at !== null) return `family revoked (${f.revoke_reason})`;
  if (f.live.length !== 1) return `${f.live.length} live tokens`;
  const [head] = f.live;
  if (head!.hash !== hashRefreshToken(chain.token)) return `the live token (generation ${head!.generation}) is not the one the client holds (generation ${chain.done})`;
  if (head!.generation !== chain.done || f.generation !== chain.done) return `generation ${f.generation} (head ${head!.generation}), the client refreshed ${chain.done} times`;
  return undefined;
}
