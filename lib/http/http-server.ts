import http from 'node:http';
import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';

/** How long a slow client may hold a connection, and how many connections at most. */
export interface ServerLimits {
  /** Request line and headers must arrive within this (Node's default: 60 s). */
  headersTimeoutMs: number;
  /** The whole request, body included, within this (Node's default: 300 s). */
  requestTimeoutMs: number;
  /** Open connections at most; past it new ones are closed at once. */
  maxConnections: number;
  /** Idle keep-alive connections: longer than common load balancers' idle timeouts, so they close first. */
  keepAliveTimeoutMs?: number;
}

export function serverLimitsFromConfig(server: {
  timeouts: { headers: number; request: number };
  max_connections: number;
}): ServerLimits {
  return {
    headersTimeoutMs: server.timeouts.headers * 1000,
    requestTimeoutMs: server.timeouts.request * 1000,
    maxConnections: server.max_connections,
  };
}

/**
 * The process's one HTTP server, with tight bounds for slow clients. Node
 * enforces headersTimeout and requestTimeout only when it sweeps its
 * connections, every `connectionsCheckingInterval` (default 30 s, which
 * would add up to 30 s to each bound): the sweep runs at a quarter of the
 * shorter bound, at most once a second.
 */
export function createBoundedServer(listener: http.RequestListener, limits: ServerLimits, tls?: SecureContextOptions): http.Server | https.Server {
  const shortest = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const options: http.ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(shortest / 4))),
  };
  // TLS (lib/http/tls.ts): the same handler and bounds; a handshake gets the headers' bound too.
  const server = tls
    ? https.createServer({ ...options, ...tls, handshakeTimeout: limits.headersTimeoutMs }, listener)
    : http.createServer(options, listener);
  server.keepAliveTimeout = limits.keepAliveTimeoutMs ?? 65_000;
  server.maxConnections = limits.maxConnections;
  return server;
}
