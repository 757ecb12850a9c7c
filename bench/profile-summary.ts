/**
 * Summarises a .cpuprofile (from bench/profile-page.ts): self time by
 * function and by package, and inclusive time of chosen functions.
 *
 *   tsx bench/profile-summary.ts FILE [--top 40] [--match REGEX] [--skip MS] [--window DIR/window.json]
 *
 * With --window (written by bench/profile-page.ts) only the measured requests count, and times are
 * printed in ms per request.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { originalPositionFor, TraceMap } from '@jridgewell/trace-mapping';

const { values: opt, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '40' }, match: { type: 'string' }, skip: { type: 'string', default: '0' }, window: { type: 'string' } } });
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
  hitCount?: number;
}
const prof = JSON.parse(fs.readFileSync(positionals[0]!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number };
const win = opt.window ? (JSON.parse(fs.readFileSync(opt.window, 'utf8')) as { from: number; to: number; count: number }) : undefined;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
// --skip MS: leave out the first MS of the profile (start-up, warm-up).
let clock = 0;
for (let i = 0; i < prof.samples.length; i++) {
  clock += prof.timeDeltas[i] ?? 0;
  if (clock < Number(opt.skip) * 1000) continue;
  if (win && (prof.startTime + clock < win.from || prof.startTime + clock > win.to)) continue;
  self.set(prof.samples[i]!, (self.get(prof.samples[i]!) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
// Frames in Turbopack's chunks and Next's bundled runtime (React's server renderers) are mapped back to their source file through the chunk's source map.
const maps = new Map<string, TraceMap | null>();
for (const n of prof.nodes) {
  const { url, lineNumber, columnNumber } = n.callFrame;
  if (!url.includes('/.next/server/') && !url.includes('/next/dist/compiled/next-server/')) continue;
  if (!maps.has(url)) {
    try {
      const file = fileURLToPath(url.startsWith('file:') ? url : 'file://' + url);
      maps.set(url, new TraceMap(fs.readFileSync(file + '.map', 'utf8')));
    } catch {
      maps.set(url, null);
    }
  }
  const map = maps.get(url);
  if (!map) continue;
  const pos = originalPositionFor(map, { line: lineNumber + 1, column: Math.max(0, columnNumber) });
  if (pos.source) n.callFrame = { ...n.callFrame, url: pos.source.replace(/^(\.\.\/)+/, '/').replace(/^.*?\/node_modules\//, 'node_modules/'), lineNumber: (pos.line ?? 1) - 1, functionName: n.callFrame.functionName || pos.name || '' };
}
const pkg = (url: string) => {
  // Next's own files by path (its code is minified: the file says more than the function).
  const nx = /node_modules\/next\/dist\/(.*)$/.exec(url);
  if (nx) return 'next/' + nx[1]!;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.includes('/.next/server/chunks/')) return '.next chunk ' + url.split('/').pop();
  if (url.startsWith('node:')) return url;
  return url ? url.replace(/^.*wt-pagespeed\//, '') : '(native/gc)';
};
const fnKey = (n: Node) => `${n.callFrame.functionName || '(anon)'} ${pkg(n.callFrame.url)}:${n.callFrame.lineNumber}`;
const agg = (key: (n: Node) => string) => {
  const m = new Map<string, number>();
  for (const [id, t] of self) {
    const k = key(byId.get(id)!);
    m.set(k, (m.get(k) ?? 0) + t);
  }
  return [...m].sort((a, b) => b[1] - a[1]);
};
const top = Number(opt.top);
const pct = (t: number) => (win ? (t / 1000 / win.count).toFixed(3).padStart(6) + ' ms' : ((100 * t) / total).toFixed(1).padStart(5) + '%');
const idle = [...self].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
console.log(`total ${(total / 1000).toFixed(0)} ms sampled, ${((total - idle) / 1000).toFixed(0)} ms busy (not idle)` + (win ? `: ${((total - idle) / 1000 / win.count).toFixed(2)} ms busy per request (${win.count})` : ''));
console.log('\nself by package:');
for (const [k, t] of agg((n) => pkg(n.callFrame.url)).slice(0, top)) console.log(`${pct(t)}  ${k}`);
console.log('\nself by function:');
for (const [k, t] of agg(fnKey).slice(0, top)) console.log(`${pct(t)}  ${k}`);
if (opt.match) {
  // inclusive time of frames matching: sum of self time of samples with a matching ancestor (counted once)
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // `file:REGEX`: inclusive time by source file instead of by function.
  const re = new RegExp(opt.match.replace(/^file:/, ''));
  const incl = new Map<string, number>();
  const byFile = opt.match.startsWith('file:');
  for (const [id, t] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      const k = byFile ? pkg(n.callFrame.url) : fnKey(n);
      if (re.test(k) && !seen.has(k)) {
        seen.add(k);
        incl.set(k, (incl.get(k) ?? 0) + t);
      }
    }
  }
  console.log(`\ninclusive, matching /${opt.match}/:`);
  for (const [k, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(t)}  ${k}`);
}
