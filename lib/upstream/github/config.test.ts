import { describe, expect, it } from 'vitest';
import { gitHubEndpoints, GitHubUpstreamSchema } from './config';

const minimal = { id: 'github', type: 'github', client_id: 'Iv1.0123456789abcdef', client_secret: 's3cret', orgs: [{ name: 'acme' }] };

const problems = (input: unknown) => {
  const r = GitHubUpstreamSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('github upstream config', () => {
  it('defaults to github.com, a 10 s timeout and the shared re-check settings', () => {
    const c = GitHubUpstreamSchema.parse(minimal);
    expect(c).toMatchObject({ base_url: 'https://github.com', timeout: 10, recheck_interval: 300, recheck_grace: 900, allow_insecure_http: false });
    expect(gitHubEndpoints(c)).toEqual({ web: 'https://github.com', api: 'https://api.github.com' });
  });

  it('a GitHub Enterprise Server base URL puts the API under /api/v3', () => {
    const c = GitHubUpstreamSchema.parse({ ...minimal, base_url: 'https://github.example.com/' });
    expect(gitHubEndpoints(c)).toEqual({ web: 'https://github.example.com', api: 'https://github.example.com/api/v3' });
  });

  it('an explicit api_url wins (GHE.com data residency)', () => {
    const c = GitHubUpstreamSchema.parse({ ...minimal, base_url: 'https://acme.ghe.com', api_url: 'https://api.acme.ghe.com/' });
    expect(gitHubEndpoints(c)).toEqual({ web: 'https://acme.ghe.com', api: 'https://api.acme.ghe.com' });
  });

  it('refuses an http base URL unless allow_insecure_http is set', () => {
    expect(problems({ ...minimal, base_url: 'http://127.0.0.1:9000' })).toEqual(['base_url: must be an https URL (set allow_insecure_http: true only for a lab)']);
    expect(problems({ ...minimal, base_url: 'http://127.0.0.1:9000', allow_insecure_http: true })).toEqual([]);
  });

  it('refuses a base URL with a path, query, credentials or a smuggled line break', () => {
    for (const base_url of ['https://ghe.example.com/github', 'https://ghe.example.com/?x=1', 'https://u:p@ghe.example.com', 'https://ghe.example.com\n/x', 'ghe.example.com']) {
      expect(problems({ ...minimal, base_url }), base_url).toHaveLength(1);
      expect(problems({ ...minimal, base_url })[0], base_url).toMatch(/^base_url: /);
    }
  });

  it('requires at least one org: anyone with a GitHub account could sign in otherwise', () => {
    expect(problems({ ...minimal, orgs: [] })).toEqual(['orgs: list at least one organization: anyone with a GitHub account could sign in otherwise']);
    expect(problems({ ...minimal, orgs: undefined })[0]).toMatch(/^orgs: /);
  });

  it('names each bad org and team field, every problem at once', () => {
    const got = problems({
      ...minimal,
      client_secret: '',
      orgs: [{ name: 'acme', teams: [] }, { name: '-bad-' }, { name: 'ACME' }, { name: 'ok', teams: ['sre', 'no spaces'] }, { name: 'x', team: ['typo'] }],
      timeout: '2h',
    });
    expect(got).toEqual(
      expect.arrayContaining([
        'client_secret: Too small: expected string to have >=1 characters',
        'orgs.0.teams: list at least one team slug, or omit "teams" to admit every member',
        'orgs.1.name: must be a GitHub organization login (letters, digits and single hyphens)',
        'orgs.2.name: "ACME" is listed twice (GitHub logins ignore case)',
        'orgs.3.teams.1: must be a team slug as in the team URL (letters, digits, ".", "_" and "-")',
        'orgs.4: Unrecognized key: "team"',
        'timeout: must be between 1s and 60s (got 7200s)',
      ]),
    );
    expect(got).toHaveLength(7);
  });

  it('an org listed twice (GitHub logins ignore case) is a mistake', () => {
    expect(problems({ ...minimal, orgs: [{ name: 'acme' }, { name: 'ACME', teams: ['sre'] }] })).toEqual(['orgs.1.name: "ACME" is listed twice (GitHub logins ignore case)']);
  });
});
