import { z } from 'zod';
import { ldapConnector, LdapUpstreamSchema } from './ldap';
import { githubConnector, GitHubUpstreamSchema } from './github';
import { localConnector, LocalUpstreamSchema, type LocalUser } from './local';
import { oidcConnector, OidcUpstreamSchema } from './oidc';
import { samlConnector, SamlUpstreamSchema } from './saml';
import type { Connector, UpstreamBaseConfig } from './types';

/**
 * Every upstream kind, once: its schema here and its connector below. A new
 * kind is one module under lib/upstream/<kind>/ and one line in each list.
 */
const SCHEMAS = [LocalUpstreamSchema, OidcUpstreamSchema, LdapUpstreamSchema, SamlUpstreamSchema, GitHubUpstreamSchema] as const;

export const UPSTREAM_TYPES = SCHEMAS.map((s) => s.shape.type.value);

export const UpstreamSchema = z.discriminatedUnion('type', [...SCHEMAS], {
  error: `type must be one of ${UPSTREAM_TYPES.map((t) => JSON.stringify(t)).join(', ')}`,
});
export type UpstreamConfig = z.infer<typeof UpstreamSchema>;

/** What connectors are built over: the upstream entries, and the local accounts for the `local` kind. */
export interface ConnectorSources {
  upstreams: readonly UpstreamConfig[];
  users: readonly LocalUser[];
}

function connectorOf(u: UpstreamConfig, sources: ConnectorSources): Connector {
  switch (u.type) {
    case 'local':
      return localConnector(sources.users) as unknown as Connector;
    case 'oidc':
      return oidcConnector as unknown as Connector;
    case 'ldap':
      return ldapConnector as unknown as Connector;
    case 'github':
      return githubConnector as unknown as Connector;
    case 'saml':
      return samlConnector as unknown as Connector;
  }
}

export interface BoundUpstream {
  config: UpstreamBaseConfig & UpstreamConfig;
  connector: Connector;
}

const built = new WeakMap<ConnectorSources, ReadonlyMap<string, BoundUpstream>>();

/** The configured upstreams with their connectors, by upstream id, in config order; built once per config. */
export function upstreamsOf(sources: ConnectorSources): ReadonlyMap<string, BoundUpstream> {
  let map = built.get(sources);
  if (!map) {
    map = new Map(sources.upstreams.map((u) => [u.id, { config: u, connector: connectorOf(u, sources) }]));
    built.set(sources, map);
  }
  return map;
}

/** Origins our sign-in forms may send the browser to (CSP form-action). */
export function formActionOrigins(sources: ConnectorSources): string[] {
  const origins = new Set<string>();
  for (const { config, connector } of upstreamsOf(sources).values()) {
    for (const o of connector.formActionOrigins(config as never)) origins.add(o);
  }
  return [...origins];
}
