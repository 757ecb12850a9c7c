import { UnsafeForShellError } from '../errors';
import { refuseUnpasteable } from './guard';

/** PowerShell's tokenizer treats all of these as single quotes (CharExtensions.IsSingleQuote). */
const SINGLE_QUOTES = /['\u2018\u2019\u201a\u201b]/g;

/**
 * A PowerShell verbatim string: '…', where nothing ($, `, $(…), ;, |) is
 * special and a quote character is escaped by doubling it (Tokenizer
 * ScanStringLiteral). PowerShell also ends a '…' string at the typographic
 * single quotes, so those are doubled too. Typographic double quotes are
 * literal inside '…' and plain characters on the native command line.
 *
 * Refused, because Windows PowerShell 5.1 builds native command lines by
 * wrapping arguments that contain whitespace in "…" without escaping
 * (NativeCommandParameterBinder.NeedQuotes):
 * - '"': dropped or re-split by the child's argv parser;
 * - empty arguments: dropped entirely;
 * - whitespace plus a trailing backslash: the child's argv parser reads `\"` as a literal quote.
 */
export function quote(arg: string): string {
  refuseUnpasteable('powershell', arg);
  if (arg.includes('"')) {
    throw new UnsafeForShellError('powershell', 'contains a double quote, which Windows PowerShell 5.1 does not pass intact to native programs such as kubectl');
  }
  if (arg === '') {
    throw new UnsafeForShellError('powershell', 'is empty, and Windows PowerShell 5.1 drops empty arguments to native programs');
  }
  if (/\s/.test(arg) && arg.endsWith('\\')) {
    throw new UnsafeForShellError('powershell', 'contains whitespace and ends with a backslash, which Windows PowerShell 5.1 passes as an escaped quote');
  }
  return `'${arg.replace(SINGLE_QUOTES, '$&$&')}'`;
}

/**
 * The program name stays bare when it is a plain word (a quoted first word
 * would be a string expression, not a command); every argument is quoted, so
 * none can be read as a parameter, `--%`, or split at '.' / ':'.
 */
export function renderArgv(argv: readonly string[]): string {
  const [program, ...args] = argv;
  if (program === undefined) throw new RangeError('argv is empty');
  const head = /^[A-Za-z0-9_.-]+$/.test(program) ? program : `& ${quote(program)}`;
  return [head, ...args.map(quote)].join(' ');
}
