import { describe, expect, it } from 'vitest';
import { finalizeIdentity, matchesGroupPattern } from './base';
import { UpstreamRefusal } from './types';

const config = { id: 'corp', username_prefix: 'corp:', groups_prefix: 'corp:' };

describe('finalizeIdentity', () => {
  it('trims, prefixes, and drops empty and repeated groups', () => {
    expect(finalizeIdentity(config, { subject: ' s-1 ', username: ' alice ', email: 'a@x.io', name: '', groups: ['dev', ' dev', '', '  ', 'ops'] })).toEqual({
      upstream: 'corp',
      subject: 's-1',
      username: 'corp:alice',
      email: 'a@x.io',
      name: null,
      groups: ['corp:dev', 'corp:ops'],
    });
  });

  it('keeps only allow-listed groups (exact or prefix*), before prefixing', () => {
    const identity = finalizeIdentity({ ...config, group_allowlist: ['k8s-*', 'sre'] }, { subject: 's', username: 'a', groups: ['k8s-admins', 'sre', 'sres', 'hr'] });
    expect(identity.groups).toEqual(['corp:k8s-admins', 'corp:sre']);
  });

  it.each([
    ['no subject', { subject: '', username: 'a', groups: [] }],
    ['a blank username', { subject: 's', username: '  ', groups: [] }],
  ])('refuses %s', (_, raw) => {
    expect(() => finalizeIdentity(config, raw)).toThrow(UpstreamRefusal);
  });

  it('matches group patterns exactly or by a trailing *', () => {
    expect(matchesGroupPattern('dev', ['dev'])).toBe(true);
    expect(matchesGroupPattern('developers', ['dev'])).toBe(false);
    expect(matchesGroupPattern('developers', ['dev*'])).toBe(true);
    expect(matchesGroupPattern('x', [])).toBe(false);
  });
});
