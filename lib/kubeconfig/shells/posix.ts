import { BARE_WORD, refuseUnpasteable } from './guard';

/**
 * POSIX sh / bash / zsh quoting. Safe words stay bare; anything else goes in
 * single quotes, inside which nothing is special, and each ' becomes '\''
 * (close, escaped quote, reopen). A word starting with '=' is quoted too:
 * zsh's EQUALS option expands a bare `=word` to a command path.
 * History expansion ('!') does not happen inside single quotes.
 */
export function quote(arg: string): string {
  refuseUnpasteable('bash', arg);
  if (BARE_WORD.test(arg) && !arg.startsWith('=')) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function renderArgv(argv: readonly string[]): string {
  return argv.map(quote).join(' ');
}
