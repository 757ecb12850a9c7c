import { UnsafeForShellError } from '../errors';
import type { Shell } from '../types';

/**
 * Characters we refuse in every shell. Rendered commands are meant to be pasted
 * into a terminal, where these misbehave even inside quotes: a line break runs
 * the command early, the tty interprets C0 controls (^C, ^U, ^W, ^D …) and some
 * terminals C1 ones, tab triggers completion, and bidi controls / line
 * separators make the displayed command differ from the executed one
 * ("Trojan Source", CVE-2021-42574). Lone surrogates cannot be encoded at all.
 */
const UNPASTEABLE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function describe(ch: string): string {
  if (ch === '\0') return 'contains NUL';
  if (ch === '\n' || ch === '\r') return 'contains a line break';
  const hex = (ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
  return `contains the control, bidi or unpaired surrogate character U+${hex}`;
}

/** Why no shell can carry `text` ("contains a line break", …), or undefined when every one may. */
export function unpasteable(text: string): string | undefined {
  const match = UNPASTEABLE.exec(text);
  return match ? describe(match[0]) : undefined;
}

export function refuseUnpasteable(shell: Shell, arg: string): void {
  const problem = unpasteable(arg);
  if (problem) throw new UnsafeForShellError(shell, problem);
}

/** The common "no quoting needed" set for POSIX shells and fish. */
export const BARE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;
