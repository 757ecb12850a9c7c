/**
 * The console's filters, read from the query string at the boundary: an
 * unusable value is dropped with a message naming the field, and the other
 * filters still apply.
 */
import { z } from 'zod';

export type SearchParams = Record<string, string | string[] | undefined>;

/** One value per field: a repeated parameter counts as its first value. */
export function firstValues(params: SearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined && first.trim() !== '') out[k] = first.trim();
  }
  return out;
}

export interface Parsed<T> {
  filters: T;
  /** "field: what is wrong", one per unusable field. */
  errors: string[];
}

/** Parses each field on its own, so one bad field does not cost the others. */
export function parseFields<S extends Record<string, z.ZodType>>(
  shape: S,
  params: SearchParams,
): Parsed<{ [K in keyof S]?: z.infer<S[K]> }> {
  const raw = firstValues(params);
  const filters: Record<string, unknown> = {};
  const errors: string[] = [];
  for (const [key, schema] of Object.entries(shape)) {
    if (raw[key] === undefined) continue;
    const r = schema.safeParse(raw[key]);
    if (r.success) filters[key] = r.data;
    else errors.push(`${key}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  }
  return { filters: filters as { [K in keyof S]?: z.infer<S[K]> }, errors };
}

export const text = z.string().max(200, 'at most 200 characters');
/** A time as the browser's datetime-local sends it (read as UTC) or an ISO 8601 time; epoch ms out. */
export const time = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/, 'must be a date (2026-01-31) or time (2026-01-31T09:30, UTC)')
  .transform((v, ctx) => {
    const ms = Date.parse(/T.*(Z|[+-]\d{2}:\d{2})$/.test(v) ? v : v.includes('T') ? `${v}Z` : `${v}T00:00Z`);
    // Date.parse rolls 2026-02-30 over to March; a filter must not quietly mean another day.
    const [y, m, d] = v.slice(0, 10).split('-').map(Number) as [number, number, number];
    const day = new Date(Date.UTC(y, m - 1, d));
    if (Number.isNaN(ms) || day.getUTCMonth() !== m - 1 || day.getUTCDate() !== d) {
      ctx.addIssue({ code: 'custom', message: 'is not a valid date' });
      return z.NEVER;
    }
    return ms;
  });

/** Builds a console URL with these filters (empty ones left out). */
export function consoleHref(path: string, params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
