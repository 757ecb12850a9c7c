/**
 * Prometheus metrics against the built server: `metrics.port` opens a
 * listener of its own, a refresh and a sign-in show up in a scrape, and the
 * public listener never serves them.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition, type Sample } from '../../lib/metrics/exposition';
import { LOCAL_PASSWORD } from '../support/fixtures';
import { TestBrowser } from './support/browser';
import { kubectlRefresh } from './support/client';
import { freePort, KubegateServer, prepareKubegate } from './support/kubegate';
import { openSeeder, type Seeder } from './support/seed';

let server: KubegateServer;
let seeder: Seeder;
let metricsUrl: string;

beforeAll(async () => {
  const files = await prepareKubegate({}, 'kubegate-metrics-');
  const metricsPort = await freePort();
  const config = JSON.parse(fs.readFileSync(files.configPath, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(files.configPath, JSON.stringify({ ...config, metrics: { port: metricsPort, host: '127.0.0.1' } }, null, 2) + '\n', { mode: 0o600 });
  metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  server = new KubegateServer(files);
  await server.start();
  seeder = await openSeeder(files.configPath);
});

afterAll(async () => {
  await seeder?.close();
  await server?.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
});

async function scrape(): Promise<Sample[]> {
  const res = await fetch(metricsUrl);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? 0;

describe('GET /metrics on the metrics listener', () => {
  it('counts refreshes by result and cluster, token requests, their latency, store calls and the active families', async () => {
    const before = await scrape();
    const { refreshToken } = await seeder.mint('prod', await seeder.signIn('alice'));
    const first = await kubectlRefresh(server.url, 'kubernetes', '', refreshToken);
    expect(first.status).toBe(200);
    // kubectl's retry with the same token, within the reuse grace.
    expect((await kubectlRefresh(server.url, 'kubernetes', '', refreshToken)).status).toBe(200);
    expect((await kubectlRefresh(server.url, 'kubernetes', '', 'kgr_' + 'x'.repeat(43))).status).toBe(400);

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
    expect(delta('kubegate_refreshes_total', { result: 'issued', cluster: 'prod' })).toBe(1);
    expect(delta('kubegate_refreshes_total', { result: 'replayed_in_grace', cluster: 'prod' })).toBe(1);
    expect(delta('kubegate_refreshes_total', { result: 'invalid_token', cluster: '_none' })).toBe(1);
    expect(delta('kubegate_token_requests_total', { grant_type: 'refresh_token', status: '200' })).toBe(2);
    expect(delta('kubegate_token_requests_total', { grant_type: 'refresh_token', status: '400' })).toBe(1);
    expect(delta('kubegate_token_request_duration_seconds_count', { grant_type: 'refresh_token' })).toBe(3);
    expect(value(after, 'kubegate_token_request_duration_seconds_bucket', { grant_type: 'refresh_token', le: '+Inf' })).toBe(
      value(after, 'kubegate_token_request_duration_seconds_count', { grant_type: 'refresh_token' }),
    );
    expect(delta('kubegate_store_operation_duration_seconds_count', { operation: 'rotateRefreshToken' })).toBe(1);
    // The count is cached for 5 s after the first scrape above; within that it may still say 0.
    await expect.poll(async () => value(await scrape(), 'kubegate_active_refresh_token_families'), { timeout: 8000, interval: 500 }).toBe(1);
    // Process metrics, under the same prefix.
    expect(value(after, 'kubegate_process_resident_memory_bytes')).toBeGreaterThan(0);
    // No person, address or token in any label.
    const labelValues = after.flatMap((s) => Object.values(s.labels));
    expect(labelValues.filter((v) => /alice|192\.0\.2|127\.0\.0\.1|kgr_/.test(v))).toEqual([]);
  });

  it('counts portal sign-ins by upstream and result', async () => {
    const before = await scrape();
    await expect(new TestBrowser(server.url).signIn('alice', 'not the password')).rejects.toThrow(/sign-in as alice failed/);
    await new TestBrowser(server.url).signIn('alice', LOCAL_PASSWORD);
    const after = await scrape();
    const delta = (labels: Record<string, string>) => value(after, 'kubegate_sign_ins_total', labels) - value(before, 'kubegate_sign_ins_total', labels);
    expect(delta({ upstream: 'local', result: 'bad_credentials' })).toBe(1);
    expect(delta({ upstream: 'local', result: 'success' })).toBe(1);
  });

  it('serves nothing but /metrics there', async () => {
    expect((await fetch(metricsUrl.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(metricsUrl, { method: 'POST' })).status).toBe(405);
  });
});

describe('the public listener', () => {
  it('never serves metrics, whatever the client sends', async () => {
    for (const headers of [{}, { authorization: 'Bearer anything' }] as Record<string, string>[]) {
      const res = await fetch(`${server.url}/metrics`, { headers, redirect: 'manual' });
      const body = await res.text();
      expect(res.status).toBe(404);
      expect(body).not.toMatch(/kubegate_refreshes_total|# TYPE/);
    }
  });
});
