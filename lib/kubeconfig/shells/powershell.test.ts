import Parser from 'tree-sitter';
import PowerShell from 'tree-sitter-powershell';
import { describe, expect, test } from 'vitest';
import { kubectlCommands } from '../commands';
import { UnsafeForShellError } from '../errors';
import { makeSpec } from '../../../test/kubeconfig/fixtures';
import { HOSTILE_VALUES, refusedByPowerShell, UNPASTEABLE_VALUES } from '../../../test/kubeconfig/hostile';
import { quote, renderArgv } from './powershell';

/** [value, exact rendering]: always '…'; ' and U+2018/2019/201A/201B doubled. */
const GOLDEN: [string, string][] = [
  ["it's", "'it''s'"],
  ["$(id)", "'$(id)'"],
  ["`id`", "'`id`'"],
  ["a;b", "'a;b'"],
  ["a && b", "'a && b'"],
  ["a | b", "'a | b'"],
  ["$HOME", "'$HOME'"],
  ["${HOME}", "'${HOME}'"],
  ["%PATH%", "'%PATH%'"],
  ["%a%PATH%b%", "'%a%PATH%b%'"],
  ["^caret^", "'^caret^'"],
  ["!!", "'!!'"],
  ["!bang!", "'!bang!'"],
  ["\\", "'\\'"],
  ["a\\b", "'a\\b'"],
  ["*", "'*'"],
  ["?", "'?'"],
  ["[ab]", "'[ab]'"],
  ["~", "'~'"],
  ["~root", "'~root'"],
  ["{a,b}", "'{a,b}'"],
  ["#not a comment", "'#not a comment'"],
  ["-n", "'-n'"],
  ["--", "'--'"],
  ["--%", "'--%'"],
  ["=x", "'=x'"],
  ["%s", "'%s'"],
  ["''", "''''''"],
  ["\\'", "'\\'''"],
  ["$env:USERPROFILE", "'$env:USERPROFILE'"],
  ["a`b", "'a`b'"],
  ["$(Get-Date)", "'$(Get-Date)'"],
  ["@args", "'@args'"],
  ["-foo.bar", "'-foo.bar'"],
  ["-x:y", "'-x:y'"],
  ["\u2018smart\u2019 \u201alow9\u201b", "'\u2018\u2018smart\u2019\u2019 \u201a\u201alow9\u201b\u201b'"],
  ["\u201cdouble smart\u201d", "'\u201cdouble smart\u201d'"],
  ["ünïcödé 日本語 🚀", "'ünïcödé 日本語 🚀'"],
  ["a\u00a0nbsp", "'a\u00a0nbsp'"],
  ["two  spaces", "'two  spaces'"],
  [" leading", "' leading'"],
  ["trailing ", "'trailing '"],
  ["k=v=w", "'k=v=w'"],
  ["a,b,c", "'a,b,c'"],
  [">out", "'>out'"],
  ["<in", "'<in'"],
  ["2>&1", "'2>&1'"],
  ["(x)", "'(x)'"],
  ["a)b(c", "'a)b(c'"],
  ["x^", "'x^'"],
];

const RENDERABLE = HOSTILE_VALUES.filter((value) => !refusedByPowerShell(value));
const REFUSED = HOSTILE_VALUES.filter(refusedByPowerShell);

/** PowerShell's CharExtensions.IsSingleQuote. */
const isSingleQuote = (ch: string | undefined): boolean => ch !== undefined && "'\u2018\u2019\u201a\u201b".includes(ch);

/**
 * Decode a '…' token the way PowerShell's tokenizer does (ScanStringLiteral):
 * any single-quote character followed by another yields the second; a lone
 * one ends the string, so a quote left undoubled is an error here. The
 * tree-sitter grammar only knows the ASCII quote, hence this separate check.
 */
function decodeVerbatim(token: string): string {
  const chars = [...token];
  const last = chars.length - 1;
  if (chars.length < 2 || !isSingleQuote(chars[0]) || !isSingleQuote(chars[last])) throw new Error(`not a verbatim string: ${token}`);
  let out = '';
  for (let i = 1; i < last; i++) {
    const ch = chars[i] ?? '';
    if (isSingleQuote(ch)) {
      if (i + 1 >= last || !isSingleQuote(chars[i + 1])) throw new Error(`string ends early at ${i}: ${token}`);
      i++;
      out += chars[i];
    } else {
      out += ch;
    }
  }
  return out;
}

const parser = new Parser();
parser.setLanguage(PowerShell);

const FORBIDDEN = ['variable', 'sub_expression', 'expandable_string_literal', 'command_parameter', 'generic_token', 'ERROR'];

/**
 * Parse one rendered line and return the decoded arguments after `kubectl`,
 * asserting it is one pipeline with one command whose every argument is a
 * single verbatim string literal.
 */
function parseKubectlLine(line: string): string[] {
  const root = parser.parse(line).rootNode;
  expect(root.hasError).toBe(false);
  expect(root.descendantsOfType('pipeline')).toHaveLength(1);
  const commands = root.descendantsOfType('command');
  expect(commands).toHaveLength(1);
  const command = commands[0]!;
  expect(command.childForFieldName('command_name')?.text).toBe('kubectl');
  expect(command.descendantsOfType(FORBIDDEN)).toEqual([]);
  const elements = command.childForFieldName('command_elements')?.namedChildren ?? [];
  return elements
    .filter((node) => node.type !== 'command_argument_sep')
    .map((node) => {
      expect(node.type).toBe('array_literal_expression');
      const unary = node.namedChildren;
      expect(unary.map((n) => n.type)).toEqual(['unary_expression']);
      const literal = unary[0]!.namedChildren;
      expect(literal.map((n) => n.type)).toEqual(['string_literal']);
      const inner = literal[0]!.namedChildren;
      expect(inner.map((n) => n.type)).toEqual(['verbatim_string_characters']);
      expect(inner[0]!.text).toBe(node.text);
      return decodeVerbatim(node.text);
    });
}

describe('powershell quote: golden', () => {
  test('the table covers every value PowerShell accepts', () => {
    expect(GOLDEN.map(([value]) => value)).toEqual(RENDERABLE);
  });
  test.each(GOLDEN)('%j → %s', (value, expected) => {
    expect(quote(value)).toBe(expected);
  });
  test.each([...REFUSED, ...UNPASTEABLE_VALUES])('refuses %j', (value) => {
    expect(() => quote(value)).toThrow(UnsafeForShellError);
  });
  test('the error names the shell and the reason, not the value', () => {
    expect(() => quote('s3cr"et')).toThrow(/^cannot render this command for powershell: an argument contains a double quote/);
    expect(() => quote('s3cr"et')).not.toThrow(/s3cr/);
  });
  test('the program stays bare when it is a plain word, otherwise is invoked with &', () => {
    expect(renderArgv(['kubectl', 'config', "it's"])).toBe(`kubectl 'config' 'it''s'`);
    expect(renderArgv(['C:\\Program Files\\kubectl.exe', 'version'])).toBe(`& 'C:\\Program Files\\kubectl.exe' 'version'`);
  });
});

describe('powershell quote: tree-sitter-powershell parse', () => {
  test('every hostile value is one verbatim string that decodes to itself', () => {
    expect(parseKubectlLine(renderArgv(['kubectl', ...RENDERABLE]))).toEqual(RENDERABLE);
  });
  test.each(RENDERABLE)('%j alone', (value) => {
    expect(parseKubectlLine(renderArgv(['kubectl', 'config', value]))).toEqual(['config', value]);
  });
  test('every kubectl command for a realistic spec parses back to its argv', () => {
    const spec = makeSpec({ username: "o'neil@example.com", clientSecret: "s3cr'et$(x)=;`\u2019%PATH%" });
    for (const { argv } of kubectlCommands(spec)) {
      expect(parseKubectlLine(renderArgv(argv))).toEqual(argv.slice(1));
    }
  });
  test('the checker catches naive renderings', () => {
    expect(() => parseKubectlLine(`kubectl "$(Get-Date)"`)).toThrow();
    expect(() => parseKubectlLine(`kubectl 'a'; whoami`)).toThrow();
    expect(() => parseKubectlLine(`kubectl $env:HOME`)).toThrow();
    expect(() => parseKubectlLine(`kubectl --server=x`)).toThrow();
    expect(() => parseKubectlLine(`kubectl '\u2018x'`)).toThrow(/ends early/);
  });
});
