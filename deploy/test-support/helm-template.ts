/**
 * Renders the Helm chart's templates without helm (neither Debian nor the
 * npm registry carries it here): the small part of Go's text/template and
 * Helm's functions the chart uses, and nothing more. Anything else throws,
 * so a template cannot drift into a construct this renderer would get
 * wrong; keep the chart plain instead of growing this file.
 *
 * Supported: `{{ pipeline }}`, `{{- ... -}}` whitespace trimming,
 * `{{/* comment *\/}}`, `if` / `else` / `end`, `range` over a list (`.` is
 * the item, `$` the root), field paths (`.Values.a.b`, `.name`, `$.Values.x`),
 * string and number literals, and the functions quote, toYaml, indent,
 * nindent. Semantics follow text/template (truthiness: false, 0, nil and
 * empty are false) and Helm (`toYaml` drops the final newline).
 */
import yaml from 'js-yaml';

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'output'; pipeline: string }
  | { kind: 'if'; pipeline: string; then: Node[]; else: Node[] }
  | { kind: 'range'; pipeline: string; body: Node[] };

interface Token {
  kind: 'text' | 'action';
  text: string;
}

/** Splits into text and actions, applying `{{-` / `-}}` trimming to the neighbouring text. */
function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  let trimNext = false;
  while (pos < src.length) {
    const open = src.indexOf('{{', pos);
    let text = open === -1 ? src.slice(pos) : src.slice(pos, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open === -1) {
      if (text) tokens.push({ kind: 'text', text });
      break;
    }
    const close = src.indexOf('}}', open);
    if (close === -1) throw new Error(`unclosed action at offset ${open}`);
    let inner = src.slice(open + 2, close);
    const trimLeft = inner.startsWith('- ') || inner === '-';
    const trimRight = inner.endsWith(' -');
    if (trimLeft) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    if (trimRight) inner = inner.slice(0, -1);
    if (text) tokens.push({ kind: 'text', text });
    tokens.push({ kind: 'action', text: inner.trim() });
    trimNext = trimRight;
    pos = close + 2;
  }
  return tokens;
}

function parse(tokens: Token[]): Node[] {
  let i = 0;
  const block = (terminators: string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const t = tokens[i++]!;
      if (t.kind === 'text') {
        nodes.push({ kind: 'text', text: t.text });
        continue;
      }
      const a = t.text;
      if (a.startsWith('/*')) {
        if (!a.endsWith('*/')) throw new Error(`bad comment {{${a}}}`);
        continue;
      }
      if (terminators.includes(a)) return { nodes, end: a };
      const [word] = a.split(/\s+/, 1);
      if (word === 'if') {
        const then = block(['else', 'end']);
        const otherwise = then.end === 'else' ? block(['end']).nodes : [];
        nodes.push({ kind: 'if', pipeline: a.slice(2).trim(), then: then.nodes, else: otherwise });
      } else if (word === 'range') {
        const body = block(['end']);
        nodes.push({ kind: 'range', pipeline: a.slice(5).trim(), body: body.nodes });
      } else if (['else', 'end', 'with', 'define', 'template', 'include', 'block'].includes(word!) || /^\$\w*\s*:?=/.test(a)) {
        throw new Error(`unsupported template action {{ ${a} }}: keep the chart's templates plain`);
      } else {
        nodes.push({ kind: 'output', pipeline: a });
      }
    }
    if (terminators.length > 0) throw new Error(`missing {{ ${terminators.join(' / ')} }}`);
    return { nodes, end: '' };
  };
  return block([]).nodes;
}

interface Scope {
  dot: unknown;
  root: unknown;
}

function lookup(path: string, scope: Scope): unknown {
  let base: unknown;
  let rest: string;
  if (path === '.') return scope.dot;
  if (path.startsWith('$.')) {
    base = scope.root;
    rest = path.slice(2);
  } else if (path === '$') {
    return scope.root;
  } else if (path.startsWith('.')) {
    base = scope.dot;
    rest = path.slice(1);
  } else throw new Error(`unsupported term ${path}`);
  for (const key of rest.split('.')) {
    if (base === null || base === undefined) return undefined;
    if (typeof base !== 'object') throw new Error(`cannot read .${key} of a ${typeof base} in ${path}`);
    base = (base as Record<string, unknown>)[key];
  }
  return base;
}

function literal(term: string, scope: Scope): unknown {
  if (/^"(?:[^"\\]|\\.)*"$/.test(term)) return JSON.parse(term);
  if (/^-?\d+$/.test(term)) return Number(term);
  return lookup(term, scope);
}

/** Go's fmt %v for the values a chart prints: scalars only. */
function print(value: unknown): string {
  if (value === undefined || value === null) return '<no value>';
  if (typeof value === 'object') throw new Error('printing a map or list directly; use toYaml');
  return String(value);
}

const indentLines = (text: string, n: number) =>
  text
    .split('\n')
    .map((line) => ' '.repeat(n) + line)
    .join('\n');

function evaluate(pipeline: string, scope: Scope): unknown {
  const stages = pipeline.split('|').map((s) => s.trim());
  const first = stages[0]!.split(/\s+/);
  if (first.length !== 1) throw new Error(`unsupported function call "${stages[0]}": only pipelines such as \`.Values.x | quote\``);
  let value = literal(first[0]!, scope);
  for (const stage of stages.slice(1)) {
    const [fn, ...args] = stage.split(/\s+/);
    const num = () => {
      const n = Number(args[0]);
      if (args.length !== 1 || !Number.isInteger(n)) throw new Error(`${fn} needs one number`);
      return n;
    };
    switch (fn) {
      case 'quote':
        value = JSON.stringify(value === undefined || value === null ? '' : print(value));
        break;
      case 'toYaml':
        value = value === undefined || value === null ? 'null' : yaml.dump(value, { sortKeys: true, noArrayIndent: true, lineWidth: -1 }).replace(/\n$/, '');
        break;
      case 'indent':
        value = indentLines(print(value), num());
        break;
      case 'nindent':
        value = '\n' + indentLines(print(value), num());
        break;
      default:
        throw new Error(`unsupported function ${fn}`);
    }
  }
  return value;
}

/** text/template's truth: false, 0, nil, and empty strings, lists and maps are false. */
function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

function run(nodes: Node[], scope: Scope): string {
  let out = '';
  for (const node of nodes) {
    if (node.kind === 'text') out += node.text;
    else if (node.kind === 'output') out += print(evaluate(node.pipeline, scope));
    else if (node.kind === 'if') out += run(truthy(evaluate(node.pipeline, scope)) ? node.then : node.else, scope);
    else {
      const list = evaluate(node.pipeline, scope);
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) throw new Error(`range over a non-list in {{ range ${node.pipeline} }}`);
      for (const item of list) out += run(node.body, { dot: item, root: scope.root });
    }
  }
  return out;
}

export interface ChartContext {
  Values: Record<string, unknown>;
  Release: { Name: string; Namespace: string };
  Chart: Record<string, unknown>;
}

/** Renders one template file's text. */
export function renderTemplate(src: string, ctx: ChartContext): string {
  return run(parse(tokenize(src)), { dot: ctx, root: ctx });
}

/** Deep merge as Helm merges `--set`/`-f` values over values.yaml: maps merge, everything else replaces. */
export function mergeValues(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    const isMap = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
    out[k] = isMap(b) && isMap(v) ? mergeValues(b, v) : v;
  }
  return out;
}
