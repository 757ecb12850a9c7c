import { isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyaddr from 'proxy-addr';

/**
 * `server.trust_proxy`: which peers are reverse proxies whose
 * X-Forwarded-For we believe.
 * - `false` (or 0): none; the client is the socket peer.
 * - a number n (`true` is 1): the last n hops are proxies: the socket peer
 *   and the n-1 entries it appended after its own.
 * - a list of addresses and CIDRs (and proxy-addr's names `loopback`,
 *   `linklocal`, `uniquelocal`): every hop inside them is a proxy.
 * The client is the hop right before the trusted ones: the address the
 * nearest trusted proxy saw, never a value the client itself wrote in
 * front of it.
 */
export type TrustProxySetting = boolean | number | readonly string[];

export interface RequestLike {
  headers: IncomingHttpHeaders;
  socket: { remoteAddress?: string | undefined };
}

export interface ProxyTrust {
  /** The client's address as the nearest trusted proxy saw it, or the socket peer. */
  clientAddress(req: RequestLike): string | undefined;
  /** The socket peer is a trusted proxy, so its X-Forwarded-* headers count. */
  trustsPeer(req: RequestLike): boolean;
}

/**
 * A syntactically valid IP address in canonical text, or undefined. Accepts
 * what proxies write: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
 * `[2001:db8::1]:443`. An IPv4-mapped IPv6 address becomes the IPv4 one.
 */
export function normalizeIp(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let s = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s);
  if (bracketed) s = bracketed[1]!;
  else {
    const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(s);
    if (v4port) s = v4port[1]!;
  }
  const kind = isIP(s);
  if (kind === 4) return s; // already canonical: the common case, without a parse
  if (kind === 0) return undefined;
  try {
    return ipaddr.process(s).toString();
  } catch {
    return undefined;
  }
}

/** A problem with one `trust_proxy` list entry, or undefined when proxy-addr accepts it. */
export function trustEntryProblem(entry: string): string | undefined {
  try {
    proxyaddr.compile([entry]);
    return undefined;
  } catch {
    return `must be an IP address, a CIDR such as 10.0.0.0/8, or one of loopback, linklocal, uniquelocal (got ${JSON.stringify(entry.slice(0, 60))})`;
  }
}

function hopTrust(setting: TrustProxySetting): (addr: string, hop: number) => boolean {
  if (Array.isArray(setting)) {
    if (setting.length === 0) return () => false;
    const inList = proxyaddr.compile([...setting]);
    return (addr) => inList(addr, 0);
  }
  const hops = setting === true ? 1 : setting === false ? 0 : Number(setting);
  return (_addr, hop) => hop < hops;
}

export function createProxyTrust(setting: TrustProxySetting): ProxyTrust {
  if (setting === false || setting === 0) {
    return {
      clientAddress: (req) => {
        const peer = req.socket.remoteAddress;
        return peer === undefined ? undefined : (normalizeIp(peer) ?? peer);
      },
      trustsPeer: () => false,
    };
  }
  const base = hopTrust(setting);
  // Only a valid address can be a trusted hop: a garbled entry ends the walk.
  const trust = (addr: string, hop: number) => {
    const ip = normalizeIp(addr);
    return ip !== undefined && base(ip, hop);
  };
  return {
    clientAddress(req) {
      const peer = req.socket.remoteAddress;
      if (peer === undefined) return undefined;
      // [peer, rightmost X-Forwarded-For entry, …], cut after the first untrusted hop.
      const chain = proxyaddr.all(req as Parameters<typeof proxyaddr.all>[0], trust);
      // The last one is the client; if it is not an address, the nearest valid hop is.
      for (let i = chain.length - 1; i >= 0; i--) {
        const ip = normalizeIp(chain[i]);
        if (ip !== undefined) return ip;
      }
      return peer;
    },
    trustsPeer(req) {
      const peer = req.socket.remoteAddress;
      return peer !== undefined && trust(peer, 0);
    },
  };
}
