/**
 * A real SAML 2.0 identity provider on loopback for tests: samlify acting as
 * IdP (metadata, AuthnRequest parsing with XML-schema validation, signing),
 * behind a plain node:http server with a username/password form. Its
 * responses reach the SP through the browser, as with Okta or Entra ID: the
 * login form posts here, and the answer is an auto-posting form to the SP's
 * ACS.
 *
 * It also crafts hostile responses for the tests: a legitimately signed
 * response mutated afterwards (signature wrapping, a second assertion, a
 * moved signature), or a response with bad conditions signed by the real key.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { validate as xmllintValidate } from '@authenio/samlify-node-xmllint';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import * as samlify from 'samlify';

samlify.setSchemaValidator({ validate: xmllintValidate });

const SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';
const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
export const NAMEID_PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
export const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
export const RSA_SHA1 = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1';
export const PASSWORD_PROTECTED = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';

export interface SamlTestUser {
  username: string;
  password: string;
  /** The persistent NameID: stable, opaque. */
  nameId: string;
  email?: string;
  displayName?: string;
  groups?: string[];
}

export interface KeyPair {
  keyPem: string;
  certPem: string;
}

/** An RSA key and a self-signed certificate, made with openssl for this run. */
export function makeKeyPair(cn = 'kubegate-test-idp'): KeyPair {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saml-idp-key-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`], {
      stdio: 'ignore',
    });
    return { keyPem: fs.readFileSync(key, 'utf8'), certPem: fs.readFileSync(cert, 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const iso = (ms: number) => new Date(ms).toISOString();
export const samlId = () => `_${randomBytes(16).toString('hex')}`;

export interface ResponseParams {
  user: SamlTestUser;
  acsUrl: string;
  audience: string;
  /** Omitted: an unsolicited (IdP-initiated) response. */
  inResponseTo?: string;
  issuer?: string;
  destination?: string | null;
  recipient?: string;
  nameIdFormat?: string;
  notBefore?: number;
  notOnOrAfter?: number;
  confirmationNotOnOrAfter?: number;
  authnContextClassRef?: string;
  assertionId?: string;
  now?: number;
}

export interface SignOptions {
  target: 'assertion' | 'response';
  algorithm?: string;
  keys?: KeyPair;
}

export interface SamlIdp {
  url: string;
  entityId: string;
  metadataUrl: string;
  metadataXml: string;
  keys: KeyPair;
  /** Registers the SP (from its metadata), as an IdP admin would. */
  trustSp(spMetadataXml: string): void;
  /** An unsigned Response as this IdP would build it. */
  buildResponse(p: ResponseParams): string;
  sign(xml: string, opts: SignOptions): string;
  /** The SAMLResponse (base64) of the last successful login, for replay tests. */
  lastResponse(): string | undefined;
  /** What the login flow signs from now on: the assertion alone, the whole response, or both (Okta's default). */
  setSigning(target: 'assertion' | 'response' | 'both'): void;
  close(): Promise<void>;
}

export async function startSamlIdp(users: SamlTestUser[], opts: { keys?: KeyPair } = {}): Promise<SamlIdp> {
  const keys = opts.keys ?? makeKeyPair();
  let signing: 'assertion' | 'response' | 'both' = 'response';
  let spMetadata: string | undefined;
  let sp: ReturnType<typeof samlify.ServiceProvider> | undefined;
  // samlify signs the assertion when the SP's metadata says WantAssertionsSigned, else the whole message.
  const makeSp = () => {
    if (!spMetadata) return;
    const md = signing !== 'response' ? spMetadata.replace(/<(\w+:)?SPSSODescriptor /, (m) => `${m}WantAssertionsSigned="true" `) : spMetadata;
    sp = samlify.ServiceProvider({ metadata: md, wantMessageSigned: signing !== 'assertion' });
  };
  let last: string | undefined;

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`IdP error: ${(e as Error).message}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const entityId = `${url}/metadata`;

  const idp = samlify.IdentityProvider({
    entityID: entityId,
    privateKey: keys.keyPem,
    signingCert: keys.certPem,
    nameIDFormat: [NAMEID_PERSISTENT],
    singleSignOnService: [{ Binding: samlify.Constants.namespace.binding.redirect, Location: `${url}/sso` }],
    wantAuthnRequestsSigned: false,
  });
  const metadataXml = idp.getMetadata();
  // The schema validator (libxml2 compiled to wasm) takes seconds to load on first use: load it now, not in a test's login.
  await xmllintValidate(
    `<samlp:LogoutResponse xmlns:samlp="${SAMLP}" ID="_warm" Version="2.0" IssueInstant="2031-01-01T00:00:00Z"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>`,
  ).catch(() => undefined);

  function buildResponse(p: ResponseParams): string {
    const now = p.now ?? Date.now();
    const inResponseTo = p.inResponseTo === undefined ? '' : ` InResponseTo="${esc(p.inResponseTo)}"`;
    const destination = p.destination === null ? '' : ` Destination="${esc(p.destination ?? p.acsUrl)}"`;
    const attr = (name: string, values: string[] | undefined) =>
      values && values.length > 0
        ? `<saml:Attribute Name="${esc(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${values
            .map((v) => `<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">${esc(v)}</saml:AttributeValue>`)
            .join('')}</saml:Attribute>`
        : '';
    const u = p.user;
    return (
      `<samlp:Response xmlns:samlp="${SAMLP}" xmlns:saml="${SAML}" ID="${samlId()}" Version="2.0" IssueInstant="${iso(now)}"${destination}${inResponseTo}>` +
      `<saml:Issuer>${esc(p.issuer ?? entityId)}</saml:Issuer>` +
      `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
      `<saml:Assertion ID="${p.assertionId ?? samlId()}" Version="2.0" IssueInstant="${iso(now)}">` +
      `<saml:Issuer>${esc(p.issuer ?? entityId)}</saml:Issuer>` +
      `<saml:Subject><saml:NameID Format="${esc(p.nameIdFormat ?? NAMEID_PERSISTENT)}">${esc(u.nameId)}</saml:NameID>` +
      `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
      `<saml:SubjectConfirmationData NotOnOrAfter="${iso(p.confirmationNotOnOrAfter ?? p.notOnOrAfter ?? now + 5 * 60_000)}" Recipient="${esc(p.recipient ?? p.acsUrl)}"${inResponseTo}/>` +
      `</saml:SubjectConfirmation></saml:Subject>` +
      `<saml:Conditions NotBefore="${iso(p.notBefore ?? now - 30_000)}" NotOnOrAfter="${iso(p.notOnOrAfter ?? now + 5 * 60_000)}">` +
      `<saml:AudienceRestriction><saml:Audience>${esc(p.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
      `<saml:AuthnStatement AuthnInstant="${iso(now)}" SessionIndex="${samlId()}"><saml:AuthnContext>` +
      `<saml:AuthnContextClassRef>${esc(p.authnContextClassRef ?? PASSWORD_PROTECTED)}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
      `<saml:AttributeStatement>${attr('username', [u.username])}${attr('email', u.email ? [u.email] : undefined)}${attr('displayName', u.displayName ? [u.displayName] : undefined)}${attr('groups', u.groups)}</saml:AttributeStatement>` +
      `</saml:Assertion></samlp:Response>`
    );
  }

  function sign(xml: string, o: SignOptions): string {
    const k = o.keys ?? keys;
    const assertion = o.target === 'assertion';
    return samlify.SamlLib.constructSAMLSignature({
      rawSamlMessage: xml,
      privateKey: k.keyPem,
      signingCert: k.certPem.replace(/-----[A-Z ]+-----|\s/g, ""),
      signatureAlgorithm: o.algorithm ?? RSA_SHA256,
      isBase64Output: false,
      isMessageSigned: !assertion,
      ...(assertion ? { referenceTagXPath: "/*[local-name(.)='Response']/*[local-name(.)='Assertion']" } : {}),
      signatureConfig: {
        prefix: 'ds',
        location: {
          reference: assertion ? "/*[local-name(.)='Response']/*[local-name(.)='Assertion']/*[local-name(.)='Issuer']" : "/*[local-name(.)='Response']/*[local-name(.)='Issuer']",
          action: 'after',
        },
      },
    });
  }

  async function body(req: http.IncomingMessage): Promise<URLSearchParams> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  }

  const page = (res: http.ServerResponse, status: number, html: string) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!doctype html><html><head><meta charset="utf-8"><title>Test IdP</title></head><body>${html}</body></html>`);
  };

  const loginForm = (samlRequest: string, relayState: string, error = '') =>
    `<h1>Test IdP sign-in</h1>${error ? `<p role="alert">${esc(error)}</p>` : ''}` +
    `<form method="post" action="/sso/login">` +
    `<label>Username <input name="username" autocomplete="username"></label>` +
    `<label>Password <input name="password" type="password" autocomplete="current-password"></label>` +
    `<input type="hidden" name="SAMLRequest" value="${esc(samlRequest)}"><input type="hidden" name="RelayState" value="${esc(relayState)}">` +
    `<button type="submit">Sign in</button></form>`;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const u = new URL(req.url ?? '/', url);
    if (req.method === 'GET' && u.pathname === '/metadata') {
      res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
      res.end(metadataXml);
      return;
    }
    if (!sp) return page(res, 503, '<p>No service provider registered</p>');
    if (req.method === 'GET' && u.pathname === '/sso') {
      const query = Object.fromEntries(u.searchParams);
      // Validates the request against the SAML schema and the SP's metadata.
      await idp.parseLoginRequest(sp, 'redirect', { query, octetString: u.search.slice(1) });
      return page(res, 200, loginForm(query.SAMLRequest ?? '', query.RelayState ?? ''));
    }
    if (req.method === 'POST' && u.pathname === '/sso/login') {
      const form = await body(req);
      const samlRequest = form.get('SAMLRequest') ?? '';
      const relayState = form.get('RelayState') ?? '';
      const user = users.find((x) => x.username === form.get('username') && x.password === form.get('password'));
      if (!user) return page(res, 401, loginForm(samlRequest, relayState, 'Wrong username or password'));
      const parsed = await idp.parseLoginRequest(sp, 'redirect', { query: { SAMLRequest: samlRequest } });
      const request = parsed.extract.request as Record<string, string>;
      const acsUrl = request.assertionConsumerServiceUrl ?? sp.entityMeta.getAssertionConsumerService(samlify.Constants.namespace.binding.post);
      const xml = buildResponse({ user, acsUrl: acsUrl as string, audience: sp.entityMeta.getEntityID(), inResponseTo: request.id });
      // samlify builds and signs the response (assertion or whole message, as the SP entity says) from our template.
      const built = await idp.createLoginResponse(sp, parsed as never /* FlowResult is the RequestInfo samlify wants; its typings disagree */, 'post', { email: user.email }, {
        customTagReplacement: () => ({ id: samlId(), context: xml }),
      });
      const samlResponse = built.context;
      last = samlResponse;
      return page(
        res,
        200,
        `<form method="post" action="${esc(acsUrl as string)}"><input type="hidden" name="SAMLResponse" value="${esc(samlResponse)}">` +
          (relayState ? `<input type="hidden" name="RelayState" value="${esc(relayState)}">` : '') +
          `<button type="submit">Continue</button></form><script>document.forms[0].submit()</script>`,
      );
    }
    res.writeHead(404);
    res.end();
  }

  return {
    url,
    entityId,
    metadataUrl: `${url}/metadata`,
    metadataXml,
    keys,
    trustSp(spMetadataXml) {
      spMetadata = spMetadataXml.replace(/ WantAssertionsSigned="[^"]*"/, '');
      makeSp();
    },
    buildResponse,
    sign,
    lastResponse: () => last,
    setSigning(target) {
      signing = target;
      makeSp();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---- Hostile mutations of a signed response (XML in, XML out) ----

const parse = (xml: string) => new DOMParser().parseFromString(xml, 'text/xml');
const serialize = (doc: Document | Node) => new XMLSerializer().serializeToString(doc as never);
const first = (doc: Document | Element, ns: string, name: string) => (doc as Element).getElementsByTagNameNS(ns, name)[0] as Element;

function setNameId(assertion: Element, value: string) {
  const n = first(assertion, SAML, 'NameID');
  n.textContent = value;
}

function setGroups(assertion: Element, groups: string[]) {
  for (const a of Array.from(assertion.getElementsByTagNameNS(SAML, 'Attribute'))) {
    if (a.getAttribute('Name') !== 'groups') continue;
    while (a.firstChild) a.removeChild(a.firstChild);
    for (const g of groups) {
      const v = a.ownerDocument.createElementNS(SAML, 'saml:AttributeValue');
      v.textContent = g;
      a.appendChild(v);
    }
  }
}

/** Changes a group inside the signed content (no re-signing): the digest no longer matches. */
export function tamperGroups(xml: string, groups: string[]): string {
  const doc = parse(xml);
  setGroups(first(doc, SAML, 'Assertion'), groups);
  return serialize(doc);
}

/**
 * XSW: an evil copy of the assertion (another subject, admin groups, no
 * signature) takes the signed one's place; the signed original is hidden in
 * the Response's Extensions, where a careless verifier still finds its ID.
 */
export function xswWrappedAssertion(xml: string, evil: { nameId: string; groups: string[] }): string {
  const doc = parse(xml);
  const response = doc.documentElement!;
  const original = first(doc, SAML, 'Assertion');
  const copy = original.cloneNode(true) as Element;
  const sig = first(copy, DS, 'Signature');
  if (sig) copy.removeChild(sig);
  setNameId(copy, evil.nameId);
  setGroups(copy, evil.groups);
  copy.setAttribute('ID', samlId());
  const ext = doc.createElementNS(SAMLP, 'samlp:Extensions');
  response.replaceChild(copy, original);
  ext.appendChild(original);
  response.insertBefore(ext, first(doc, SAMLP, 'Status'));
  return serialize(doc);
}

/** XSW: the evil assertion keeps the signed one's ID; the original moves inside the evil one's Signature Object. */
export function xswSameIdInSignatureObject(xml: string, evil: { nameId: string; groups: string[] }): string {
  const doc = parse(xml);
  const response = doc.documentElement!;
  const original = first(doc, SAML, 'Assertion');
  const copy = original.cloneNode(true) as Element;
  setNameId(copy, evil.nameId);
  setGroups(copy, evil.groups);
  const sig = first(copy, DS, 'Signature');
  const object = doc.createElementNS(DS, 'ds:Object');
  const originalNoSig = original.cloneNode(true) as Element;
  object.appendChild(originalNoSig);
  sig.appendChild(object);
  response.replaceChild(copy, original);
  return serialize(doc);
}

/** A second, unsigned assertion for another person beside the signed one. */
export function secondUnsignedAssertion(xml: string, evil: { nameId: string; groups: string[] }, position: 'before' | 'after'): string {
  const doc = parse(xml);
  const original = first(doc, SAML, 'Assertion');
  const copy = original.cloneNode(true) as Element;
  const sig = first(copy, DS, 'Signature');
  if (sig) copy.removeChild(sig);
  setNameId(copy, evil.nameId);
  setGroups(copy, evil.groups);
  copy.setAttribute('ID', samlId());
  if (position === 'before') original.parentNode!.insertBefore(copy, original);
  else original.parentNode!.insertBefore(copy, original.nextSibling);
  return serialize(doc);
}

/**
 * The assertion's signature moved up to the Response (where a verifier that
 * checks "the response has a valid signature" would look), then the
 * assertion altered.
 */
export function signatureMovedToResponse(xml: string, evil: { nameId: string }): string {
  const doc = parse(xml);
  const response = doc.documentElement!;
  const assertion = first(doc, SAML, 'Assertion');
  const sig = first(assertion, DS, 'Signature');
  assertion.removeChild(sig);
  response.insertBefore(sig, first(doc, SAMLP, 'Status'));
  setNameId(assertion, evil.nameId);
  return serialize(doc);
}

/** The response's signature removed: nothing signed remains. */
export function stripSignatures(xml: string): string {
  const doc = parse(xml);
  for (const s of Array.from(doc.getElementsByTagNameNS(DS, 'Signature'))) s.parentNode!.removeChild(s);
  return serialize(doc);
}

export const b64 = (xml: string) => Buffer.from(xml, 'utf8').toString('base64');
export const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
