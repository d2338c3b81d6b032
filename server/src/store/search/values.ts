/**
 * Value parsing for ordered types: the implicit range of a date or number search value
 * (search.html#number, #date, #prefix).
 */
import { invalid } from './errors.ts';

/** A date search value's implied range, half-open: `[low, next)`. */
export interface DateRange {
  low: Date;
  /** Start of the first instant after the range (exclusive end). */
  next: Date;
}

// R4 search dates: year, month, day, hh:mm, seconds, fraction, zone; a zone only after a time.
const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): Date {
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not.
  const t = new Date(0);
  t.setUTCFullYear(y, mo, d);
  t.setUTCHours(h, mi, s, ms);
  return t;
}

/**
 * The range a date search value stands for, from its precision: `2020` is the whole year, `2020-03-04T10:00`
 * the whole minute. Values without a zone are read as UTC (Haven's server time zone). Fractions finer
 * than a millisecond widen to the enclosing millisecond.
 */
export function parseDateRange(key: string, value: string): DateRange {
  const m = DATE.exec(value);
  const bad = () =>
    invalid(key, `Invalid date '${value}' in ${key}: expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]`);
  if (!m) throw bad();
  const [, ys, mos, ds, hs, mis, ss, frac, zone] = m;
  const y = Number(ys);
  const mo = mos === undefined ? 0 : Number(mos) - 1;
  const d = ds === undefined ? 1 : Number(ds);
  const h = hs === undefined ? 0 : Number(hs);
  const mi = mis === undefined ? 0 : Number(mis);
  const s = ss === undefined ? 0 : Number(ss);
  if (y < 1 || mo > 11 || d < 1 || h > 23 || mi > 59 || s > 59) throw bad();
  const ms = frac === undefined ? 0 : Number(frac.padEnd(3, '0').slice(0, 3));
  const low = utc(y, mo, d, h, mi, s, ms);
  if (low.getUTCDate() !== d || low.getUTCMonth() !== mo) throw bad(); // e.g. 2021-02-30
  const offsetMin = zone && zone !== 'Z' ? (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) : 0;
  if (zone && (Number(zone.slice(1, 3)) > 14 || Number(zone.slice(4, 6) || 0) > 59)) throw bad();
  low.setTime(low.getTime() - offsetMin * 60_000);
  const next = new Date(low);
  if (mos === undefined) next.setUTCFullYear(y + 1);
  else if (ds === undefined) next.setUTCMonth(mo + 1);
  else if (hs === undefined) next.setUTCDate(d + 1);
  else if (ss === undefined) next.setTime(low.getTime() + 60_000);
  else if (frac === undefined) next.setTime(low.getTime() + 1000);
  else next.setTime(low.getTime() + Math.max(1, 10 ** (3 - frac.length)));
  return { low, next };
}

/**
 * `ap` on dates: the range widened by 10% of the distance between now and the value on each side
 * (search.html#prefix recommends "10% of the gap between now and the date").
 */
export function approximateRange(range: DateRange, now: Date): DateRange {
  const margin = Math.abs(now.getTime() - range.low.getTime()) / 10;
  return { low: new Date(range.low.getTime() - margin), next: new Date(range.next.getTime() + margin) };
}

/** A number search value: the value as written (bound as numeric) and half a unit of its last digit. */
export interface NumberValue {
  value: string;
  /** Half-width of the implicit range, as a numeric literal string (e.g. `5e-1` for `100`). */
  half: string;
}

const NUMBER = /^[+-]?(\d+)?(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * Parses a decimal search value with its implicit precision (search.html#number): `100` matches
 * [99.5, 100.5), `100.00` matches [99.995, 100.005), `1e2` matches [50, 150): half a unit of the last
 * written digit, scaled by the exponent. (The spec's own `1e2` example quotes a narrower range than its
 * "one significant figure" wording gives; Haven follows the rule.)
 */
export function parseNumber(key: string, value: string): NumberValue {
  const m = NUMBER.exec(value);
  if (!m || (m[1] === undefined && !m[2])) {
    throw invalid(key, `Invalid number '${value}' in ${key}`);
  }
  const decimals = m[2]?.length ?? 0;
  const exponent = m[3] === undefined ? 0 : Number(m[3]);
  return { value, half: `5e${exponent - decimals - 1}` };
}
