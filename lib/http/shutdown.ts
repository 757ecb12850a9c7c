/**
 * Graceful shutdown (SIGTERM from Kubernetes, SIGINT from a terminal):
 *
 * 1. `draining` turns true at once, so /readyz answers 503 and a load
 *    balancer stops sending new requests here.
 * 2. The listener stops accepting connections. Requests already received
 *    (refreshes especially) run to the end and get their whole response,
 *    marked `Connection: close` so their connection ends after it;
 *    keep-alive connections with no request in flight are closed now and
 *    as they fall idle.
 * 3. When the last connection is gone, or after `graceMs` (config
 *    `server.shutdown_grace`) whichever is first, anything still open is
 *    cut, and `closeRuntime` runs (pending audit rows are written, then the
 *    store closes), itself bounded.
 */
import type http from 'node:http';
import type https from 'node:https';
import type { Logger } from '../util/log';

export interface ShutdownOptions {
  /** Longest wait for open requests to finish. */
  graceMs: number;
  log: Logger;
  /** Longest wait for closeRuntime (default 5 s). */
  closeTimeoutMs?: number;
  /** How often connections that fell idle are closed while draining (default 50 ms). */
  idleSweepMs?: number;
}

/** What a stop closes. */
export interface ShutdownTargets {
  server: http.Server | https.Server;
  /** Closes the runtime and the store after the listener (pending audit rows are written first). */
  closeRuntime: () => Promise<void>;
  /** Also stopped at the start: other listeners (metrics), watchers (TLS files). */
  alsoStop?: Array<() => void>;
}

export interface GracefulShutdown {
  /** True from the first signal on: /readyz reports not ready. */
  readonly draining: boolean;
  /** Wraps the request listener: while draining, every response ends its connection. */
  wrap(inner: http.RequestListener): http.RequestListener;
  /** Drains and closes; resolves when everything is closed (the caller exits). Idempotent. */
  stop(reason: string, targets: ShutdownTargets): Promise<{ cut: number }>;
}

const bounded = <T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> =>
  Promise.race([p, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref())]);

export function createGracefulShutdown(opts: ShutdownOptions): GracefulShutdown {
  const { log } = opts;
  let draining = false;
  let stopping: Promise<{ cut: number }> | undefined;

  // Responses not yet written when the drain begins get `Connection: close` too, so no client
  // sends another request on a connection that is about to close.
  const open = new Set<http.ServerResponse>();
  const forget = function (this: http.ServerResponse) {
    open.delete(this);
  };
  const wrap =
    (inner: http.RequestListener): http.RequestListener =>
    (req, res) => {
      // A request that arrived on an open connection during the drain is served, and its connection ends after it.
      if (draining) res.setHeader('connection', 'close');
      else {
        open.add(res);
        res.on('close', forget);
      }
      inner(req, res);
    };

  const run = async (reason: string, { server, closeRuntime, alsoStop = [] }: ShutdownTargets): Promise<{ cut: number }> => {
    const openConnections = () => new Promise<number>((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
    const started = Date.now();
    log.info('shutting down', { signal: reason, grace_ms: opts.graceMs });
    for (const stopOther of alsoStop) {
      try {
        stopOther();
      } catch (err) {
        log.warn('shutdown: stopping a helper failed', { error: err });
      }
    }
    for (const res of open) if (!res.headersSent) res.setHeader('connection', 'close');
    open.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // A connection whose response has just ended (written before the drain began) falls idle now and then.
    const sweep = setInterval(() => server.closeIdleConnections(), opts.idleSweepMs ?? 50);
    sweep.unref();
    let cut = 0;
    try {
      if ((await bounded(closed, opts.graceMs)) === 'timeout') {
        cut = await openConnections();
        log.warn('shutdown grace ended; closing connections still open', { connections: cut, grace_ms: opts.graceMs });
        server.closeAllConnections();
        await bounded(closed, 1000);
      }
    } finally {
      clearInterval(sweep);
    }
    const closeTimeoutMs = opts.closeTimeoutMs ?? 5000;
    try {
      if ((await bounded(closeRuntime(), closeTimeoutMs)) === 'timeout') {
        log.warn('shutdown: the runtime did not close in time', { timeout_ms: closeTimeoutMs });
      }
    } catch (err) {
      log.error('shutdown: closing the runtime failed', { error: err });
    }
    log.info('shut down', { signal: reason, ms: Date.now() - started, connections_cut: cut });
    return { cut };
  };

  return {
    get draining() {
      return draining;
    },
    wrap,
    stop(reason, targets) {
      draining = true;
      stopping ??= run(reason, targets);
      return stopping;
    },
  };
}
