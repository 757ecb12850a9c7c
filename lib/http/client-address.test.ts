import { describe, expect, it } from 'vitest';
import { createProxyTrust, normalizeIp, trustEntryProblem, type TrustProxySetting } from './client-address';

const req = (peer: string | undefined, xff?: string) => ({ headers: xff === undefined ? {} : { 'x-forwarded-for': xff }, socket: { remoteAddress: peer } });

describe('normalizeIp', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    [' 203.0.113.9 ', '203.0.113.9'],
    ['203.0.113.9:5678', '203.0.113.9'],
    ['2001:db8::1', '2001:db8::1'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['::1', '::1'],
  ])('%s → %s', (raw, ip) => {
    expect(normalizeIp(raw)).toBe(ip);
  });

  it.each(['', 'unknown', 'evil.example', '203.0.113', '203.0.113.256', '0x7f.1', '2130706433', '1.2.3.4, 5.6.7.8', '<script>', '203.0.113.9 OR 1=1', '[::1'])(
    'refuses %j',
    (raw) => {
      expect(normalizeIp(raw)).toBeUndefined();
    },
  );
});

describe('client address', () => {
  // Regression: with trust_proxy: true, the LEFTMOST X-Forwarded-For entry,
  // which the client writes itself, became its address: per-address limits
  // were bypassed and audit rows showed any string.
  const rows: Array<[string, TrustProxySetting, ReturnType<typeof req>, string | undefined]> = [
    ['no proxy trusted: the socket peer, whatever the header says', false, req('10.0.0.1', '6.6.6.6'), '10.0.0.1'],
    ['0 hops is no proxy', 0, req('10.0.0.1', '6.6.6.6'), '10.0.0.1'],
    ['true: the entry the one proxy appended, not the forged one before it', true, req('10.0.0.1', '6.6.6.6, 203.0.113.9'), '203.0.113.9'],
    ['true, a forged chain of several entries', true, req('10.0.0.1', '1.1.1.1, 2.2.2.2, 203.0.113.9'), '203.0.113.9'],
    ['true, no header (a request straight to the backend)', true, req('10.0.0.1'), '10.0.0.1'],
    ['true, an empty header', true, req('10.0.0.1', ''), '10.0.0.1'],
    ['true, the proxy wrote a port', true, req('10.0.0.1', '203.0.113.9:40000'), '203.0.113.9'],
    ['true, IPv6 client', true, req('10.0.0.1', '2001:db8::7'), '2001:db8::7'],
    ['true, the appended entry is not an address: the nearest valid hop', true, req('10.0.0.1', '203.0.113.9, unknown'), '10.0.0.1'],
    ['true, a script in the header', true, req('10.0.0.1', '<script>alert(1)</script>'), '10.0.0.1'],
    ['2 hops: the entry before the second proxy', 2, req('10.0.0.1', '6.6.6.6, 203.0.113.9, 10.0.0.2'), '203.0.113.9'],
    ['2 hops, but the header is shorter than the chain', 2, req('10.0.0.1', '203.0.113.9'), '203.0.113.9'],
    ['2 hops, garbage where the second proxy should be', 2, req('10.0.0.1', '203.0.113.9, bogus'), '10.0.0.1'],
    ['CIDRs: the rightmost entry outside them', ['10.0.0.0/8'], req('10.0.0.1', '6.6.6.6, 203.0.113.9, 10.0.0.2, 10.0.0.3'), '203.0.113.9'],
    ['CIDRs: a peer outside them is the client itself', ['10.0.0.0/8'], req('198.51.100.4', '6.6.6.6'), '198.51.100.4'],
    ['CIDRs: an IPv4-mapped peer inside them', ['10.0.0.0/8'], req('::ffff:10.0.0.1', '203.0.113.9'), '203.0.113.9'],
    ['CIDRs: every hop a proxy: the farthest one', ['10.0.0.0/8'], req('10.0.0.1', '10.0.0.9'), '10.0.0.9'],
    ['named range loopback', ['loopback'], req('127.0.0.1', '6.6.6.6, 203.0.113.9'), '203.0.113.9'],
    ['a single proxy address', ['192.0.2.5'], req('192.0.2.5', '203.0.113.9'), '203.0.113.9'],
    ['an empty list trusts nothing', [], req('10.0.0.1', '6.6.6.6'), '10.0.0.1'],
    ['the peer as IPv4-mapped IPv6 is given as IPv4', false, req('::ffff:127.0.0.1'), '127.0.0.1'],
    ['no peer (socket gone)', true, req(undefined, '203.0.113.9'), undefined],
  ];
  it.each(rows)('%s', (_, setting, r, expected) => {
    expect(createProxyTrust(setting).clientAddress(r)).toBe(expected);
  });

  it.each([
    [false, '10.0.0.1', false],
    [true, '10.0.0.1', true],
    [['10.0.0.0/8'], '10.0.0.1', true],
    [['10.0.0.0/8'], '198.51.100.4', false],
  ] as const)('trustsPeer(%j, %s) is %s', (setting, peer, expected) => {
    expect(createProxyTrust(setting as TrustProxySetting).trustsPeer(req(peer))).toBe(expected);
  });
});

describe('trust_proxy list entries', () => {
  it.each(['10.0.0.0/8', '192.0.2.5', '2001:db8::/32', 'loopback', 'uniquelocal', 'linklocal', '10.0.0.0/255.0.0.0'])('accepts %s', (e) => {
    expect(trustEntryProblem(e)).toBeUndefined();
  });
  it.each(['10.0.0.0/33', 'proxy.example.com', '', '10.0.0.0/8,10.1.0.0/16'])('refuses %j', (e) => {
    expect(trustEntryProblem(e)).toMatch(/must be an IP address, a CIDR/);
  });
});
