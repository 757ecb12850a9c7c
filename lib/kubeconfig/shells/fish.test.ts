import { describe, expect, test } from 'vitest';
import { UnsafeForShellError } from '../errors';
import { HOSTILE_VALUES, UNPASTEABLE_VALUES } from '../../../test/kubeconfig/hostile';
import { run, sandbox } from '../../../test/kubeconfig/kubectl';
import { quote, renderArgv } from './fish';

/** [value, exact rendering]: bare for /^[A-Za-z0-9_@%+=:,./-]+$/, else '…' with \ and ' backslash-escaped. */
const GOLDEN: [string, string][] = [
  ["", "''"],
  ["it's", "'it\\'s'"],
  ["say \"hi\"", "'say \"hi\"'"],
  ["$(id)", "'$(id)'"],
  ["`id`", "'`id`'"],
  ["a;b", "'a;b'"],
  ["a && b", "'a && b'"],
  ["a | b", "'a | b'"],
  ["$HOME", "'$HOME'"],
  ["${HOME}", "'${HOME}'"],
  ["%PATH%", "%PATH%"],
  ["%a%PATH%b%", "%a%PATH%b%"],
  ["^caret^", "'^caret^'"],
  ["!!", "'!!'"],
  ["!bang!", "'!bang!'"],
  ["\\", "'\\\\'"],
  ["a\\b", "'a\\\\b'"],
  ["C:\\dir with space\\", "'C:\\\\dir with space\\\\'"],
  ["*", "'*'"],
  ["?", "'?'"],
  ["[ab]", "'[ab]'"],
  ["~", "'~'"],
  ["~root", "'~root'"],
  ["{a,b}", "'{a,b}'"],
  ["#not a comment", "'#not a comment'"],
  ["-n", "-n"],
  ["--", "--"],
  ["--%", "--%"],
  ["=x", "=x"],
  ["%s", "%s"],
  ["''", "'\\'\\''"],
  ["\"", "'\"'"],
  ["\\'", "'\\\\\\''"],
  ["$env:USERPROFILE", "'$env:USERPROFILE'"],
  ["a`b", "'a`b'"],
  ["$(Get-Date)", "'$(Get-Date)'"],
  ["@args", "@args"],
  ["-foo.bar", "-foo.bar"],
  ["-x:y", "-x:y"],
  ["\u2018smart\u2019 \u201alow9\u201b", "'\u2018smart\u2019 \u201alow9\u201b'"],
  ["\u201cdouble smart\u201d", "'\u201cdouble smart\u201d'"],
  ["ünïcödé 日本語 🚀", "'ünïcödé 日本語 🚀'"],
  ["a\u00a0nbsp", "'a\u00a0nbsp'"],
  ["two  spaces", "'two  spaces'"],
  [" leading", "' leading'"],
  ["trailing ", "'trailing '"],
  ["k=v=w", "k=v=w"],
  ["a,b,c", "a,b,c"],
  [">out", "'>out'"],
  ["<in", "'<in'"],
  ["2>&1", "'2>&1'"],
  ["(x)", "'(x)'"],
  ["a)b(c", "'a)b(c'"],
  ["x^", "'x^'"],
  ["s3cr'et\"$(x)=,;", "'s3cr\\'et\"$(x)=,;'"],
];

describe('fish quote: golden', () => {
  test('the table covers every hostile value', () => {
    expect(GOLDEN.map(([value]) => value)).toEqual(HOSTILE_VALUES);
  });
  test.each(GOLDEN)('%j → %s', (value, expected) => {
    expect(quote(value)).toBe(expected);
  });
  test.each(UNPASTEABLE_VALUES)('refuses %j', (value) => {
    expect(() => quote(value)).toThrow(UnsafeForShellError);
  });
});

/** Real fish (3.6): `printf '%s\0' <values…>` via /usr/bin/printf, both pasted into an interactive fish and with -c. */
describe('fish quote: real fish', () => {
  const line = renderArgv(['/usr/bin/printf', '%s\\0', ...HOSTILE_VALUES]);
  const modes: [string, string[], string | undefined][] = [
    ['fish -i (pasted)', ['--no-config', '-i'], `${line}\n`],
    ['fish -c', ['--no-config', '-c', line], undefined],
  ];
  test.each(modes)('%s delivers every argument intact', (_name, args, input) => {
    const box = sandbox();
    try {
      const result = run('fish', args, box.env, input);
      expect(result.status).toBe(0);
      expect(result.stdout.split('\0').slice(0, -1)).toEqual(HOSTILE_VALUES);
    } finally {
      box.cleanup();
    }
  });
});
