/**
 * Output for an administrator's terminal. Usernames, client addresses and
 * audit details come from the outside world (a failed sign-in stores the
 * username exactly as typed), and a terminal obeys what it is sent: `ESC ]0;…
 * BEL` retitles the window, other sequences move the cursor, rewrite lines
 * already shown, or (in some terminals) answer back into the input. So every
 * human-readable line shows such characters as visible escapes instead.
 */

/**
 * C0 controls (tab and line breaks included: they would fake columns and
 * rows), DEL, C1 controls (8-bit CSI and friends), bidi controls and line
 * separators (text that displays in another order than it is stored:
 * CVE-2021-42574), and unpaired surrogates.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const hex = (ch: string, width: number) => ch.charCodeAt(0).toString(16).padStart(width, '0');

/**
 * `text` with every unsafe character written as `\xHH` or `\uHHHH`, and a
 * backslash as `\\`, so what is shown is unambiguous: `a\x1bb` on screen is
 * the three-character name with an ESC, `a\\x1bb` is the literal text.
 */
export function escapeForTerminal(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(UNSAFE, (ch) => {
    const code = ch.charCodeAt(0);
    return code <= 0xff ? `\\x${hex(ch, 2)}` : `\\u${hex(ch, 4)}`;
  });
}

const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * One JSON document on one line. JSON.stringify already escapes C0 controls
 * and lone surrogates; the rest of the unsafe set is written as `\uHHHH`
 * too, which any JSON parser reads back as the same string.
 */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(JSON_UNSAFE, (ch) => `\\u${hex(ch, 4)}`);
}

/** A time as admins read it: ISO 8601 UTC to the second. */
export const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Columns padded to the widest cell; cells are escaped before measuring, so what is padded is what is shown. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}
