import { describe, expect, it } from 'vitest';
import { GitHubApi, GitHubApiError } from './api';

const API = 'https://ghe.example.com/api/v3';

/** A fetch that answers from a table and records every URL asked (the token must go nowhere else). */
function fakeFetch(answer: (url: string) => Response) {
  const asked: string[] = [];
  const f = (async (input: string | URL | Request) => {
    const url = String(input instanceof Request ? input.url : input);
    asked.push(url);
    return answer(url);
  }) as typeof fetch;
  return { f, asked };
}

const json = (body: unknown, init: ResponseInit = {}) => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json', ...init.headers }, ...init });

async function failure(p: Promise<unknown>): Promise<GitHubApiError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(GitHubApiError);
  return err as GitHubApiError;
}

describe('GitHubApi', () => {
  it('never follows a next page off the configured API: the bearer token would go with it', async () => {
    const { f, asked } = fakeFetch(() => json([{ login: 'acme' }], { headers: { link: '<https://evil.example/api/v3/user/orgs?page=2>; rel="next"' } }));
    const err = await failure(new GitHubApi({ apiUrl: API, timeoutMs: 1000, fetch: f }).orgs('gho_secret'));
    expect(err.kind).toBe('invalid');
    expect(asked).toEqual([`${API}/user/orgs?per_page=100`]);
  });

  it('stops a server that paginates forever', async () => {
    let n = 0;
    const { f } = fakeFetch(() => json([], { headers: { link: `<${API}/user/teams?page=${++n + 1}>; rel="next"` } }));
    const err = await failure(new GitHubApi({ apiUrl: API, timeoutMs: 1000, fetch: f }).teams('t'));
    expect(err.message).toMatch(/more than 100 pages/);
  });

  it.each([
    ['401', () => new Response('{"message":"Bad credentials"}', { status: 401 }), 'unauthorized'],
    ['502', () => new Response('bad gateway', { status: 502 }), 'unavailable'],
    ['429', () => new Response('{}', { status: 429, headers: { 'retry-after': '60' } }), 'unavailable'],
    ['403, primary rate limit spent', () => new Response('{}', { status: 403, headers: { 'x-ratelimit-remaining': '0' } }), 'unavailable'],
    ['403, anything else', () => new Response('{"message":"Forbidden"}', { status: 403 }), 'invalid'],
    ['HTML instead of JSON', () => new Response('<html>proxy login</html>', { status: 200 }), 'invalid'],
    ['an id that is not a number', () => json({ id: '1001', login: 'alice' }), 'invalid'],
    ['no login', () => json({ id: 1001 }), 'invalid'],
    ['a redirect (the token must not follow it)', () => new Response(null, { status: 302, headers: { location: 'https://evil.example/' } }), 'invalid'],
  ] as const)('GET /user answered %s', async (_what, answer, kind) => {
    const { f } = fakeFetch(answer);
    expect((await failure(new GitHubApi({ apiUrl: API, timeoutMs: 1000, fetch: f }).user('t'))).kind).toBe(kind);
  });

  it('a token without user:email (404 on /user/emails) just has no email', async () => {
    const { f } = fakeFetch(() => new Response('{"message":"Not Found"}', { status: 404 }));
    expect(await new GitHubApi({ apiUrl: API, timeoutMs: 1000, fetch: f }).primaryVerifiedEmail('t')).toBeNull();
  });

  it('an unverified primary address is not used', async () => {
    const { f } = fakeFetch(() => json([{ email: 'x@example.com', primary: true, verified: false }]));
    expect(await new GitHubApi({ apiUrl: API, timeoutMs: 1000, fetch: f }).primaryVerifiedEmail('t')).toBeNull();
  });

  it('unknown fields are ignored, so a newer GitHub does not break sign-in', async () => {
    const { f } = fakeFetch(() => json({ id: 7, login: 'octocat', name: null, email: null, plan: { name: 'pro' }, new_field: [1] }));
    expect(await new GitHubApi({ apiUrl: API, timeoutMs: 1000, fetch: f }).user('t')).toMatchObject({ id: 7, login: 'octocat' });
  });
});
