/**
 * Reads the Dockerfile's runtime stage and rebuilds its file system in a temp
 * directory, without a container engine: the image-layout test runs Kubegate
 * from exactly what the image would carry.
 *
 * The build stage is this checkout after `npm run build` (its WORKDIR is
 * /app, so `COPY --from=build /app/X` takes X from here); a COPY without
 * --from takes from the build context, which is also this checkout. A source
 * that is missing throws: a Dockerfile that copies something the build does
 * not make would fail `docker build` the same way.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface Instruction {
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  args: string;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions per stage, with `\` continuations joined and comments dropped. */
export function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line)) continue; // also inside a continuation, as Docker reads it
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const whole = (pending + line).trim();
    pending = '';
    if (whole) logical.push(whole);
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    const keyword = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (keyword === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!f) throw new Error(`cannot read FROM ${rest}`);
      stages.push({ from: f[1]!, name: f[2], instructions: [] });
    } else if (!stages.length) {
      if (keyword === 'ARG') {
        const [k, ...v] = rest.split('=');
        args.set(k!.trim(), v.join('=').trim());
      }
    } else {
      stages.at(-1)!.instructions.push({ keyword, args: rest });
    }
  }
  return { args, stages };
}

/** `a b "c d"` or `["a", "b"]`. */
export function words(args: string): string[] {
  const t = args.trim();
  if (t.startsWith('[')) return JSON.parse(t) as string[];
  return t.match(/"[^"]*"|\S+/g)?.map((w) => w.replace(/^"(.*)"$/, '$1')) ?? [];
}

/** KEY=value pairs of ENV/LABEL (quoted values allowed). */
export function pairs(args: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of args.matchAll(/([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) out.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
  return out;
}

export interface RuntimeStage {
  stage: Stage;
  workdir: string;
  env: Map<string, string>;
  labels: Map<string, string>;
  user?: string;
  cmd?: string[];
  healthcheck?: string[];
  copies: Array<{ from?: string; sources: string[]; dest: string; line: string }>;
  /** The image's FROM, ARGs substituted. */
  base: string;
}

/** The last stage: what the image is. */
export function runtimeStage(text: string): RuntimeStage {
  const { args, stages } = parseDockerfile(text);
  const stage = stages.at(-1);
  if (!stage) throw new Error('the Dockerfile has no FROM');
  const base = stage.from.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => args.get(a ?? b) ?? '');
  const out: RuntimeStage = { stage, workdir: '/', env: new Map(), labels: new Map(), copies: [], base };
  for (const ins of stage.instructions) {
    switch (ins.keyword) {
      case 'WORKDIR':
        out.workdir = path.posix.resolve(out.workdir, ins.args.trim());
        break;
      case 'ENV':
        for (const [k, v] of pairs(ins.args)) out.env.set(k, v);
        break;
      case 'LABEL':
        for (const [k, v] of pairs(ins.args)) out.labels.set(k, v);
        break;
      case 'USER':
        out.user = ins.args.trim();
        break;
      case 'CMD':
        out.cmd = words(ins.args);
        break;
      case 'HEALTHCHECK': {
        const m = /\bCMD\s+(.*)$/.exec(ins.args);
        out.healthcheck = m ? words(m[1]!) : undefined;
        break;
      }
      case 'COPY':
      case 'ADD': {
        if (ins.keyword === 'ADD') throw new Error(`ADD ${ins.args}: the layout test knows COPY only`);
        const w = words(ins.args);
        let from: string | undefined;
        while (w[0]?.startsWith('--')) {
          const flag = w.shift()!;
          if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
          else if (!/^--(chown|chmod|link)(=|$)/.test(flag)) throw new Error(`COPY ${flag}: not understood by the layout test`);
        }
        const dest = w.pop();
        if (!dest || !w.length) throw new Error(`COPY ${ins.args}: needs a source and a destination`);
        out.copies.push({ from, sources: w, dest: path.posix.resolve(out.workdir, dest) + (dest.endsWith('/') ? '/' : ''), line: `COPY ${ins.args}` });
        break;
      }
    }
  }
  return out;
}

/**
 * Copies what the runtime stage's COPY lines copy, from `projectDir` into
 * `rootDir` (which stands for the image's `/`). Docker's rules: a directory
 * source copies its contents; a file goes to `dest`, or into it when `dest`
 * ends with `/` or there are several sources. Returns the file count.
 */
export function reproduceLayout(rt: RuntimeStage, projectDir: string, rootDir: string, buildWorkdir = '/app'): number {
  let files = 0;
  for (const copy of rt.copies) {
    for (const source of copy.sources) {
      let local: string;
      if (copy.from) {
        const inStage = path.posix.resolve(buildWorkdir, source);
        if (inStage !== buildWorkdir && !inStage.startsWith(buildWorkdir + '/')) {
          throw new Error(`${copy.line}: ${source} is outside the build stage's ${buildWorkdir}, which the test maps to the checkout`);
        }
        local = path.join(projectDir, path.posix.relative(buildWorkdir, inStage));
      } else {
        local = path.join(projectDir, source);
      }
      if (!fs.existsSync(local)) throw new Error(`${copy.line}: ${source} does not exist after the build (looked at ${local})`);
      const destInRoot = path.join(rootDir, copy.dest);
      if (fs.statSync(local).isDirectory()) {
        fs.mkdirSync(destInRoot, { recursive: true });
        fs.cpSync(local, destInRoot, { recursive: true, verbatimSymlinks: true });
        files += countFiles(local);
      } else {
        const into = copy.dest.endsWith('/') || copy.sources.length > 1;
        const target = into ? path.join(destInRoot, path.basename(local)) : destInRoot;
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.copyFileSync(local, target);
        files += 1;
      }
    }
  }
  return files;
}

function countFiles(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? countFiles(path.join(dir, e.name)) : 1;
  return n;
}
