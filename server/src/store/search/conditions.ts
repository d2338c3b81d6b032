/**
 * Column-level match conditions for one search value, shared by plain, composite and `resources`-column
 * parameters. Each returns SQL over the given column expressions with every value bound.
 */
import { normalizeString } from '../index-rows.ts';
import type { SqlParams } from '../sql.ts';
import { invalid } from './errors.ts';
import { splitEscaped, splitPrefix, unescapeValue } from './params.ts';
import type { Prefix } from './params.ts';
import { approximateRange, parseDateRange, parseNumber } from './values.ts';
import type { DateRange, NumberValue } from './values.ts';

/** Escapes LIKE wildcards so that user text only ever matches literally (backslash is Postgres' default escape). */
export function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, '\\$&');
}

/** String match (search.html#string): starts-with on the normalised column, or contains. */
export function stringCond(p: SqlParams, normCol: string, value: string, contains: boolean): string {
  const needle = likeEscape(normalizeString(value));
  return `${normCol} LIKE ${p.add(contains ? `%${needle}%` : `${needle}%`)}`;
}

/**
 * Token match (search.html#token): `code` (any system), `system|code`, `|code` (no system), `system|` (any code).
 * @param value - one OR-part, still escaped.
 */
export function tokenCond(p: SqlParams, systemCol: string, valueCol: string, value: string, key: string): string {
  const parts = splitEscaped(value, '|', 2);
  if (parts.length === 1) return `${valueCol} = ${p.add(unescapeValue(value))}`;
  const system = unescapeValue(parts[0]);
  const code = unescapeValue(parts[1]);
  if (system === '' && code === '') throw invalid(key, `Invalid token '|' in ${key}: give a system, a code or both`);
  const conds: string[] = [];
  conds.push(system === '' ? `${systemCol} IS NULL` : `${systemCol} = ${p.add(system)}`);
  if (code !== '') conds.push(`${valueCol} = ${p.add(code)}`);
  return conds.join(' AND ');
}

/** `:text` on tokens: the lower-cased display or text starts with the value, or one of its words does. */
export function tokenTextCond(p: SqlParams, displayCol: string, value: string): string {
  const needle = likeEscape(unescapeValue(value).toLowerCase());
  return `(${displayCol} LIKE ${p.add(`${needle}%`)} OR ${displayCol} LIKE ${p.add(`% ${needle}%`)})`;
}

/**
 * Date range match (search.html#prefix, with the range semantics of search.html#date). The stored value
 * is the inclusive range [low, high]; the search value is [q, next). Comparing highs against the exclusive
 * `next` keeps the result independent of how finely the indexer rounds inclusive ends (.999 or .999999).
 */
export function dateCond(p: SqlParams, lowCol: string, highCol: string, prefix: Prefix, range: DateRange, now: Date): string {
  const r = prefix === 'ap' ? approximateRange(range, now) : range;
  // Bound on first use: Postgres refuses a placeholder that the statement never references.
  let qp: string | undefined;
  let np: string | undefined;
  const q = () => (qp ??= `${p.add(r.low.toISOString())}::timestamptz`);
  const next = () => (np ??= `${p.add(r.next.toISOString())}::timestamptz`);
  const within = () => `${lowCol} >= ${q()} AND ${highCol} < ${next()}`;
  switch (prefix) {
    case 'eq':
      return within(); // the search range fully contains the stored range
    case 'ne':
      return `NOT (${within()})`;
    case 'gt':
      return `${highCol} >= ${next()}`; // the stored range reaches past the search range
    case 'lt':
      return `${lowCol} < ${q()}`;
    case 'ge':
      return `(${highCol} >= ${next()} OR (${within()}))`;
    case 'le':
      return `(${lowCol} < ${q()} OR (${within()}))`;
    case 'sa':
      return `${lowCol} >= ${next()}`; // starts after the search range ends
    case 'eb':
      return `${highCol} < ${q()}`; // ends before the search range starts
    case 'ap':
      return `${lowCol} < ${next()} AND ${highCol} >= ${q()}`; // overlaps the widened range
    default:
      return prefix satisfies never;
  }
}

/** A date value with its prefix, parsed. */
export function parseDateValue(key: string, value: string): { prefix: Prefix; range: DateRange } {
  const { prefix, rest } = splitPrefix(key, unescapeValue(value), 'date');
  return { prefix, range: parseDateRange(key, rest) };
}

/**
 * Number match (search.html#number): `eq`/`ne` use the implicit precision range of the written value; the
 * ordering prefixes compare with the exact value; `sa`/`eb` equal `gt`/`lt` for a point value; `ap` is ±10%.
 */
export function numberCond(p: SqlParams, col: string, prefix: Prefix, num: NumberValue): string {
  const v = `${p.add(num.value)}::numeric`;
  let hp: string | undefined;
  const half = () => (hp ??= `${p.add(num.half)}::numeric`);
  const lo = () => `(${v} - ${half()})`;
  const hi = () => `(${v} + ${half()})`;
  switch (prefix) {
    case 'eq':
      return `${col} >= ${lo()} AND ${col} < ${hi()}`;
    case 'ne':
      return `(${col} < ${lo()} OR ${col} >= ${hi()})`;
    case 'gt':
    case 'sa':
      return `${col} > ${v}`;
    case 'lt':
    case 'eb':
      return `${col} < ${v}`;
    case 'ge':
      return `${col} >= ${v}`;
    case 'le':
      return `${col} <= ${v}`;
    case 'ap':
      return `${col} BETWEEN ${v} - abs(${v}) * 0.1 AND ${v} + abs(${v}) * 0.1`;
    default:
      return prefix satisfies never;
  }
}

/** A number value with its prefix, parsed. */
export function parseNumberValue(key: string, value: string): { prefix: Prefix; num: NumberValue } {
  const { prefix, rest } = splitPrefix(key, unescapeValue(value), 'number');
  return { prefix, num: parseNumber(key, rest) };
}

/** Columns of a stored quantity; `unit` is absent for composite second components. */
export interface QuantityCols {
  value: string;
  system: string;
  code: string;
  unit?: string;
}

/**
 * Quantity match (search.html#quantity): `[prefix]number`, `[prefix]number|system|code`, `[prefix]number||code`
 * (code matches Quantity.code or Quantity.unit). Units are compared as written: no UCUM conversion.
 */
export function quantityCond(p: SqlParams, cols: QuantityCols, value: string, key: string): string {
  const parts = splitEscaped(value, '|', 3);
  if (parts.length === 2) throw invalid(key, `Invalid quantity '${value}' in ${key}: expected number, number|system|code or number||code`);
  const { prefix, rest } = splitPrefix(key, unescapeValue(parts[0]), 'quantity');
  const conds = [numberCond(p, cols.value, prefix, parseNumber(key, rest))];
  if (parts.length === 3) {
    const system = unescapeValue(parts[1]);
    const code = unescapeValue(parts[2]);
    if (system !== '') conds.push(`${cols.system} = ${p.add(system)}`);
    if (code !== '') {
      const c = p.add(code);
      conds.push(system === '' && cols.unit ? `(${cols.code} = ${c} OR ${cols.unit} = ${c})` : `${cols.code} = ${c}`);
    }
  }
  return conds.join(' AND ');
}

/** Strips a canonical `|version`: the index keeps canonical URLs without it (see index-rows.ts UriRow). */
export function withoutVersion(url: string): string {
  const bar = url.indexOf('|');
  return bar < 0 ? url : url.slice(0, bar);
}

/**
 * URI match (search.html#uri): exact (a canonical `url|version` is compared as written, which the indexer
 * also stores for versioned canonicals), `:below` (the value or anything under it as a path), `:above`
 * (the value or any of its parent paths); the hierarchy modifiers ignore a `|version`.
 */
export function uriCond(p: SqlParams, col: string, value: string, modifier: 'below' | 'above' | undefined): string {
  if (modifier === undefined) return `${col} = ${p.add(unescapeValue(value))}`;
  const url = withoutVersion(unescapeValue(value));
  if (modifier === 'below') {
    const base = url.endsWith('/') ? url.slice(0, -1) : url;
    return `(${col} = ${p.add(url)} OR ${col} LIKE ${p.add(`${likeEscape(base)}/%`)})`;
  }
  const parents = [url];
  const root = url.indexOf('://') >= 0 ? url.indexOf('://') + 3 : 0;
  for (let cur = url, i = cur.lastIndexOf('/'); i > root; i = cur.lastIndexOf('/')) {
    cur = cur.slice(0, i);
    parents.push(cur);
  }
  return `${col} = ANY(${p.add(parents)}::text[])`;
}
