import { AndFilter, EqualityFilter, Filter, FilterParser, NotFilter, OrFilter, PresenceFilter, SubstringFilter } from 'ldapts';

/**
 * Building LDAP search filters and reading DNs without letting a typed
 * username (or a group name an attacker chose in the directory) change the
 * filter's structure.
 *
 * Filters: values are escaped with ldapts' own `Filter.escape` (RFC 4515 §3:
 * `*`, `(`, `)`, `\` and NUL as `\XX`). Values we hold as data (DNs read
 * from the directory, binary GUIDs) never pass through a string at all:
 * they go into ldapts filter objects, which BER-encode the value verbatim.
 */

export const USERNAME_PLACEHOLDER = '{username}';

/** RFC 4515 §3 escaping of one assertion value. */
export function escapeFilterValue(value: string): string {
  return Filter.escape(value);
}

/**
 * The configured user filter with `{username}` replaced by the escaped
 * value, parsed. Throws on a template that is not a filter (the config
 * schema checks every template once at start-up, with a sample value).
 */
export function userFilter(template: string, username: string): Filter {
  return FilterParser.parseString(template.split(USERNAME_PLACEHOLDER).join(escapeFilterValue(username)));
}

/** A configured filter without placeholders (group filters), parsed. */
export function parseFilter(text: string): Filter {
  return FilterParser.parseString(text);
}

/**
 * The user filter with every `(attr={username})` turned into `(attr=*)`:
 * what the re-check ANDs with the stable subject, so a person who no longer
 * matches the operator's filter (moved out of a required group, say) is
 * gone, while a renamed one is still found.
 */
export function userFilterWithoutUsername(template: string): Filter {
  // A sentinel no escaped value can contain (escaping turns `\` into `\5c`).
  const sentinel = '\u0001kubegate-username\u0001';
  const parsed = FilterParser.parseString(template.split(USERNAME_PLACEHOLDER).join(sentinel));
  const strip = (f: Filter): Filter => {
    if (f instanceof AndFilter) return new AndFilter({ filters: f.filters.map(strip) });
    if (f instanceof OrFilter) return new OrFilter({ filters: f.filters.map(strip) });
    if (f instanceof NotFilter) return new NotFilter({ filter: strip(f.filter) });
    if (f instanceof EqualityFilter && f.value === sentinel) return new PresenceFilter({ attribute: f.attribute });
    if (f instanceof SubstringFilter && [f.initial, f.final, ...f.any].some((part) => part.includes(sentinel))) {
      return new PresenceFilter({ attribute: f.attribute });
    }
    return f;
  };
  return strip(parsed);
}

/** `(&a b)` without nesting an AND in an AND needlessly. */
export function and(...filters: Filter[]): Filter {
  return filters.length === 1 ? filters[0]! : new AndFilter({ filters });
}

/**
 * RFC 4514 §2.4 escaping of one attribute value inside a DN (for DNs we
 * build, e.g. test fixtures and documentation examples). ldapts' own RDN
 * escaping quotes values with leading/trailing spaces (RFC 1779 style) and
 * leaves NUL as is, which RFC 4514 does not allow, so it is not used.
 */
export function escapeDnValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\0') out += '\\00';
    else if ('"+,;<>\\='.includes(c)) out += '\\' + c;
    else if ((c === ' ' || c === '#') && i === 0) out += '\\' + c;
    else if (c === ' ' && i === value.length - 1) out += '\\ ';
    else out += c;
  }
  return out;
}

export interface Rdn {
  type: string;
  value: string;
  /** The further components of a multi-valued RDN (`cn=a+uid=b`), in order. */
  more?: { type: string; value: string }[];
}

/**
 * Splits a DN (RFC 4514 string form) into its RDNs, unescaping values
 * (character escapes and UTF-8 hex pairs). Hex-string values (`cn=#04..`)
 * stay as written. Returns undefined for a malformed DN.
 */
export function parseDn(dn: string): Rdn[] | undefined {
  const rdns: Rdn[] = [];
  let i = 0;
  const n = dn.length;
  const skipSpaces = () => {
    while (i < n && dn[i] === ' ') i++;
  };
  if (dn.trim() === '') return [];
  let current: Rdn | undefined;
  while (i < n) {
    skipSpaces();
    const typeStart = i;
    while (i < n && dn[i] !== '=') i++;
    if (i >= n) return undefined;
    const type = dn.slice(typeStart, i).trim();
    if (!/^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)*)$/.test(type)) return undefined;
    i++; // '='
    skipSpaces();
    const bytes: number[] = [];
    // Bytes up to here were escaped: unescaped trailing spaces after them are not part of the value (§3).
    let keep = 0;
    while (i < n && dn[i] !== ',' && dn[i] !== ';' && dn[i] !== '+') {
      const c = dn[i]!;
      if (c === '\\') {
        const hex = dn.slice(i + 1, i + 3);
        if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
          bytes.push(parseInt(hex, 16));
          i += 3;
        } else if (i + 1 < n) {
          bytes.push(...Buffer.from(dn[i + 1]!, 'utf8'));
          i += 2;
        } else return undefined;
        keep = bytes.length;
      } else {
        const cp = dn.codePointAt(i)!;
        const ch = String.fromCodePoint(cp);
        bytes.push(...Buffer.from(ch, 'utf8'));
        i += ch.length;
      }
    }
    let end = bytes.length;
    while (end > keep && bytes[end - 1] === 0x20) end--;
    const ava = { type, value: Buffer.from(bytes.slice(0, end)).toString('utf8') };
    if (current) (current.more ??= []).push(ava);
    else current = ava;
    const sep = i < n ? dn[i] : undefined;
    if (sep !== '+') {
      rdns.push(current);
      current = undefined;
    }
    if (sep !== undefined) {
      i++;
      if (i >= n) return undefined; // a trailing separator
    }
  }
  return rdns;
}

/** The value of a DN's first RDN (`cn=Platform Team,ou=groups,…` → `Platform Team`). */
export function firstRdnValue(dn: string): string | undefined {
  return parseDn(dn)?.[0]?.value;
}

/**
 * A comparison key for DNs: attribute types and values lower-cased, spaces
 * around separators dropped, escaping undone. Good enough to notice the same
 * group twice in a nested walk (names are case-insensitive in practice).
 */
export function normalizeDn(dn: string): string {
  const rdns = parseDn(dn);
  if (!rdns) return dn.toLowerCase();
  const ava = (a: { type: string; value: string }) => `${a.type.toLowerCase()}=${escapeDnValue(a.value.toLowerCase())}`;
  // A multi-valued RDN's components are a set: sorted, so their order does not matter.
  return rdns.map((r) => [r, ...(r.more ?? [])].map(ava).sort().join('+')).join(',');
}

/** True when `dn` is `base` or below it. */
export function isUnderDn(dn: string, base: string): boolean {
  const d = normalizeDn(dn);
  const b = normalizeDn(base);
  return b === '' || d === b || d.endsWith(',' + b);
}
