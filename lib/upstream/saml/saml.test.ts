/**
 * The SAML connector's handle() against a real SAML IdP (samlify, on
 * loopback): the login redirect is followed to the IdP, its form is posted,
 * and the auto-post form's SAMLResponse goes to our ACS, as a browser would.
 * Hostile responses are signed by the IdP's real key (or mutated after), so
 * each refusal proves the check that made it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../store/sqlite';
import type { Store } from '../../store/types';
import { silentLogger } from '../../util/log';
import {
  b64,
  makeKeyPair,
  RSA_SHA1,
  samlId,
  secondUnsignedAssertion,
  signatureMovedToResponse,
  startSamlIdp,
  stripSignatures,
  tamperGroups,
  unb64,
  xswSameIdInSignatureObject,
  xswWrappedAssertion,
  type SamlIdp,
  type SamlTestUser,
} from '../../../test/support/saml-idp';
import { UpstreamRefusal, type RedirectStep } from '../types';
import { samlConnector } from './index';
import { SamlUpstreamSchema, type SamlUpstreamConfig } from './schema';

const ISSUER = 'https://kubegate.test';
const ACS = `${ISSUER}/api/upstream/corp/acs`;
const SP_ENTITY = `${ISSUER}/api/upstream/corp/metadata`;

const ALICE: SamlTestUser = {
  username: 'alice',
  password: 'alice-pw',
  nameId: 'b1e5c3a0-7f7e-4c1e-9a55-000000000001',
  email: 'alice@corp.test',
  displayName: 'Alice Liddell',
  groups: ['platform', 'sre', 'everyone'],
};
const MALLORY = { nameId: 'b1e5c3a0-7f7e-4c1e-9a55-00000000000m', groups: ['cluster-admins'] };

let idp: SamlIdp;
let store: Store;
let config: SamlUpstreamConfig;

const ctx = () => ({ now: () => Date.now(), log: silentLogger, store, issuerUrl: ISSUER });

function configFor(extra: Record<string, unknown> = {}): SamlUpstreamConfig {
  return SamlUpstreamSchema.parse({
    id: 'corp',
    type: 'saml',
    display_name: 'Corp SSO',
    idp_metadata_url: idp.metadataUrl,
    username_attribute: 'username',
    groups_prefix: 'corp:',
    ...extra,
  });
}

async function call(action: string, init: RequestInit = {}, cfg = config): Promise<RedirectStep> {
  return samlConnector.handle(cfg, action, new Request(`${ISSUER}/api/upstream/corp/${action}`, init), ctx());
}

const postAcs = (samlResponse: string, cfg = config) =>
  call('acs', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ SAMLResponse: samlResponse }).toString() }, cfg);

async function refusal(p: Promise<unknown>): Promise<UpstreamRefusal> {
  try {
    await p;
  } catch (e) {
    if (e instanceof UpstreamRefusal) return e;
    throw e;
  }
  throw new Error('expected a refusal, got success');
}

const hidden = (html: string, name: string) => {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  return m ? m[1]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&') : undefined;
};

/** Browser-like: our login redirect → the IdP's form → its auto-post form. Returns the SAMLResponse and our binding. */
async function signInAtIdp(user = ALICE, password = user.password, cfg = config) {
  const start = await call('login', {}, cfg);
  if (start.type !== 'start') throw new Error(`login answered ${start.type}`);
  const form = await fetch(start.location);
  expect(form.status).toBe(200);
  const html = await form.text();
  const res = await fetch(`${idp.url}/sso/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: user.username, password, SAMLRequest: hidden(html, 'SAMLRequest')!, RelayState: hidden(html, 'RelayState') ?? '' }),
  });
  const answer = await res.text();
  const action = /<form method="post" action="([^"]+)"/.exec(answer)?.[1];
  return { status: res.status, action, samlResponse: hidden(answer, 'SAMLResponse'), binding: start.binding, location: start.location };
}

/** The request id of a fresh login of ours (so a crafted response answers a real, pending request). */
async function pendingRequest(): Promise<{ id: string; binding: string }> {
  const start = await call('login');
  if (start.type !== 'start') throw new Error('no start');
  const { inflateRawSync } = await import('node:zlib');
  const xml = inflateRawSync(Buffer.from(new URL(start.location).searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
  return { id: /ID="([^"]+)"/.exec(xml)![1]!, binding: start.binding };
}

const legit = (inResponseTo: string, extra: Partial<Parameters<SamlIdp['buildResponse']>[0]> = {}) =>
  idp.buildResponse({ user: ALICE, acsUrl: ACS, audience: SP_ENTITY, inResponseTo, ...extra });

beforeAll(async () => {
  idp = await startSamlIdp([ALICE, { username: 'bob', password: 'bob-pw', nameId: 'bob-0002', groups: [] }]);
  store = await openSqliteStore(':memory:');
  await store.migrate();
  config = configFor();
  const md = await call('metadata');
  if (md.type !== 'response') throw new Error('metadata');
  idp.trustSp(await md.response.text());
}, 60_000); // the IdP's schema validator (wasm) loads for seconds
afterAll(async () => {
  await idp?.close();
  await store?.close();
});
beforeEach(() => idp.setSigning('response'));

describe('SAML sign-in through a real IdP', () => {
  it('maps subject, username, email, name and groups from a signed response, with acr and amr', async () => {
    const r = await signInAtIdp();
    expect(r.action).toBe(ACS);
    const step = await postAcs(r.samlResponse!);
    expect(step).toMatchObject({ type: 'signed_in', binding: r.binding });
    if (step.type !== 'signed_in') return;
    expect(step.signIn.identity).toEqual({
      upstream: 'corp',
      subject: ALICE.nameId,
      username: 'alice',
      email: 'alice@corp.test',
      name: 'Alice Liddell',
      groups: ['corp:platform', 'corp:sre', 'corp:everyone'],
    });
    expect(step.signIn.acr).toBe('urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport');
    expect(step.signIn.amr).toEqual(['pwd']);
    expect(step.signIn.authTime).toBeGreaterThan(Date.now() - 60_000);
  });

  it('accepts an assertion signed alone (unsigned response)', async () => {
    idp.setSigning('assertion');
    const r = await signInAtIdp();
    expect(unb64(r.samlResponse!)).toMatch(/<saml:Assertion[^>]*>.*<ds:Signature/);
    const step = await postAcs(r.samlResponse!);
    expect(step.type).toBe('signed_in');
  });

  it('accepts a response signed twice, response and assertion (Okta by default)', async () => {
    idp.setSigning('both');
    const r = await signInAtIdp();
    expect(unb64(r.samlResponse!).match(/<ds:Signature[ >]/g)).toHaveLength(2);
    expect((await postAcs(r.samlResponse!)).type).toBe('signed_in');
  });

  it('with want_assertions_signed, refuses a response whose assertion is not signed itself', async () => {
    const strict = configFor({ want_assertions_signed: true });
    const r = await signInAtIdp(ALICE, ALICE.password, strict);
    const e = await refusal(postAcs(r.samlResponse!, strict));
    expect(e.detail).toMatch(/signature/i);
  });

  it('sends an AuthnRequest by HTTP-Redirect asking for a persistent NameID at our ACS, and a fresh binding each time', async () => {
    const a = await signInAtIdp();
    const b = await call('login');
    const u = new URL(a.location);
    expect(u.origin + u.pathname).toBe(`${idp.url}/sso`);
    const { inflateRawSync } = await import('node:zlib');
    const xml = inflateRawSync(Buffer.from(u.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
    expect(xml).toContain(`AssertionConsumerServiceURL="${ACS}"`);
    expect(xml).toContain('urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
    expect(xml).toContain(`>${SP_ENTITY}<`);
    expect(b.type === 'start' && b.binding).not.toBe(a.binding);
  });

  it('refuses the same response posted twice (replay)', async () => {
    const r = await signInAtIdp();
    expect((await postAcs(r.samlResponse!)).type).toBe('signed_in');
    const e = await refusal(postAcs(r.samlResponse!));
    expect(e.code).toBe('invalid_response');
    expect(e.detail).toMatch(/replayed assertion/);
  });

  it('a wrong password gets no response at all', async () => {
    const r = await signInAtIdp(ALICE, 'wrong');
    expect(r.status).toBe(401);
    expect(r.samlResponse).toBeUndefined();
  });

  it('serves SP metadata with our entity id, ACS (HTTP-POST) and NameID format', async () => {
    const step = await call('metadata');
    if (step.type !== 'response') throw new Error('metadata');
    expect(step.response.headers.get('content-type')).toMatch(/^application\/samlmetadata\+xml/);
    const xml = await step.response.text();
    const { DOMParser } = await import('@xmldom/xmldom');
    const doc = new DOMParser().parseFromString(xml, 'text/xml');
    const md = 'urn:oasis:names:tc:SAML:2.0:metadata';
    expect(doc.documentElement!.getAttribute('entityID')).toBe(SP_ENTITY);
    const acs = doc.getElementsByTagNameNS(md, 'AssertionConsumerService')[0]!;
    expect(acs.getAttribute('Location')).toBe(ACS);
    expect(acs.getAttribute('Binding')).toBe('urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST');
    expect(doc.getElementsByTagNameNS(md, 'NameIDFormat')[0]!.textContent).toBe('urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
    // The IdP (samlify, schema-validating) accepted it above as an SP; and a configured entity id is used as is.
    const custom = await call('metadata', {}, configFor({ sp_entity_id: 'urn:kubegate:corp' }));
    if (custom.type !== 'response') throw new Error('metadata');
    expect(await custom.response.text()).toContain('entityID="urn:kubegate:corp"');
  });

  it('answers only the right methods and actions', async () => {
    expect(await call('acs')).toMatchObject({ type: 'response', response: { status: 405 } });
    expect(await call('login', { method: 'POST' })).toMatchObject({ type: 'response', response: { status: 405 } });
    expect(await call('nope')).toMatchObject({ type: 'response', response: { status: 404 } });
  });

  it('an IdP whose metadata cannot be fetched refuses the sign-in as unavailable, naming why', async () => {
    const down = configFor({ idp_metadata_url: 'http://127.0.0.1:9/metadata', idp_metadata_timeout: 2 });
    const e = await refusal(call('login', {}, down));
    expect(e.code).toBe('unavailable');
    expect(e.detail).toMatch(/cannot fetch idp_metadata_url http:\/\/127\.0\.0\.1:9\/metadata/);
  });

  it('lets the sign-in page send the browser to the IdP (CSP form-action)', () => {
    expect(samlConnector.formActionOrigins(config)).toEqual([idp.url]);
    expect(samlConnector.formActionOrigins(configFor({ idp_metadata_url: undefined, idp_metadata: idp.metadataXml }))).toEqual([idp.url]);
  });

  it('has nothing to re-check', async () => {
    expect(await samlConnector.recheck!(config, {} as never, null, ctx())).toEqual({ status: 'not_supported' });
  });
});

describe('SAML hostile responses', () => {
  const expectRefused = async (samlResponse: string, detail: RegExp, cfg = config) => {
    const e = await refusal(postAcs(samlResponse, cfg));
    expect(e.code).toBe('invalid_response');
    expect(e.detail).toMatch(detail);
    return e;
  };

  it('the legit crafted response is accepted (so each refusal below is its mutation)', async () => {
    const req = await pendingRequest();
    const step = await postAcs(b64(idp.sign(legit(req.id), { target: 'response' })));
    expect(step).toMatchObject({ type: 'signed_in', binding: req.binding });
  });

  it('refuses an unsigned response', async () => {
    const req = await pendingRequest();
    await expectRefused(b64(legit(req.id)), /signature/i);
  });

  it('refuses a signed response whose signature was stripped', async () => {
    idp.setSigning('assertion');
    const r = await signInAtIdp();
    await expectRefused(b64(stripSignatures(unb64(r.samlResponse!))), /signature/i);
  });

  it('refuses a response signed by a key not pinned from the metadata', async () => {
    const req = await pendingRequest();
    await expectRefused(b64(idp.sign(legit(req.id), { target: 'response', keys: makeKeyPair('evil') })), /signature/i);
  });

  it('refuses groups changed after signing', async () => {
    const r = await signInAtIdp();
    await expectRefused(b64(tamperGroups(unb64(r.samlResponse!), ['cluster-admins'])), /signature/i);
  });

  for (const signed of ['assertion', 'response'] as const) {
    it(`XSW: refuses the signed assertion (${signed} signed) wrapped in Extensions behind an evil one`, async () => {
      idp.setSigning(signed);
      const r = await signInAtIdp();
      await expectRefused(b64(xswWrappedAssertion(unb64(r.samlResponse!), MALLORY)), /2 Assertion elements/);
    });

    it(`XSW: refuses a second unsigned assertion before or after the signed one (${signed} signed)`, async () => {
      idp.setSigning(signed);
      for (const position of ['before', 'after'] as const) {
        const r = await signInAtIdp();
        await expectRefused(b64(secondUnsignedAssertion(unb64(r.samlResponse!), MALLORY, position)), /2 Assertion elements/);
      }
    });
  }

  it('XSW: refuses an evil assertion keeping the signed ID, the original inside its Signature Object', async () => {
    idp.setSigning('assertion');
    const r = await signInAtIdp();
    await expectRefused(b64(xswSameIdInSignatureObject(unb64(r.samlResponse!), MALLORY)), /Assertion elements/);
  });

  it('XSW: refuses the assertion signature moved up to the Response, assertion altered', async () => {
    idp.setSigning('assertion');
    const r = await signInAtIdp();
    await expectRefused(b64(signatureMovedToResponse(unb64(r.samlResponse!), MALLORY)), /signature/i);
  });

  it('the signature check alone (node-saml, our envelope check aside) refuses the wrapping and extra-assertion variants', async () => {
    const { SAML } = await import('@node-saml/node-saml');
    const saml = new SAML({
      idpCert: idp.keys.certPem,
      issuer: SP_ENTITY,
      callbackUrl: ACS,
      audience: SP_ENTITY,
      wantAuthnResponseSigned: false,
      wantAssertionsSigned: false,
      acceptedClockSkewMs: 60_000,
    });
    for (const signed of ['assertion', 'response'] as const) {
      idp.setSigning(signed);
      const r = unb64((await signInAtIdp()).samlResponse!);
      const variants = [xswWrappedAssertion(r, MALLORY), secondUnsignedAssertion(r, MALLORY, 'before'), secondUnsignedAssertion(r, MALLORY, 'after')];
      if (signed === 'assertion') variants.push(signatureMovedToResponse(r, MALLORY), xswSameIdInSignatureObject(r, MALLORY));
      for (const hostile of variants) {
        const outcome = await saml.validatePostResponseAsync({ SAMLResponse: b64(hostile) }).then(
          (v) => v.profile?.nameID,
          () => 'refused',
        );
        // Either refused, or (wrapping inside Extensions with a signed response) only the signed subject is read.
        expect(outcome === 'refused' || outcome === ALICE.nameId, `${signed}: ${outcome}`).toBe(true);
      }
    }
  });

  it('reads a NameID with a comment inserted after signing as the signed (canonical) text, not its first text node', async () => {
    // The 2018 comment-injection attack: the signature excludes comments, a careless reader stops at one.
    const req = await pendingRequest();
    const user = { ...ALICE, username: 'alice@corp.test.evil.test', nameId: 'alice@corp.test.evil.test' };
    const signed = idp.sign(idp.buildResponse({ user, acsUrl: ACS, audience: SP_ENTITY, inResponseTo: req.id }), { target: 'response' });
    const hostile = signed.replaceAll('>alice@corp.test.evil.test<', '>alice@corp.test<!---->.evil.test<');
    expect(hostile).not.toBe(signed);
    const step = await postAcs(b64(hostile));
    expect(step.type === 'signed_in' && [step.signIn.identity.subject, step.signIn.identity.username]).toEqual(['alice@corp.test.evil.test', 'alice@corp.test.evil.test']);
  });

  it('refuses a wrong audience', async () => {
    const req = await pendingRequest();
    await expectRefused(b64(idp.sign(legit(req.id, { audience: 'https://other-sp.test/metadata' }), { target: 'response' })), /audience/i);
  });

  it('refuses an expired assertion', async () => {
    const req = await pendingRequest();
    const past = Date.now() - 10 * 60_000;
    await expectRefused(b64(idp.sign(legit(req.id, { now: past, notOnOrAfter: past + 5 * 60_000 }), { target: 'response' })), /expired/i);
  });

  it('accepts a clock a little behind (within the skew) but not one far ahead', async () => {
    const ok = await pendingRequest();
    const slightlyAhead = Date.now() + 30_000;
    expect((await postAcs(b64(idp.sign(legit(ok.id, { now: slightlyAhead, notBefore: slightlyAhead }), { target: 'response' })))).type).toBe('signed_in');
    const req = await pendingRequest();
    const ahead = Date.now() + 10 * 60_000;
    await expectRefused(b64(idp.sign(legit(req.id, { now: ahead, notBefore: ahead }), { target: 'response' })), /not yet valid|not valid before/i);
  });

  it('refuses a Recipient or Destination other than our ACS', async () => {
    const a = await pendingRequest();
    await expectRefused(b64(idp.sign(legit(a.id, { recipient: 'https://other-sp.test/acs' }), { target: 'response' })), /Recipient/);
    const b = await pendingRequest();
    await expectRefused(b64(idp.sign(legit(b.id, { destination: 'https://other-sp.test/acs' }), { target: 'response' })), /Destination/);
  });

  it('refuses an assertion issued by another entity, even signed with the pinned key', async () => {
    const req = await pendingRequest();
    await expectRefused(b64(idp.sign(legit(req.id, { issuer: 'https://other-idp.test' }), { target: 'response' })), /Issuer/);
  });

  it('refuses an unsolicited (IdP-initiated) response', async () => {
    await expectRefused(b64(idp.sign(legit(undefined as unknown as string), { target: 'response' })), /unsolicited/);
  });

  it('refuses a response to a request we never sent', async () => {
    await expectRefused(b64(idp.sign(legit(samlId()), { target: 'response' })), /no pending request of ours/);
  });

  it('refuses a second assertion answering a request already answered (request ids are single use)', async () => {
    const req = await pendingRequest();
    expect((await postAcs(b64(idp.sign(legit(req.id), { target: 'response' })))).type).toBe('signed_in');
    await expectRefused(b64(idp.sign(legit(req.id), { target: 'response' })), /no pending request of ours/);
  });

  it('refuses RSA-SHA1 unless allow_sha1', async () => {
    const req = await pendingRequest();
    const sha1 = b64(idp.sign(legit(req.id), { target: 'response', algorithm: RSA_SHA1 }));
    await expectRefused(sha1, /SHA-1/);
    const allowing = configFor({ allow_sha1: true });
    // A new config object loads the metadata again; the request is still pending.
    expect((await postAcs(sha1, allowing)).type).toBe('signed_in');
  });

  it('refuses a DOCTYPE (entity expansion) before parsing anything', async () => {
    const req = await pendingRequest();
    const xml = `<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]>${idp.sign(legit(req.id), { target: 'response' })}`;
    await expectRefused(b64(xml), /DOCTYPE/);
  });

  it('refuses a transient NameID as subject unless subject_attribute is set', async () => {
    const req = await pendingRequest();
    const e = await refusal(postAcs(b64(idp.sign(legit(req.id, { nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient' }), { target: 'response' }))));
    expect(e.code).toBe('claims');
    expect(e.detail).toMatch(/not persistent/);
  });

  it('a POST without SAMLResponse, or not form-encoded, is refused', async () => {
    await expectRefused('', /no SAMLResponse/);
    const e = await refusal(call('acs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }));
    expect(e.detail).toMatch(/HTTP-POST binding form/);
  });
});
