import { describe, expect, test } from 'vitest';
import { kubectlCommands } from '../commands';
import { UnsafeForShellError } from '../errors';
import { makeSpec } from '../../../test/kubeconfig/fixtures';
import { HOSTILE_VALUES, refusedByCmd, UNPASTEABLE_VALUES } from '../../../test/kubeconfig/hostile';
import { CMD_MAX_LINE, quote, quoteWindowsArgv, renderArgv } from './cmd';

/** [value, exact rendering]: argv-quoted ("…" if empty or whitespace), then ^ before each of ( ) % ! ^ " < > & |. */
const GOLDEN: [string, string][] = [
  ["", "^\"^\""],
  ["it's", "it's"],
  ["$(id)", "$^(id^)"],
  ["`id`", "`id`"],
  ["a;b", "a;b"],
  ["a && b", "^\"a ^&^& b^\""],
  ["a | b", "^\"a ^| b^\""],
  ["$HOME", "$HOME"],
  ["${HOME}", "${HOME}"],
  ["%PATH%", "^%PATH^%"],
  ["%a%PATH%b%", "^%a^%PATH^%b^%"],
  ["^caret^", "^^caret^^"],
  ["!!", "^!^!"],
  ["!bang!", "^!bang^!"],
  ["\\", "\\"],
  ["a\\b", "a\\b"],
  ["C:\\dir with space\\", "^\"C:\\dir with space\\\\^\""],
  ["*", "*"],
  ["?", "?"],
  ["[ab]", "[ab]"],
  ["~", "~"],
  ["~root", "~root"],
  ["{a,b}", "{a,b}"],
  ["#not a comment", "^\"#not a comment^\""],
  ["-n", "-n"],
  ["--", "--"],
  ["--%", "--^%"],
  ["=x", "=x"],
  ["%s", "^%s"],
  ["''", "''"],
  ["\\'", "\\'"],
  ["$env:USERPROFILE", "$env:USERPROFILE"],
  ["a`b", "a`b"],
  ["$(Get-Date)", "$^(Get-Date^)"],
  ["@args", "@args"],
  ["-foo.bar", "-foo.bar"],
  ["-x:y", "-x:y"],
  ["\u2018smart\u2019 \u201alow9\u201b", "^\"\u2018smart\u2019 \u201alow9\u201b^\""],
  ["\u201cdouble smart\u201d", "^\"\u201cdouble smart\u201d^\""],
  ["ünïcödé 日本語 🚀", "^\"ünïcödé 日本語 🚀^\""],
  ["a\u00a0nbsp", "a\u00a0nbsp"],
  ["two  spaces", "^\"two  spaces^\""],
  [" leading", "^\" leading^\""],
  ["trailing ", "^\"trailing ^\""],
  ["k=v=w", "k=v=w"],
  ["a,b,c", "a,b,c"],
  [">out", "^>out"],
  ["<in", "^<in"],
  ["2>&1", "2^>^&1"],
  ["(x)", "^(x^)"],
  ["a)b(c", "a^)b^(c"],
  ["x^", "x^^"],
];

const RENDERABLE = HOSTILE_VALUES.filter((value) => !refusedByCmd(value));
const REFUSED = HOSTILE_VALUES.filter(refusedByCmd);

/** Variables defined in the emulated session; names matching the hostile values so expansion would show. */
const ENV: Record<string, string> = { PATH: 'C:\\Windows', HOME: 'C:\\Users\\me', A: 'AAA', B: 'BBB', S: 'SSS' };

/**
 * Phase 1 at the interactive prompt (command-line mode): %NAME% is replaced
 * when NAME is defined (case-insensitively); otherwise it is left as is and
 * its closing % may open the next reference (`set b=a` → `%a %b% c%` gives
 * `%a a c%`, per dbenham/jeb's "How does the Windows Command Interpreter
 * (CMD.EXE) parse scripts?"). %% is not special at the prompt.
 */
function expandPercent(line: string): string {
  let out = '';
  let i = 0;
  while (i < line.length) {
    const close = line[i] === '%' ? line.indexOf('%', i + 1) : -1;
    const value = close > i ? Object.entries(ENV).find(([k]) => k.toUpperCase() === line.slice(i + 1, close).toUpperCase())?.[1] : undefined;
    if (value !== undefined) {
      out += value;
      i = close + 1;
    } else {
      out += line[i];
      i++;
    }
  }
  return out;
}

/**
 * Phase 2: outside quotes ^ escapes the next character and is removed, and an
 * unescaped & | < > ( ) would start another command, redirect or block (we
 * throw; parentheses are only special in some positions, so this is stricter
 * than cmd). Inside quotes everything is literal. " toggles the quote state.
 */
function processSpecials(line: string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] ?? '';
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '^') {
      i++;
      if (i >= line.length) throw new Error('trailing caret: line continuation');
      out += line[i];
      continue;
    } else if (!quoted && '&|<>()'.includes(ch)) throw new Error(`unescaped ${ch}: not a single command`);
    out += ch;
  }
  return out;
}

/** The child's argv parser (CommandLineToArgvW / MSVC 2008+ / Go), for the arguments after the program name. */
function commandLineToArgv(tail: string): string[] {
  const args: string[] = [];
  let i = 0;
  for (;;) {
    while (tail[i] === ' ' || tail[i] === '\t') i++;
    if (i >= tail.length) return args;
    let arg = '';
    let quoted = false;
    while (i < tail.length && (quoted || (tail[i] !== ' ' && tail[i] !== '\t'))) {
      let backslashes = 0;
      while (tail[i] === '\\') {
        backslashes++;
        i++;
      }
      if (tail[i] === '"') {
        arg += '\\'.repeat(Math.floor(backslashes / 2));
        if (backslashes % 2 === 1) arg += '"';
        else if (quoted && tail[i + 1] === '"') {
          arg += '"';
          i++;
        }
        else quoted = !quoted;
        i++;
      } else {
        arg += '\\'.repeat(backslashes);
        if (i < tail.length && (quoted || (tail[i] !== ' ' && tail[i] !== '\t'))) arg += tail[i++];
      }
    }
    args.push(arg);
  }
}

/**
 * What `kubectl.exe` receives when `line` is typed at an interactive cmd.exe
 * prompt. Limits: no delayed expansion (cmd /V:ON), no FOR/IF/blocks, no
 * AutoRun, no Ctrl-Z; the program name is taken to be the first word.
 */
function emulateCmd(line: string): string[] {
  const commandLine = processSpecials(expandPercent(line));
  const [program, ...rest] = commandLine.split(' ');
  expect(program).toBe('kubectl');
  return commandLineToArgv(rest.join(' '));
}

describe('cmd quote: golden', () => {
  test('the table covers every value cmd accepts', () => {
    expect(GOLDEN.map(([value]) => value)).toEqual(RENDERABLE);
  });
  test.each(GOLDEN)('%j → %s', (value, expected) => {
    expect(quote(value)).toBe(expected);
  });
  test.each([...REFUSED, ...UNPASTEABLE_VALUES])('refuses %j', (value) => {
    expect(() => quote(value)).toThrow(UnsafeForShellError);
  });
  test('argv quoting doubles only backslashes that precede a quote', () => {
    expect(quoteWindowsArgv('a\\b c\\\\')).toBe('"a\\b c\\\\\\\\"');
    expect(quoteWindowsArgv('a\\"b')).toBe('"a\\\\\\"b"');
    expect(quoteWindowsArgv('')).toBe('""');
  });
  test(`refuses lines longer than ${CMD_MAX_LINE} characters`, () => {
    expect(() => renderArgv(['kubectl', 'x'.repeat(CMD_MAX_LINE)])).toThrow(UnsafeForShellError);
    expect(renderArgv(['kubectl', 'x'.repeat(CMD_MAX_LINE - 8)])).toHaveLength(CMD_MAX_LINE);
  });
});

describe('cmd quote: emulated interactive cmd.exe', () => {
  test('every hostile value reaches kubectl intact', () => {
    expect(emulateCmd(renderArgv(['kubectl', ...RENDERABLE]))).toEqual(RENDERABLE);
  });
  test.each(RENDERABLE)('%j alone', (value) => {
    expect(emulateCmd(renderArgv(['kubectl', value]))).toEqual([value]);
  });
  test('every kubectl command for a realistic spec reaches kubectl as its argv', () => {
    const spec = makeSpec({ username: "o'neil@example.com", clientSecret: "s3cr'et$(x)=;^!&|<>%PATH%" });
    for (const { argv } of kubectlCommands(spec)) {
      expect(emulateCmd(renderArgv(argv))).toEqual(argv.slice(1));
    }
  });
  test('the emulator catches naive renderings', () => {
    expect(() => emulateCmd('kubectl a & calc')).toThrow(/unescaped &/);
    expect(() => emulateCmd('kubectl "a" | more')).toThrow(/unescaped \|/);
    expect(emulateCmd('kubectl %PATH%')).toEqual(['C:\\Windows']);
    expect(emulateCmd('kubectl %a %b% c%')).toEqual(['%a', 'BBB', 'c%']);
    expect(emulateCmd('kubectl "C:\\dir\\" x')).toEqual(['C:\\dir" x']);
  });
});
