import { describe, expect, it } from 'vitest';
import { groupsFor, type Memberships } from './groups';

const member = (orgs: string[], teams: Array<[org: string, slug: string]>): Memberships => ({
  orgs: orgs.map((login) => ({ login })),
  teams: teams.map(([org, slug]) => ({ slug, organization: { login: org } })),
});

describe('groupsFor', () => {
  const cases: Array<{ name: string; rules: Parameters<typeof groupsFor>[0]; m: Memberships; want: string[] | 'refused' }> = [
    {
      name: 'org without a team filter: the org and every team of theirs in it',
      rules: [{ name: 'acme' }],
      m: member(['acme'], [['acme', 'platform'], ['acme', 'sre']]),
      want: ['acme', 'acme/platform', 'acme/sre'],
    },
    {
      name: 'a member of no team still gets the org',
      rules: [{ name: 'acme' }],
      m: member(['acme'], []),
      want: ['acme'],
    },
    {
      name: 'orgs and teams outside the config never reach a token',
      rules: [{ name: 'acme' }],
      m: member(['acme', 'hobby'], [['acme', 'sre'], ['hobby', 'admins']]),
      want: ['acme', 'acme/sre'],
    },
    {
      name: 'outside every configured org: refused',
      rules: [{ name: 'acme' }],
      m: member(['hobby'], [['hobby', 'admins']]),
      want: 'refused',
    },
    {
      name: 'a team filter maps only the listed teams',
      rules: [{ name: 'acme', teams: ['platform'] }],
      m: member(['acme'], [['acme', 'platform'], ['acme', 'sre']]),
      want: ['acme', 'acme/platform'],
    },
    {
      name: 'a team filter refuses an org member in none of the listed teams',
      rules: [{ name: 'acme', teams: ['platform'] }],
      m: member(['acme'], [['acme', 'sre']]),
      want: 'refused',
    },
    {
      name: 'a team in the org is not enough without the org membership itself',
      rules: [{ name: 'acme' }],
      m: member([], [['acme', 'sre']]),
      want: 'refused',
    },
    {
      name: 'a same-named team in another org does not pass the filter',
      rules: [{ name: 'acme', teams: ['platform'] }],
      m: member(['acme', 'evil'], [['evil', 'platform']]),
      want: 'refused',
    },
    {
      name: 'GitHub logins ignore case; groups use the config spelling, slugs lower case',
      rules: [{ name: 'Acme-Corp', teams: ['Platform'] }],
      m: member(['acme-corp'], [['ACME-CORP', 'platform']]),
      want: ['Acme-Corp', 'Acme-Corp/platform'],
    },
    {
      name: 'several orgs: allowed through one, groups from each',
      rules: [{ name: 'acme', teams: ['platform'] }, { name: 'widgets' }],
      m: member(['acme', 'widgets'], [['acme', 'sre'], ['widgets', 'ops']]),
      want: ['widgets', 'widgets/ops'],
    },
    {
      name: 'duplicates (a team listed twice across pages) appear once',
      rules: [{ name: 'acme' }],
      m: member(['acme', 'acme'], [['acme', 'sre'], ['acme', 'sre']]),
      want: ['acme', 'acme/sre'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = groupsFor(c.rules, c.m);
      if (c.want === 'refused') expect(got).toEqual({ allowed: false });
      else expect(got).toEqual({ allowed: true, groups: c.want });
    });
  }
});
