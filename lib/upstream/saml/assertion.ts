/**
 * What we read from a SAML Response, in two parts:
 *   - the envelope (`inspectResponse`): read BEFORE the signature check, only
 *     to refuse shapes we never accept (a DOCTYPE, several assertions, SHA-1)
 *     and for the Response's own attributes (Destination, InResponseTo);
 *   - the assertion (`readAssertion`): read only from the XML that the
 *     signature check returned (node-saml hands back the signed reference's
 *     bytes), then checked by `checkAssertion` against our own expectations.
 * SAML 2.0 core (saml-core-2.0-os) §2, profiles §4.1.4 (Web SSO).
 */
import { DOMParser } from '@xmldom/xmldom';
import { UpstreamRefusal } from '../types';

export const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
export const SAMLP_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
const DS_NS = 'http://www.w3.org/2000/09/xmldsig#';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

const refuse = (detail: string): never => {
  throw new UpstreamRefusal('invalid_response', detail);
};

function parse(xml: string, what: string): Document {
  // No DTDs at all: entity expansion and external entities have no place in a SAML message.
  if (/<!DOCTYPE/i.test(xml)) refuse(`${what} carries a DOCTYPE`);
  const errors: string[] = [];
  const doc = new DOMParser({
    errorHandler: (level: string, msg: string) => {
      if (level !== 'warning') errors.push(msg);
    },
  }).parseFromString(xml, 'text/xml');
  if (errors.length > 0 || !doc.documentElement) refuse(`${what} is not well-formed XML`);
  return doc;
}

function kids(parent: Element, ns: string, localName: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === localName) out.push(n as Element);
  }
  return out;
}
const kid = (parent: Element, ns: string, localName: string): Element | undefined => kids(parent, ns, localName)[0];
const attr = (el: Element | undefined, name: string): string | undefined => {
  const v = el?.getAttribute(name);
  return v === null || v === undefined || v === '' ? undefined : v;
};
const text = (el: Element | undefined): string | undefined => {
  const t = el?.textContent?.trim();
  return t === undefined || t === '' ? undefined : t;
};

/** Signature and digest algorithms built on SHA-1 (XML-DSig, RFC 6931). */
export function isSha1Algorithm(uri: string): boolean {
  return /[#-]sha1$/i.test(uri.trim());
}

export interface ResponseEnvelope {
  destination?: string;
  inResponseTo?: string;
  issuer?: string;
  /** Every SHA-1 based algorithm named by any signature in the message. */
  sha1Algorithms: string[];
}

/**
 * Refuses shapes no honest IdP sends, before any signature is checked:
 * the root must be a samlp:Response holding exactly one saml:Assertion in the
 * whole document (a second one anywhere, e.g. wrapped in Extensions or a
 * ds:Object, is how signature-wrapping attacks smuggle an unsigned copy),
 * and no EncryptedAssertion (we publish no encryption key).
 */
export function inspectResponse(xml: string): ResponseEnvelope {
  const doc = parse(xml, 'the SAML response');
  const root = doc.documentElement!;
  if (root.namespaceURI !== SAMLP_NS || root.localName !== 'Response') refuse(`expected a samlp:Response, got ${root.localName}`);
  // By local name in any namespace: node-saml selects by local-name() too, so a look-alike in
  // another namespace must count as much as the real thing.
  const assertions = doc.getElementsByTagNameNS('*', 'Assertion').length;
  if (assertions > 1) refuse(`the response holds ${assertions} Assertion elements; exactly one is accepted`);
  if (doc.getElementsByTagNameNS('*', 'EncryptedAssertion').length > 0) refuse('the response holds an EncryptedAssertion; Kubegate publishes no encryption key, configure the IdP not to encrypt');
  if (assertions === 0) {
    const status = attr(kid(kid(root, SAMLP_NS, 'Status') ?? root, SAMLP_NS, 'StatusCode'), 'Value');
    if (status && !status.endsWith(':Success')) {
      const message = text(kid(kid(root, SAMLP_NS, 'Status') ?? root, SAMLP_NS, 'StatusMessage'));
      refuse(`the IdP answered ${status.replace(/.*:/, '')}${message ? `: ${message.slice(0, 200)}` : ''}`);
    }
    refuse('the response holds no Assertion');
  }
  const sha1Algorithms = new Set<string>();
  for (const name of ['SignatureMethod', 'DigestMethod']) {
    for (const el of Array.from(doc.getElementsByTagNameNS(DS_NS, name))) {
      const alg = el.getAttribute('Algorithm') ?? '';
      if (isSha1Algorithm(alg)) sha1Algorithms.add(alg);
    }
  }
  return {
    destination: attr(root, 'Destination'),
    inResponseTo: attr(root, 'InResponseTo'),
    issuer: text(kid(root, SAML_NS, 'Issuer')),
    sha1Algorithms: [...sha1Algorithms],
  };
}

export interface SubjectConfirmation {
  method?: string;
  recipient?: string;
  notBefore?: string;
  notOnOrAfter?: string;
  inResponseTo?: string;
}

export interface VerifiedAssertion {
  id?: string;
  issuer?: string;
  nameId?: { value: string; format?: string };
  confirmations: SubjectConfirmation[];
  conditions?: { notBefore?: string; notOnOrAfter?: string; audiences: string[][] };
  conditionsCount: number;
  authnInstant?: string;
  authnContextClassRef?: string;
  /** By Name, and also by FriendlyName where it differs. Values in document order. */
  attributes: Map<string, string[]>;
}

/** Reads the assertion that the signature check returned (and only that). */
export function readAssertion(xml: string): VerifiedAssertion {
  const a = parse(xml, 'the signed assertion').documentElement!;
  if (a.namespaceURI !== SAML_NS || a.localName !== 'Assertion') refuse('the signed element is not a saml:Assertion');
  const subject = kid(a, SAML_NS, 'Subject');
  const nameIdEl = subject && kid(subject, SAML_NS, 'NameID');
  const nameIdValue = text(nameIdEl);
  const confirmations = (subject ? kids(subject, SAML_NS, 'SubjectConfirmation') : []).map((sc) => {
    const data = kid(sc, SAML_NS, 'SubjectConfirmationData');
    return {
      method: attr(sc, 'Method'),
      recipient: attr(data, 'Recipient'),
      notBefore: attr(data, 'NotBefore'),
      notOnOrAfter: attr(data, 'NotOnOrAfter'),
      inResponseTo: attr(data, 'InResponseTo'),
    };
  });
  const conditionsEls = kids(a, SAML_NS, 'Conditions');
  const c = conditionsEls[0];
  const authn = kids(a, SAML_NS, 'AuthnStatement')[0];
  const attributes = new Map<string, string[]>();
  for (const statement of kids(a, SAML_NS, 'AttributeStatement')) {
    for (const at of kids(statement, SAML_NS, 'Attribute')) {
      const values = kids(at, SAML_NS, 'AttributeValue')
        .map((v) => v.textContent?.trim() ?? '')
        .filter((v) => v !== '');
      for (const key of new Set([attr(at, 'Name'), attr(at, 'FriendlyName')])) {
        if (key === undefined) continue;
        attributes.set(key, [...(attributes.get(key) ?? []), ...values]);
      }
    }
  }
  return {
    id: attr(a, 'ID'),
    issuer: text(kid(a, SAML_NS, 'Issuer')),
    nameId: nameIdValue === undefined ? undefined : { value: nameIdValue, format: attr(nameIdEl, 'Format') },
    confirmations,
    conditions: c && {
      notBefore: attr(c, 'NotBefore'),
      notOnOrAfter: attr(c, 'NotOnOrAfter'),
      audiences: kids(c, SAML_NS, 'AudienceRestriction').map((r) => kids(r, SAML_NS, 'Audience').map((x) => text(x) ?? '')),
    },
    conditionsCount: conditionsEls.length,
    authnInstant: attr(authn, 'AuthnInstant'),
    authnContextClassRef: text(authn && kid(kid(authn, SAML_NS, 'AuthnContext') ?? authn, SAML_NS, 'AuthnContextClassRef')),
    attributes,
  };
}

function instant(value: string, what: string): number {
  // xs:dateTime in UTC, as SAML requires (core §1.3.3); Date.parse alone accepts far too much.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value)) refuse(`${what} is not a UTC xs:dateTime: ${value.slice(0, 40)}`);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) refuse(`${what} is not a valid time: ${value.slice(0, 40)}`);
  return ms;
}

export interface AssertionExpectations {
  idpEntityId: string;
  spEntityId: string;
  acsUrl: string;
  skewMs: number;
  now: number;
}

export interface AcceptedAssertion {
  /** The request this answers, from the signed SubjectConfirmationData (undefined: unsolicited). */
  inResponseTo?: string;
  /** Until when the assertion could be presented: the replay cache keeps its id that long. */
  usableUntil: number;
  authTime?: number;
}

/**
 * The Web SSO profile's checks (profiles §4.1.4.3) on a verified assertion:
 * our IdP issued it, for us (Audience), to our ACS (a bearer confirmation
 * with our Recipient), and it is within its validity window, give or take
 * the configured skew.
 */
export function checkAssertion(a: VerifiedAssertion, e: AssertionExpectations): AcceptedAssertion {
  if (!a.id) refuse('the assertion has no ID');
  if (a.issuer !== e.idpEntityId) refuse(`the assertion's Issuer is ${JSON.stringify(a.issuer ?? null)}, expected ${JSON.stringify(e.idpEntityId)}`);

  if (a.conditionsCount > 1) refuse('the assertion has more than one Conditions element');
  const c = a.conditions;
  if (!c) refuse('the assertion has no Conditions (an audience restriction is required)');
  if (c!.notBefore && e.now + e.skewMs < instant(c!.notBefore, 'Conditions NotBefore')) refuse(`the assertion is not valid before ${c!.notBefore}`);
  let usableUntil = Infinity;
  if (c!.notOnOrAfter) {
    const end = instant(c!.notOnOrAfter, 'Conditions NotOnOrAfter');
    if (e.now - e.skewMs >= end) refuse(`the assertion expired at ${c!.notOnOrAfter}`);
    usableUntil = end;
  }
  // Every AudienceRestriction must name us (core §2.5.1.4: they are ANDed).
  if (c!.audiences.length === 0) refuse('the assertion has no AudienceRestriction');
  for (const audiences of c!.audiences) {
    if (!audiences.includes(e.spEntityId)) refuse(`the assertion is for audience ${JSON.stringify(audiences.join(' '))}, not ${JSON.stringify(e.spEntityId)}`);
  }

  // A bearer confirmation addressed to our ACS and still current (profiles §4.1.4.2).
  const bearers = a.confirmations.filter((sc) => sc.method === BEARER);
  if (bearers.length === 0) refuse('the assertion has no bearer SubjectConfirmation');
  const problems: string[] = [];
  const good = bearers.find((sc) => {
    if (sc.recipient !== e.acsUrl) {
      problems.push(`Recipient ${JSON.stringify(sc.recipient ?? null)} is not our ACS URL ${JSON.stringify(e.acsUrl)}`);
      return false;
    }
    if (!sc.notOnOrAfter) {
      problems.push('SubjectConfirmationData has no NotOnOrAfter');
      return false;
    }
    if (e.now - e.skewMs >= instant(sc.notOnOrAfter, 'SubjectConfirmationData NotOnOrAfter')) {
      problems.push(`the subject confirmation expired at ${sc.notOnOrAfter}`);
      return false;
    }
    if (sc.notBefore && e.now + e.skewMs < instant(sc.notBefore, 'SubjectConfirmationData NotBefore')) {
      problems.push(`the subject confirmation is not valid before ${sc.notBefore}`);
      return false;
    }
    return true;
  });
  if (!good) refuse(problems[0] ?? 'no usable bearer SubjectConfirmation');
  usableUntil = Math.min(usableUntil, instant(good!.notOnOrAfter!, 'SubjectConfirmationData NotOnOrAfter'));

  return {
    inResponseTo: good!.inResponseTo,
    usableUntil: usableUntil + e.skewMs,
    authTime: a.authnInstant ? instant(a.authnInstant, 'AuthnInstant') : undefined,
  };
}
