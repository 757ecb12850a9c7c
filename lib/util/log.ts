/**
 * Structured JSON-lines logging on pino. Any field whose name looks like it
 * could hold a credential is replaced before pino sees the line (nested
 * objects, arrays and error objects too), and a last pass over each line
 * replaces anything shaped like one of Kubegate's tokens or a JWT wherever
 * it sits (an error message, a stack): tokens never reach a log, even by
 * mistake.
 *
 * Lines go to stdout through one pino destination (`stdoutSink()`), shared
 * with the audit lines (lib/store/audit-stdout.ts) so the two never
 * interleave inside a line. Lines logged in one turn of the
 * event loop are handed to it together, at the end of that turn, in the
 * order they were logged, after one pass of the token scrubber over them
 * all (a refresh under load logs two lines: its access and audit lines);
 * `flushLogs()` writes what is pending or buffered before the process exits
 * (also done on `exit`).
 *
 * A line whose fields are all flat (strings, numbers, booleans, null: an
 * access line) is serialized here with one JSON.stringify; anything nested
 * goes through pino. Both give `{"level","msg","time",...fields}`.
 */
import type { EventEmitter } from 'node:events';
import { format } from 'node:util';
import pino, { type DestinationStream } from 'pino';

export type Level = 'debug' | 'info' | 'warn' | 'error';
export const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const SECRET_KEY = /token|secret|password|authorization|cookie|private|jwk|credential/i;
const REDACTED = '[redacted]';
const MAX_DEPTH = 8;

/**
 * Values shaped like a credential, wherever they are in a line: Kubegate's
 * refresh tokens, authorization and device codes (`kgr_`, `kgc_`, `kgd_`)
 * and JWTs (a header that starts `{"`, so `eyJ`, and two more segments).
 */
const TOKEN_SHAPE = /kg[rcd]_[A-Za-z0-9_-]{16,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;

/** `line` with every token-shaped substring replaced. */
export function scrubTokens(line: string): string {
  return line.replace(TOKEN_SHAPE, REDACTED);
}

/** Field names repeat from line to line: their verdict is remembered (a bounded number of them). */
const verdicts = new Map<string, boolean>();
function secretKey(k: string): boolean {
  let v = verdicts.get(k);
  if (v === undefined) {
    v = SECRET_KEY.test(k);
    if (verdicts.size < 4096) verdicts.set(k, v);
  }
  return v;
}

export function redact(fields: Record<string, unknown>, depth = 0): Record<string, unknown> {
  return redactInto({}, fields, depth);
}

function redactInto(out: Record<string, unknown>, fields: Record<string, unknown>, depth: number): Record<string, unknown> {
  for (const k in fields) {
    if (!Object.prototype.hasOwnProperty.call(fields, k)) continue;
    const v = fields[k];
    if (v === undefined) continue;
    out[k] = secretKey(k) ? REDACTED : v === null || typeof v !== 'object' ? v : redactNested(v, depth + 1);
  }
  return out;
}

/**
 * Like redactInto for a line's top-level fields; false (and `out` partly
 * filled) when a value is an object, an array, a bigint or a function, or a
 * number that is not finite: such a line is left to pino, which has its own
 * rules for them.
 */
function redactFlatInto(out: Record<string, unknown>, fields: Record<string, unknown>): boolean {
  for (const k in fields) {
    if (!Object.prototype.hasOwnProperty.call(fields, k)) continue;
    const v = fields[k];
    if (v === undefined) continue;
    if (secretKey(k)) {
      out[k] = REDACTED;
      continue;
    }
    const t = typeof v;
    if (!(t === 'string' || t === 'boolean' || v === null || (t === 'number' && Number.isFinite(v)))) return false;
    out[k] = v;
  }
  return true;
}

/**
 * Nested plain objects and arrays too (`{ headers: { authorization } }` must
 * not slip through), and errors: their name, message, stack, cause and own
 * fields (an HTTP client's error may carry the request it made).
 */
function redactNested(v: unknown, depth: number): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (depth > MAX_DEPTH) return '[too deep]';
  if (Array.isArray(v)) return v.map((item) => redactNested(item, depth + 1));
  if (v instanceof Error) return redactError(v, depth);
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return v;
  return redact(v as Record<string, unknown>, depth);
}

function redactError(err: Error, depth: number): Record<string, unknown> {
  const own: Record<string, unknown> = {};
  for (const k of Object.keys(err)) own[k] = (err as unknown as Record<string, unknown>)[k];
  return {
    type: err.name,
    message: err.message,
    stack: err.stack,
    ...redact(own, depth),
    ...(err.cause === undefined ? {} : { cause: redactNested(err.cause, depth + 1) }),
  };
}

/** sonic-boom: an EventEmitter ('error' when stdout's reader is gone: lib/util/output-streams.ts). */
type StdoutSink = DestinationStream & EventEmitter & { flushSync?: () => void };

let sink: StdoutSink | undefined;

/**
 * The process's stdout destination, made on first use: sonic-boom writing
 * synchronously, in order, each line whole (retrying while a non-blocking
 * stdout is full). It is handed a whole turn's lines at once (below), so a
 * refresh under load costs a share of one write(2) at the end of its turn,
 * as console.log costs on Linux pipes and files; an asynchronous
 * destination cost a thread-pool round trip per write, a wake-up of another
 * thread on a busy core, and at exit could write buffered lines before the
 * one still in flight.
 */
export function stdoutSink(): StdoutSink {
  sink ??= pino.destination({ dest: 1, sync: true });
  return sink;
}

/** Lines logged in this turn of the event loop, each ending in a newline, not yet scrubbed or handed to the sink. */
let pending = '';
let flushScheduled = false;
let exitHooked = false;

/** Hands this turn's lines to the sink, scrubbed in one pass (a token shape never spans a newline). */
function flushPending(): void {
  flushScheduled = false;
  if (pending === '') return;
  const text = pending;
  pending = '';
  stdoutSink().write(scrubTokens(text));
}

/**
 * One whole line (newline-terminated) for stdout, written at the end of
 * this turn of the event loop together with the turn's other lines.
 */
function queueStdout(line: string): void {
  pending += line;
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flushPending);
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', flushLogs);
  }
}

/** One whole line onto stdout, through the log destination (the audit trail's lines); token shapes are scrubbed. */
export function writeStdoutLine(line: string): void {
  queueStdout(line + '\n');
}

/** Writes whatever is pending or buffered for stdout now (graceful shutdown, before exit). */
export function flushLogs(): void {
  try {
    flushPending();
    sink?.flushSync?.();
  } catch {
    // stdout gone (EPIPE): nothing more can be written anyway.
  }
}

/** LOG_LEVEL's value, or undefined when it is none of debug, info, warn, error. Unset or empty: info. */
export function parseLevel(raw: string | undefined): Level | undefined {
  if (raw === undefined || raw.trim() === '') return 'info';
  const v = raw.trim().toLowerCase();
  return (LEVELS as readonly string[]).includes(v) ? (v as Level) : undefined;
}

export interface LoggerOptions {
  level?: Level;
  /** Where lines go (one call per line, no newline); default: stdout through `stdoutSink()`. */
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const write = opts.write;
  // `write` (tests, tools) gets each line scrubbed, without its newline; stdout gets the turn's lines scrubbed together.
  const emit: (line: string) => void = write ? (s) => write(scrubTokens(s.endsWith('\n') ? s.slice(0, -1) : s)) : queueStdout;
  const destination: DestinationStream = { write: emit };
  const p = pino(
    {
      level: opts.level ?? 'info',
      base: undefined,
      // The time is written after the message (below), so a line reads `{"level","msg","time",...}` as before pino.
      timestamp: false,
      formatters: {
        level: (label) => ({ level: label }),
      },
    },
    destination,
  );
  const at = (level: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (!p.isLevelEnabled(level)) return;
    // Redacted here, into the object written: one copy of the fields.
    const line: Record<string, unknown> = { level, msg, time: new Date().toISOString() };
    if (!fields || redactFlatInto(line, fields)) {
      emit(JSON.stringify(line) + '\n');
      return;
    }
    p[level](redactInto({ msg, time: line.time }, fields, 0));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

// eslint-disable-next-line no-control-regex -- the ESC of terminal colour codes is what is removed
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

/**
 * In production, stdout carries JSON lines only: what libraries print with
 * console.log / console.info (Next.js's start-up notes) becomes an `info`
 * line, colour codes removed. console.warn and console.error stay on stderr.
 */
export function routeConsoleToLog(log: Logger): void {
  const line = (args: unknown[]) => format(...args).replace(ANSI, '').trim();
  /* eslint-disable no-console -- replacing them is the point */
  console.log = (...args: unknown[]) => log.info(line(args), { source: 'console' });
  console.info = console.log;
  /* eslint-enable no-console */
}
