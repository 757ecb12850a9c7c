import type { Logger } from '../util/log';
import type { PruneCounts, Store } from './types';

/**
 * Background pruning. What can never be used again is deleted in small
 * chunks, each its own short write transaction through the store's write
 * path, with the event loop free between chunks: requests' writes queue
 * behind at most one chunk.
 *
 * - Refresh tokens of families that ended (revoked, or past their absolute
 *   expiry): every one of them is refused anyway.
 * - NOT the spent tokens of a live family, even after the reuse grace window:
 *   a spent token presented later is how a stolen copy is detected (and the
 *   family revoked). They go when their family ends, so a family holds at
 *   most one session lifetime of rotations.
 * - Audit events older than `audit.retention`, and families and sign-ins
 *   that ended longer ago than that (the Sessions page shows the same span).
 */
export interface PruneSettings {
  /** `audit.retention`, ms. */
  retentionMs: number;
  /** Rows of each kind per chunk. */
  chunk?: number;
  /** Chunks per pass at most; the next pass goes on. */
  maxChunks?: number;
}

const DEFAULT_CHUNK = 500;
const DEFAULT_MAX_CHUNKS = 200;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One pruning pass at `now`: chunks until nothing is left (or maxChunks). Returns the totals. */
export async function prunePass(store: Store, now: number, s: PruneSettings, opts: { stopped?: () => boolean } = {}): Promise<PruneCounts> {
  const limit = s.chunk ?? DEFAULT_CHUNK;
  const total: PruneCounts = { tokens: 0, families: 0, sessions: 0, audit: 0, ephemeral: 0 };
  for (let i = 0; i < (s.maxChunks ?? DEFAULT_MAX_CHUNKS) && !opts.stopped?.(); i++) {
    const c = await store.prune({ now, retainAfter: now - s.retentionMs, limit });
    for (const k of Object.keys(total) as (keyof PruneCounts)[]) total[k] += c[k];
    if (Object.values(c).every((n) => n < limit)) break;
    await yieldToEventLoop();
  }
  return total;
}

export interface Maintenance {
  /** Runs a pass now (the timer's work); resolves when it is done. */
  runOnce(): Promise<PruneCounts | undefined>;
  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void>;
}

/**
 * Prunes every `intervalMs` (first after `firstDelayMs`), on an unref'd
 * timer: it never keeps the process alive. A failed pass (the database
 * busy or full) is logged and retried at the next interval.
 */
export function startMaintenance(
  store: Store,
  s: PruneSettings & { now: () => number; log: Logger; intervalMs: number; firstDelayMs?: number },
): Maintenance {
  let stopped = false;
  let running: Promise<PruneCounts | undefined> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const runOnce = (): Promise<PruneCounts | undefined> => {
    if (running) return running;
    running = prunePass(store, s.now(), s, { stopped: () => stopped })
      .then(
        (counts) => {
          if (Object.values(counts).some((n) => n > 0)) s.log.info('pruned the store', { ...counts });
          return counts;
        },
        (err: unknown) => {
          s.log.warn('pruning the store failed; retrying at the next interval', { error: err instanceof Error ? err.message : String(err) });
          return undefined;
        },
      )
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      void runOnce().then(() => schedule(s.intervalMs));
    }, delay);
    timer.unref();
  };
  schedule(s.firstDelayMs ?? s.intervalMs);

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
