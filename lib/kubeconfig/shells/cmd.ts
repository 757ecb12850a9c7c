import { UnsafeForShellError } from '../errors';
import { refuseUnpasteable } from './guard';

/** cmd.exe refuses longer command lines (8191 characters). */
export const CMD_MAX_LINE = 8191;

/**
 * Quote one argument for the Windows argv parser (CommandLineToArgvW and the
 * MSVC / Go runtimes): left alone unless it is empty or has whitespace or '"';
 * otherwise wrapped in "…", with backslashes doubled when they precede a '"'
 * (inner or closing) and each inner '"' written as \".
 */
export function quoteWindowsArgv(arg: string): string {
  if (arg !== '' && !/[ \t\n\v"]/.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const ch of arg) {
    if (ch === '\\') {
      backslashes++;
      continue;
    }
    out += ch === '"' ? `${'\\'.repeat(2 * backslashes + 1)}"` : `${'\\'.repeat(backslashes)}${ch}`;
    backslashes = 0;
  }
  return `${out}${'\\'.repeat(2 * backslashes)}"`;
}

/**
 * Interactive cmd.exe prompt (not a .bat file, where % must be doubled; not
 * `cmd /V:ON`, where ! needs a second caret). Per Daniel Colascione, "Everyone
 * quotes command line arguments the wrong way": first quote for the argv
 * parser, then caret-escape every cmd metacharacter, including the quotes just
 * added, so cmd never enters its quoted state and every caret is consumed.
 * `^%` works at the prompt because `%NAME^%` names no variable and is left as is.
 *
 * Refused: '"' (also unsafe in PowerShell, and the same commands are offered
 * for both), and the control characters refused everywhere.
 */
export function quote(arg: string): string {
  refuseUnpasteable('cmd', arg);
  if (arg.includes('"')) throw new UnsafeForShellError('cmd', 'contains a double quote');
  return quoteWindowsArgv(arg).replace(/[()%!^"<>&|]/g, '^$&');
}

export function renderArgv(argv: readonly string[]): string {
  const line = argv.map(quote).join(' ');
  if (line.length > CMD_MAX_LINE) {
    throw new UnsafeForShellError('cmd', `makes the command line longer than cmd.exe's limit of ${CMD_MAX_LINE} characters`);
  }
  return line;
}
