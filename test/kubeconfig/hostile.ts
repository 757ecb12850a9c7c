/**
 * Test-only: argument values chosen to break naive quoting in at least one of
 * bash/zsh, fish, PowerShell or cmd.exe. Every value here must survive the
 * POSIX and fish renderers byte for byte; PowerShell and cmd refuse some
 * (see WINDOWS_REFUSED).
 */
export const HOSTILE_VALUES: readonly string[] = [
  '',
  "it's",
  'say "hi"',
  '$(id)',
  '`id`',
  'a;b',
  'a && b',
  'a | b',
  '$HOME',
  '${HOME}',
  '%PATH%',
  '%a%PATH%b%',
  '^caret^',
  '!!',
  '!bang!',
  '\\',
  'a\\b',
  'C:\\dir with space\\',
  '*',
  '?',
  '[ab]',
  '~',
  '~root',
  '{a,b}',
  '#not a comment',
  '-n',
  '--',
  '--%',
  '=x',
  '%s',
  "''",
  '"',
  "\\'",
  '$env:USERPROFILE',
  'a`b',
  '$(Get-Date)',
  '@args',
  '-foo.bar',
  '-x:y',
  '\u2018smart\u2019 \u201alow9\u201b',
  '\u201cdouble smart\u201d',
  '\u00fcn\u00efc\u00f6d\u00e9 \u65e5\u672c\u8a9e \ud83d\ude80',
  'a\u00a0nbsp',
  'two  spaces',
  ' leading',
  'trailing ',
  'k=v=w',
  'a,b,c',
  '>out',
  '<in',
  '2>&1',
  '(x)',
  'a)b(c',
  'x^',
  's3cr\'et"$(x)=,;',
];

/** Values the Windows renderers must refuse (double quotes; for PowerShell also '' and whitespace + trailing '\'). */
export function refusedByPowerShell(value: string): boolean {
  return value.includes('"') || value === '' || (/\s/.test(value) && value.endsWith('\\'));
}

export function refusedByCmd(value: string): boolean {
  return value.includes('"');
}

/** Refused by every renderer. */
export const UNPASTEABLE_VALUES: readonly string[] = [
  'a\nb',
  'a\r\nb',
  'a\rb',
  'nul\0byte',
  'tab\there',
  'esc\u001b[31m',
  'del\u007f',
  'c1\u009b',
  'bidi\u202eevil',
  'isolate\u2066x\u2069',
  'line\u2028sep',
  'lone\ud800surrogate',
];
