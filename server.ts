/**
 * Kubegate's process entry: one socket, two layers. Issuer endpoints
 * (discovery, JWKS, token, health) are answered by plain node:http handlers;
 * every other path goes to Next.js (the portal). See docs/architecture.md.
 */
import path from 'node:path';
import { canonicalForwardedHeaders } from './lib/config/auth-env';
import { ConfigError } from './lib/config/load';
import { createProxyTrust } from './lib/http/client-address';
import { createBoundedServer, serverLimitsFromConfig } from './lib/http/http-server';
import { createIssuerListener } from './lib/http/node-adapter';
import { createGracefulShutdown } from './lib/http/shutdown';
import { tlsAtStart, watchTlsFiles } from './lib/http/tls';
import { canonicalRedirect, isOwnRedirectRender, stampPortalRequest } from './lib/http/portal-request';
import { formActionOrigins } from './lib/upstream/registry';
import { createIssuerRoutes } from './lib/oidc/issuer-routes';
import { bootRuntime, setRuntime } from './lib/runtime-global';
import { createMetricsServer } from './lib/metrics';
import { createLogger, flushLogs, parseLevel, routeConsoleToLog, stdoutSink } from './lib/util/log';
import { watchOutputStreams } from './lib/util/output-streams';

const dev = process.argv.includes('--dev');
(process.env as Record<string, string | undefined>).NODE_ENV ??= dev ? 'development' : 'production';

// dist/server.mjs in production, ./server.ts under tsx: the project root either way.
const here = import.meta.dirname;
const projectDir = path.basename(here) === 'dist' ? path.dirname(here) : here;

async function main(): Promise<void> {
  const level = parseLevel(process.env.LOG_LEVEL);
  if (!level) {
    process.stderr.write(`kubegate: LOG_LEVEL must be one of debug, info, warn, error (got ${JSON.stringify(process.env.LOG_LEVEL)})\n`);
    process.exit(2);
  }
  const log = createLogger({ level });
  // stdout is JSON lines only in production (Next.js prints start-up notes with console.log).
  if (!dev) routeConsoleToLog(log);
  const { rt, location, issuerNotice } = await bootRuntime({ log });
  const { config } = rt;
  setRuntime(rt);
  // Native TLS (server.tls): the pair is checked before anything listens; lib/http/tls.ts.
  const tlsSettings = config.server.tls;
  const tls = tlsSettings ? tlsAtStart(tlsSettings, location.file) : undefined;
  const shutdown = createGracefulShutdown({ graceMs: config.server.shutdown_grace * 1000, log });

  const port = Number(process.env.PORT ?? 3000);
  const host = process.env.HOST ?? 'localhost';
  const { default: next } = await import('next');
  const app = next({ dev, dir: projectDir, hostname: host, port });
  await app.prepare();
  const handle = app.getRequestHandler();
  const proxy = createProxyTrust(config.server.trust_proxy);
  const issuerUrl = new URL(config.issuer.url);
  const issuer = createIssuerListener(createIssuerRoutes({ ...rt.issuerDeps, shuttingDown: () => shutdown.draining }), {
    log,
    proxy,
    bodyTimeoutMs: config.server.timeouts.body * 1000,
    accessLog: config.log.access,
  });
  const portal = {
    https: config.issuer.url.startsWith('https:'),
    dev,
    proxy,
    formActionOrigins: formActionOrigins(config),
    forwarded: canonicalForwardedHeaders(config.issuer.url),
  };
  const server = createBoundedServer(shutdown.wrap((req, res) => {
    if (issuer(req, res)) return;
    // The portal has one origin: a request under another host name goes there.
    const redirect = isOwnRedirectRender(req, { host, port }) ? undefined : canonicalRedirect(req, { issuer: issuerUrl, proxy });
    if (redirect) {
      res.writeHead(redirect.status, { location: redirect.location, 'cache-control': 'no-store', 'content-length': 0 });
      res.end();
      return;
    }
    stampPortalRequest(req, res, portal);
    void handle(req, res);
  }), serverLimitsFromConfig(config.server), tls?.options);
  const tlsReloader = tlsSettings ? watchTlsFiles(server as { setSecureContext: (o: object) => void }, tlsSettings, log) : undefined;
  server.on('error', (err: NodeJS.ErrnoException) => {
    const why = err.code === 'EADDRINUSE' ? 'the address is already in use (set PORT to another port)' : err.code === 'EACCES' ? 'permission denied' : err.message;
    process.stderr.write(`kubegate: cannot listen on ${host}:${port}: ${why}\n`);
    process.exit(1);
  });
  // Metrics have their own listener (config `metrics`), never the public one: lib/metrics.
  const metricsServer = config.metrics ? createMetricsServer(rt.metrics, log) : undefined;
  if (config.metrics && metricsServer) {
    const { port: mport, host: mhost } = config.metrics;
    if (mport === port) {
      process.stderr.write(`kubegate: metrics.port ${mport} is the port the portal listens on (PORT); give metrics a port of their own\n`);
      process.exit(2);
    }
    metricsServer.on('error', (err: NodeJS.ErrnoException) => {
      process.stderr.write(`kubegate: cannot listen for metrics on ${mhost}:${mport}: ${err.code === 'EADDRINUSE' ? 'the address is already in use' : err.message}\n`);
      process.exit(1);
    });
    metricsServer.listen(mport, mhost, () => log.info('metrics listening', { url: `http://${mhost}:${mport}/metrics` }));
  }
  server.listen(port, host, () => {
    log.info('kubegate listening', {
      url: `${tls ? 'https' : 'http'}://${host}:${port}`,
      issuer: config.issuer.url,
      config: location.file,
      ...(tls ? { tls_certificate: tls.summary } : {}),
    });
    process.stderr.write(issuerNotice + '\n');
    if (location.generated) {
      const { username, password } = location.generated;
      // stderr: after start-up, stdout carries only JSON log lines.
      process.stderr.write(
        [
          '',
          '  Kubegate is running on its embedded default.',
          `  Config:   ${location.file}`,
          `  Portal:   ${config.issuer.url}`,
          `  Sign in:  ${username} / ${password}`,
          '  This password is shown once; its hash is in the config file.',
          '',
        ].join('\n') + '\n',
      );
    }
  });

  // Graceful shutdown (lib/http/shutdown.ts): /readyz fails at once, open requests finish within
  // server.shutdown_grace, then the runtime writes pending audit rows and the store closes.
  let stopping = false;
  const stop = (reason: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    void shutdown
      .stop(reason, { server, closeRuntime: () => rt.close(), alsoStop: [() => metricsServer?.close(), () => tlsReloader?.stop()] })
      .catch((err: unknown) => log.error('shutdown failed', { error: err }))
      .finally(() => {
        flushLogs();
        process.exit(exitCode);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // A stdout or stderr whose reader went away (lib/util/output-streams.ts): stop as on SIGTERM, exit 1.
  watchOutputStreams({ stdout: process.stdout, stderr: process.stderr, 'stdout (log destination)': stdoutSink() }, (name) => stop(`${name} closed`, 1));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`kubegate: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`kubegate: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
