import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamRefusal } from '../types';
import { graphGroups } from './graph';

/**
 * The Graph client's guards, against a small HTTP stand-in whose answers each
 * test picks (the happy path with the real provider's access tokens runs in
 * against-oidc-provider.test.ts).
 */
type Route = (req: http.IncomingMessage, res: http.ServerResponse, base: string) => void;

let server: http.Server;
let base: string;
let route: Route = () => {};
const seen: Array<{ path: string; authorization?: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
    route(req, res, base);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const opts = (o: Partial<Parameters<typeof graphGroups>[0]> = {}) => ({ graphUrl: `${base}/graph`, groupName: 'id' as const, timeoutSeconds: 2, ...o });

async function refusal(p: Promise<unknown>): Promise<UpstreamRefusal> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamRefusal);
  return err as UpstreamRefusal;
}

describe('graphGroups', () => {
  it('follows next links on the Graph origin and sends the token there', async () => {
    route = (req, res, b) => {
      const url = new URL(req.url ?? '/', b);
      if (url.searchParams.get('$skiptoken') === '2') json(res, 200, { value: [{ id: 'g3', displayName: null }] });
      else json(res, 200, { value: [{ id: 'g1', displayName: 'One' }, { id: 'g2', displayName: 'Two' }], '@odata.nextLink': `${b}/graph/v1.0/me/transitiveMemberOf/microsoft.graph.group?$skiptoken=2` });
    };
    seen.length = 0;
    expect(await graphGroups(opts(), 'at-1')).toEqual(['g1', 'g2', 'g3']);
    expect(seen.map((s) => s.authorization)).toEqual(['Bearer at-1', 'Bearer at-1']);
    expect(seen[0]?.path).toBe('/graph/v1.0/me/transitiveMemberOf/microsoft.graph.group?%24select=id%2CdisplayName&%24top=999');
    // Display names where Graph gave one; the id where it did not (no permission to read that group).
    expect(await graphGroups(opts({ groupName: 'display_name' }), 'at-1')).toEqual(['One', 'Two', 'g3']);
  });

  it('never sends the token to a next link elsewhere', async () => {
    route = (_req, res) => json(res, 200, { value: [{ id: 'g1' }], '@odata.nextLink': 'https://attacker.example/graph/v1.0/steal' });
    const r = await refusal(graphGroups(opts(), 'at-1'));
    expect(r).toMatchObject({ code: 'invalid_response', detail: 'Microsoft Graph group lookup: a next page outside the configured graph_url was refused' });
    route = (_req, res, b) => json(res, 200, { value: [], '@odata.nextLink': `${b}/other/v1.0/me` });
    expect((await refusal(graphGroups(opts(), 'at-1'))).code).toBe('invalid_response');
  });

  it('does not follow redirects', async () => {
    route = (_req, res) => {
      res.writeHead(302, { location: 'https://attacker.example/' });
      res.end();
    };
    expect((await refusal(graphGroups(opts(), 'at-1'))).code).toBe('invalid_response');
  });

  it('stops a next link that loops forever', async () => {
    route = (req, res, b) => json(res, 200, { value: [{ id: 'g' }], '@odata.nextLink': `${b}${req.url}` });
    expect(await refusal(graphGroups(opts(), 'at-1'))).toMatchObject({ code: 'invalid_response', detail: 'Microsoft Graph: more than 100 pages of groups' });
  });

  it.each([
    [503, { error: { code: 'ServiceUnavailable' } }, 'unavailable'],
    [429, { error: { code: 'TooManyRequests' } }, 'unavailable'],
    [401, { error: { code: 'InvalidAuthenticationToken' } }, 'claims'],
    [403, { error: { code: 'Authorization_RequestDenied' } }, 'claims'],
    [404, { error: { code: 'Request_ResourceNotFound' } }, 'invalid_response'],
    [200, { value: [{ displayName: 'no id' }] }, 'invalid_response'],
    [200, { groups: [] }, 'invalid_response'],
  ])('answers %i %j: %s', async (status, body, code) => {
    route = (_req, res) => json(res, status, body);
    const r = await refusal(graphGroups(opts(), 'secret-token'));
    expect(r.code).toBe(code);
    expect(r.detail).not.toContain('secret-token');
  });

  it('a Graph that never answers is unavailable within the timeout', async () => {
    route = () => {};
    const started = Date.now();
    expect(await refusal(graphGroups(opts({ timeoutSeconds: 1 }), 'at'))).toMatchObject({ code: 'unavailable', detail: 'Microsoft Graph group lookup: the upstream timed out' });
    expect(Date.now() - started).toBeLessThan(2500);
  });
});
