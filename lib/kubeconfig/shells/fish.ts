import { BARE_WORD, refuseUnpasteable } from './guard';

/**
 * fish quoting (fish ≥ 3.0). Safe words stay bare; otherwise single quotes,
 * where fish (unlike POSIX sh) recognises exactly two escapes, \' and \\;
 * so both are backslash-escaped and everything else is literal.
 */
export function quote(arg: string): string {
  refuseUnpasteable('fish', arg);
  if (BARE_WORD.test(arg)) return arg;
  return `'${arg.replace(/[\\']/g, '\\$&')}'`;
}

export function renderArgv(argv: readonly string[]): string {
  return argv.map(quote).join(' ');
}
