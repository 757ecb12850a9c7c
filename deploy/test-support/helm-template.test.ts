import { describe, expect, it } from 'vitest';
import { mergeValues, renderTemplate, type ChartContext } from './helm-template';

const ctx = (values: Record<string, unknown>): ChartContext => ({
  Values: values,
  Release: { Name: 'rel', Namespace: 'ns' },
  Chart: { AppVersion: '1.0' },
});

describe('the Helm template subset used by the chart', () => {
  it('prints fields and trims whitespace as text/template does', () => {
    expect(renderTemplate('a: {{ .Values.x }}\nb: {{ .Release.Name }}', ctx({ x: 2 }))).toBe('a: 2\nb: rel');
    expect(renderTemplate('a:\n  {{- "x" }}\n  b {{- 1 -}} c', ctx({}))).toBe('a:x\n  b1c');
  });

  it('quote, toYaml (keys sorted, no final newline), indent and nindent', () => {
    expect(renderTemplate('{{ .Values.s | quote }}', ctx({ s: 'a "b"' }))).toBe('"a \\"b\\""');
    expect(renderTemplate('r:\n  {{- .Values.r | toYaml | nindent 2 }}\n', ctx({ r: { requests: { memory: '1Gi', cpu: 1 }, list: ['a'] } }))).toBe(
      'r:\n  list:\n  - a\n  requests:\n    cpu: 1\n    memory: 1Gi\n',
    );
    expect(renderTemplate('{{ .Values.t | indent 2 }}', ctx({ t: 'a\nb' }))).toBe('  a\n  b');
  });

  it('if / else with Go truthiness, and range with `.` as the item and `$` as the root', () => {
    const t = '{{- if .Values.on }}yes{{ else }}no{{ end }}';
    for (const [on, want] of [[true, 'yes'], [false, 'no'], [0, 'no'], ['', 'no'], [[], 'no'], [{}, 'no'], [undefined, 'no'], [[1], 'yes']] as const) {
      expect(renderTemplate(t, ctx({ on })), JSON.stringify(on)).toBe(want);
    }
    expect(renderTemplate('{{- range .Values.l }}\n- {{ .n }}@{{ $.Release.Name }}{{- end }}', ctx({ l: [{ n: 'a' }, { n: 'b' }] }))).toBe('\n- a@rel\n- b@rel');
  });

  it('refuses what it does not implement, so the chart stays plain', () => {
    for (const src of ['{{ include "x" . }}', '{{ with .Values.x }}{{ end }}', '{{ $x := 1 }}', '{{ .Values.x | upper }}', '{{ toYaml .Values.x }}', '{{ .Values.m }}', '{{ if .Values.x }}']) {
      expect(() => renderTemplate(src, ctx({ x: 1, m: { a: 1 } })), src).toThrow();
    }
  });

  it('merges values like -f/--set: maps merge, lists and scalars replace', () => {
    expect(mergeValues({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, e: 2 })).toEqual({ a: { b: 1, c: [3] }, d: 1, e: 2 });
  });
});
