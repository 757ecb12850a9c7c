// The comparison point for `npm run bench -- token` (bench/token.ts): the `oidc-provider`
// package (v9) answering the same refresh grant on loopback, in its own
// process like Kubegate. Started by the bench with an IPC channel:
//   env OP_PORT, OP_ALG (RS256|ES256)
//   parent → { type: 'seed', n }   child → { type: 'seeded', tokens: string[] }
// Storage is its own in-memory adapter (MemoryAdapter), with no durable
// write per refresh, which favours it over Kubegate's SQLite commit. Only
// the adapter's backing store is swapped: the default one is an LRU capped
// at 1000 entries, which at 64 concurrent chains evicts live refresh tokens
// ("refresh token not found") and so turns part of the run into fast errors.
import http from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

/** The LRU's interface (get/set with maxAge/delete), unbounded. */
class UnboundedStore {
  #m = new Map();
  get(key) {
    const e = this.#m.get(key);
    if (!e) return undefined;
    if (e.expiry !== undefined && e.expiry <= Date.now()) {
      this.#m.delete(key);
      return undefined;
    }
    return e.value;
  }
  set(key, value, { maxAge } = {}) {
    this.#m.set(key, { value, expiry: typeof maxAge === 'number' && maxAge !== Infinity ? Date.now() + maxAge : undefined });
    return this;
  }
  delete(key) {
    return this.#m.delete(key);
  }
}
const store = new UnboundedStore();

const port = Number(process.env.OP_PORT);
const alg = process.env.OP_ALG === 'ES256' ? 'ES256' : 'RS256';
const issuer = `http://127.0.0.1:${port}`;
const scope = 'openid offline_access profile email groups';

const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
const jwk = { ...(await exportJWK(privateKey)), alg, use: 'sig', kid: 'bench-1' };

const accounts = new Map();
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'kubernetes',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      id_token_signed_response_alg: alg,
    },
  ],
  jwks: { keys: [jwk] },
  adapter: (model) => new MemoryAdapter(model, store),
  features: {},
  rotateRefreshToken: true,
  // Same id_token claims as Kubegate's: put the scope claims in the id_token.
  conformIdTokenClaims: false,
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'], groups: ['groups'] },
  ttl: { AccessToken: 60, IdToken: 60, RefreshToken: 15 * 60, Grant: 12 * 3600, Session: 12 * 3600, Interaction: 600 },
  cookies: { keys: ['bench-cookie-key-0123456789abcdef'] },
  async findAccount(_ctx, sub) {
    const a = accounts.get(sub) ?? { sub, preferred_username: sub, name: `Bench ${sub}`, email: `${sub}@example.com`, groups: ['developers'] };
    return { accountId: sub, claims: () => a };
  },
});
provider.on('server_error', (_ctx, err) => process.stderr.write(`oidc-provider server_error: ${err.stack ?? err}\n`));
if (process.env.OP_DEBUG) provider.on('grant.error', (_ctx, err) => process.stderr.write(`grant.error: ${err.error_detail ?? err.message}\n`));

async function seed(n) {
  const client = await provider.Client.find('kubernetes');
  const tokens = [];
  for (let i = 0; i < n; i++) {
    const accountId = `user-${i}`;
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    grant.addOIDCScope(scope);
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({
      accountId,
      grantId,
      client,
      scope,
      gty: 'authorization_code',
      authTime: Math.floor(Date.now() / 1000),
      amr: ['pwd'],
    });
    tokens.push(await rt.save());
  }
  return tokens;
}

process.on('message', (msg) => {
  if (msg?.type === 'seed') {
    seed(msg.n).then(
      (tokens) => process.send({ type: 'seeded', id: msg.id, tokens }),
      (err) => process.send({ type: 'error', id: msg.id, error: String(err?.stack ?? err) }),
    );
  }
});
process.on('disconnect', () => process.exit(0));

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.send({ type: 'ready' }));
